"""`python -m bench`: the benchmark of the serving stack.

One run on one machine measures the in-process onnxruntime ceiling, the HTTP ceiling, the
service under closed-loop load and two baselines (Keras `model.predict` and the textbook
FastAPI + pydantic + `session.run` app), then writes JSON, a Markdown table and PNG charts.
"""
