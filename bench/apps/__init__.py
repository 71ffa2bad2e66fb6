"""The apps the service is compared with, each served by uvicorn exactly like the service.

- `ceiling`: a bare ASGI app that parses the JSON body and returns a fixed answer (HTTP ceiling);
- `textbook`: FastAPI + a pydantic body model + a plain `session.run` per request;
- `keras_app`: FastAPI + pydantic + Keras `model.predict` per request.

They read their settings from environment variables (see `bench.apps.common`).
"""
