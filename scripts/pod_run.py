"""Run the API image under a rendered Deployment's pod constraints with docker, and check it.

    python scripts/pod_run.py --image rnn-serving-api:smoke --kustomization base \\
        [--kustomization overlays/production] [--models-dir DIR]

For each kustomization under deploy/kubernetes, renders it (`kubectl kustomize`), takes its
Deployment's container and translates what docker can enforce of the pod spec into `docker run`
flags (printed): the user and group (runAsUser/runAsGroup, fsGroup as an extra group), a
read-only root filesystem, every capability dropped, no-new-privileges (allowPrivilegeEscalation
false), docker's default seccomp profile (RuntimeDefault), a tmpfs of the emptyDir's sizeLimit at
every emptyDir mount, the CPU and memory limits, the ConfigMap's and literal environment, and the
Secret's key replaced by a generated one. Then checks that the container becomes ready, answers
/forecast and /sentiment exactly like the in-process service (scripts/compose_check.py parity,
with the API key) and refuses them without it, that the gRPC port answers the Open Inference
Protocol's ServerReady (when the image's service has the gRPC setting), that /metrics works,
that inside it the process runs as 10001 with no capabilities, no_new_privs and a seccomp
filter and cannot write its root filesystem, and that `docker stop` with the grace period
drains it cleanly (not killed). Only 127.0.0.1 is contacted; every container it starts is removed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
import compose_check  # noqa: E402
from pod_checks import security_script  # noqa: E402

KUBERNETES = ROOT / "deploy" / "kubernetes"
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def log(message: str) -> None:
    print(f"[pod-run {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def to_bytes(quantity: str) -> int:
    for suffix, factor in _BINARY.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def to_cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity


def render(kubectl: str, kustomization: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / kustomization)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def docker_args(objects: list[dict[str, Any]], api_key: str) -> tuple[list[str], dict[str, Any]]:
    """`docker run` flags for the Deployment's first container, and facts the checks need."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    group = sc.get("runAsGroup", pod_sc.get("runAsGroup", user))
    args = ["--user", f"{user}:{group}"]
    if "fsGroup" in pod_sc:
        args += ["--group-add", str(pod_sc["fsGroup"])]
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    for capability in sc.get("capabilities", {}).get("drop", []):
        args += ["--cap-drop", capability]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
    if seccomp != "RuntimeDefault":  # docker's default profile is the runtime default
        fail(f"seccompProfile {seccomp!r}: only RuntimeDefault is translated")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            continue  # a PVC or similar: the caller mounts models itself
        size = to_bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))
        args += ["--tmpfs", f"{mount['mountPath']}:rw,nosuid,nodev,size={size},mode=1777"]
    limits = container["resources"]["limits"]
    memory = to_bytes(limits["memory"])
    args += ["--cpus", to_cpus(str(limits["cpu"])), "--memory", str(memory)]
    args += ["--memory-swap", str(memory)]
    env: dict[str, str] = {}
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]].get("data", {}))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = api_key
    for name, value in sorted(env.items()):
        args += ["-e", f"{name}={value}"]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    facts = {
        "port": int(env.get("RNN_SERVE_PORT", 8000)),
        "grpc_port": int(env.get("RNN_SERVE_GRPC_PORT", 0)),
        "uid": user,
        "grace_s": int(pod.get("terminationGracePeriodSeconds", 30)) - int(pre_stop),
        "workers": int(env.get("RNN_SERVE_WORKERS", 1)),
        "memory_limit": memory,
        "api_key_set": "RNN_SERVE_API_KEY" in env,
    }
    return args, facts


def has_grpc_face(image: str) -> bool:
    """Whether the image's service has the gRPC setting (older builds ignore the variable)."""
    probe = "from service.config import Settings; print('grpc_port' in Settings.model_fields)"
    out = docker("run", "--rm", "--network", "none", image, "python", "-c", probe).stdout
    return out.strip() == "True"


