# The project's locust suite (loadtest/) in a container, for compose's `loadtest` profile:
#   docker compose --profile loadtest run --rm loadtest
#   docker compose --profile loadtest run --rm loadtest --host http://proxy:80 --profile stepped
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/app \
    MPLCONFIGDIR=/tmp/matplotlib

COPY requirements/constraints.txt /tmp/constraints.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -c /tmp/constraints.txt locust numpy psutil matplotlib \
    && find /opt/venv -depth -name __pycache__ -type d -exec rm -rf {} +

WORKDIR /app
COPY loadtest/ /app/loadtest/

USER 10001:10001
ENTRYPOINT ["python", "-m", "loadtest"]
CMD ["--host", "http://proxy:80", "--profile", "smoke", "--duration", "20", "--no-charts", \
     "--out", "/tmp/loadtest/smoke"]
