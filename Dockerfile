# The API image: FastAPI + onnxruntime, the service package and the bundled models.
# No TensorFlow, no compilers, runs as a non-root user, configured by RNN_SERVE_* variables.
#
#   docker build -t rnn-serving-api .
#   docker run --rm -p 8000:8000 rnn-serving-api
#
# BASE_IMAGE can point at any Debian-like Python 3.11 image (python3 + venv + pip).
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: a virtual environment with the pinned `serve` dependencies --------------------
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python3 -m venv /opt/venv

# Dependencies only, from the pinned constraints: a stub of the project (pyproject.toml and
# empty packages) resolves the `serve` extra, so this layer is rebuilt only when the
# dependencies change, not when the code does. The project itself is not installed: the
# runtime stage copies the service package as source.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN mkdir contract service training \
    && touch README.md contract/__init__.py service/__init__.py training/__init__.py \
    && /opt/venv/bin/pip install -c requirements/constraints.txt ".[serve]" \
    && /opt/venv/bin/pip uninstall -y rnn-serving \
    && /opt/venv/bin/python -c "import importlib.util as u; assert u.find_spec('tensorflow') is None" \
    && find /opt/venv -depth -name __pycache__ -type d -exec rm -rf {} +

# The code and the bundled models, readable by the runtime's non-root user whatever the modes
# in the build context were (an exporter's private temporary directory, a strict umask).
COPY contract/ /stage/contract/
COPY service/ /stage/service/
COPY models/ /stage/models/
RUN find /stage -name __pycache__ -type d -prune -exec rm -rf {} + \
    && chmod -R u=rwX,go=rX /stage

# ---- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    RNN_SERVE_HOST=0.0.0.0 \
    RNN_SERVE_PORT=8000 \
    RNN_SERVE_GRPC_PORT=8001 \
    RNN_SERVE_MODELS_DIR=/app/models

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY deploy/healthcheck.py /app/healthcheck.py
COPY --from=builder /stage/contract/ /app/contract/
COPY --from=builder /stage/service/ /app/service/
# The bundled models; compose mounts ./models over them read-only.
COPY --from=builder /stage/models/ /app/models/

USER 10001:10001
# HTTP (native API and KServe V2), and KServe V2 over gRPC.
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
CMD ["python", "-m", "service"]