def grpc_server_ready(target: str) -> bool:
    """The Open Inference Protocol's ServerReady over gRPC, as raw protobuf: an empty request;
    the answer `ready: true` is field 1, varint 1."""
    import grpc

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        call = channel.unary_unary("/inference.GRPCInferenceService/ServerReady")
        return bool(call(b"", timeout=10) == b"\x08\x01")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        fail(f"docker {' '.join(args[:2])}: {result.stderr.strip()[-500:]}")
    return result


def check(kustomization: str, image: str, kubectl: str, models_dir: Path | None) -> None:
    api_key = secrets.token_urlsafe(24)
    args, facts = docker_args(render(kubectl, kustomization), api_key)
    port = free_port()
    name = f"rnn-pod-run-{port}"
    mounts = ["-v", f"{models_dir}:/app/models:ro"] if models_dir else []
    command = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{facts['port']}"]
    grpc_port = free_port() if facts["grpc_port"] and has_grpc_face(image) else 0
    if grpc_port:
        command += ["-p", f"127.0.0.1:{grpc_port}:{facts['grpc_port']}"]
    command += [*args, *mounts, image]
    shown = [a.replace(api_key, "<generated>") for a in command]
    log(f"{kustomization}: docker {' '.join(shown)}")
    docker(*command)
    url = f"http://127.0.0.1:{port}"
    try:
        started, deadline = time.monotonic(), time.monotonic() + 120
        while True:
            state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
            if not state["Running"]:
                fail(f"the container exited ({state['ExitCode']}):\n{docker('logs', name).stderr}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                fail(f"not ready in 120 s:\n{docker('logs', name).stderr[-3000:]}")
            time.sleep(0.5)
        log(f"{kustomization}: ready in {time.monotonic() - started:.1f} s")
        compose_check.parity(url, models_dir or ROOT / "models", 1e-5, api_key)
        if facts["api_key_set"]:
            refused = httpx.post(f"{url}/sentiment", json={"texts": ["fine"]}, timeout=10)
            if refused.status_code != 401:
                fail(f"/sentiment without the API key answered {refused.status_code}")
        if grpc_port:
            if not grpc_server_ready(f"127.0.0.1:{grpc_port}"):
                fail("gRPC ServerReady did not answer ready")
            log(f"{kustomization}: gRPC ServerReady on port {facts['grpc_port']}: ready")
        else:
            log(f"{kustomization}: gRPC not checked (off, or this image's service has no gRPC)")
        metrics = httpx.get(f"{url}/metrics", timeout=10)
        if metrics.status_code != 200 or "rnn_serve_http_requests_total" not in metrics.text:
            fail(f"/metrics: {metrics.status_code}")
        inside = docker("exec", name, "python", "-c", security_script(facts["uid"]), check=False)
        if inside.returncode != 0:
            fail(f"inside the container: {inside.stderr.strip()}")
        stats = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout.strip()
        log(
            f"{kustomization}: {facts['workers']} worker(s), memory {stats}, "
            "uid/caps/no_new_privs/seccomp/read-only root as the pod spec says"
        )
        t0 = time.monotonic()
        docker("stop", "-t", str(facts["grace_s"]), name)
        stopped = time.monotonic() - t0
        code = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)["ExitCode"]
        if code == 137 or stopped >= facts["grace_s"]:
            fail(f"not drained within {facts['grace_s']} s (exit {code}, {stopped:.1f} s)")
        log(f"{kustomization}: SIGTERM -> exit {code} in {stopped:.1f} s")
        log(f"{kustomization}: constrained run passed")
    finally:
        docker("rm", "-f", name, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--kustomization", action="append", required=True)
    parser.add_argument("--kubectl", default=str(Path(sys.executable).parent / "kubectl"))
    parser.add_argument("--models-dir", type=Path, help="mounted read-only over /app/models")
    args = parser.parse_args()
    for kustomization in args.kustomization:
        check(kustomization, args.image, args.kubectl, args.models_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
