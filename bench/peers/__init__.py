"""`python -m bench --peers`: the same ONNX files served by other serving systems (PyTriton,
MLServer, LitServe, BentoML, Ray Serve), each from its own virtualenv with its own dynamic
batching, loaded like the service by wrk's closed loop.

The app modules (`<system>_app.py`, `model.py`) run inside those virtualenvs; `systems.py`,
`venvs.py`, `check.py` and `run.py` run in the repo's environment.
"""
