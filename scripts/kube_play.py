"""Run a rendered Deployment's pods with `podman kube play` (Debian's podman), and check them.

    python scripts/kube_play.py --image rnn-serving-api:smoke [--kustomization overlays/single-node]

Renders the kustomization (`kubectl kustomize`), keeps its ConfigMaps and Deployment, stores
its Secrets as podman secrets (the form `kube play` reads for secretKeyRef), points the
Deployment at the local image, and plays it: podman itself turns the pod spec (runAsUser,
readOnlyRootFilesystem, capabilities, allowPrivilegeEscalation, the limits, the emptyDir, the
ConfigMap and Secret environment, one pod per replica) into containers. Then checks, inside
every pod (from inside its network namespace), that the service becomes ready,
answers /forecast and /sentiment with the API key and refuses them without, runs as uid 10001
with no capabilities, no_new_privs and a seccomp filter, and cannot write its root
filesystem; and that podman applied the memory limit. `podman kube down` and the secrets and
volumes it made are removed at the end.

Needs root, podman and catatonit (installed with apt if missing), and the image in docker (it
is copied with `docker save | podman load`) or already in podman.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from pod_checks import security_script  # noqa: E402

KUBERNETES = ROOT / "deploy" / "kubernetes"

HTTP_CHECKS = """
import json, urllib.error, urllib.request
def post(path, body, key):
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    url = "http://127.0.0.1:%(port)d" + path
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, None
key = os.environ["RNN_SERVE_API_KEY"]
status, body = post("/forecast", {"series": [[0.1 * i for i in range(30)]]}, key)
if status != 200 or len(body["forecasts"]) != 1:
    problems.append(f"/forecast: {status}")
status, body = post("/sentiment", {"texts": ["A wonderful film.", "Dull."]}, key)
if status != 200 or len(body["results"]) != 2:
    problems.append(f"/sentiment: {status}")
if key and post("/sentiment", {"texts": ["x"]}, "")[0] != 401:
    problems.append("/sentiment without the API key was not refused")
"""


def log(message: str) -> None:
    print(f"[kube-play {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        fail(f"{' '.join(args[:3])}: {(result.stderr or result.stdout).strip()[-800:]}")
    return result


def ensure_podman() -> None:
    if shutil.which("podman") and shutil.which("catatonit"):
        return
    log("apt-get install podman catatonit")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "podman", "catatonit"]
    if run(*install, check=False, env=env).returncode != 0:
        run("apt-get", "update", "-q", env=env)
        run(*install, env=env)


def ensure_image(image: str) -> str:
    local = image if "/" in image.split(":")[0] else f"localhost/{image}"
    if run("podman", "image", "exists", local, check=False).returncode != 0:
        log(f"copying {image} from docker to podman")
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        load = subprocess.run(["podman", "load", "-q"], stdin=save.stdout, capture_output=True)
        if save.wait() != 0 or load.returncode != 0:
            fail(f"docker save | podman load: {load.stderr.decode()[-500:]}")
    return local


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def containers_conf(directory: Path) -> Path:
    """Rootful podman raises the open-files and processes limits to values a sandboxed
    runc may not set (EPERM); ask for ones within this process's hard limits."""
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    path = directory / "containers.conf"
    path.write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
    )
    return path


def prepare(objects: list[dict[str, Any]], image: str, tag: str) -> dict[str, Any]:
    """The play file's objects and the podman secrets to create, under names unique to `tag`."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container["image"], container["imagePullPolicy"] = image, "Never"
    deployment["metadata"]["name"] = tag
    secrets = {}
    for secret in (o for o in objects if o["kind"] == "Secret"):
        secrets[secret["metadata"]["name"]] = f"{tag}-{secret['metadata']['name']}"
    key = ""
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            if ref["name"] not in secrets:
                fail(f"secret {ref['name']} is not in the rendered objects")
            source = next(o for o in objects if o["metadata"]["name"] == ref["name"])
            key = base64.b64decode(source["data"][ref["key"]]).decode()
            ref["name"] = secrets[ref["name"]]
    volumes = {v["name"]: f"{tag}-{v['name']}" for v in pod.get("volumes", [])}
    for volume in pod.get("volumes", []):
        volume["name"] = volumes[volume["name"]]
    for mount in container.get("volumeMounts", []):
        mount["name"] = volumes[mount["name"]]
    # podman 4 publishes every containerPort on the host (0.0.0.0, the same port) and the
    # replicas would collide: one Deployment of 1 replica per pod, ports on free loopback ones.
    replicas = int(deployment["spec"].get("replicas", 1))
    copies = []
    for i in range(replicas):
        one = copy.deepcopy(deployment)
        one["metadata"]["name"], one["spec"]["replicas"] = f"{tag}-{i}", 1
        for port in one["spec"]["template"]["spec"]["containers"][0].get("ports", []):
            port["hostIP"], port["hostPort"] = "127.0.0.1", free_port()
        copies.append(one)
    return {
        "play": [o for o in objects if o["kind"] == "ConfigMap"] + copies,
        "pods": [f"{tag}-{i}-pod-0" for i in range(replicas)],
        "secrets": {
            secrets[o["metadata"]["name"]]: o["data"] for o in objects if o["kind"] == "Secret"
        },
        "volumes": list(volumes.values()),
        "uid": int(pod["securityContext"]["runAsUser"]),
        "memory": container["resources"]["limits"]["memory"],
        "api_key_set": bool(key),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--kustomization", default="overlays/single-node")
    parser.add_argument("--kubectl", default=str(Path(sys.executable).parent / "kubectl"))
    args = parser.parse_args()
    ensure_podman()
    log(run("podman", "--version").stdout.strip())
    image = ensure_image(args.image)
    rendered = run(args.kubectl, "kustomize", str(KUBERNETES / args.kustomization)).stdout
    tag = f"rnn-kube-play-{os.getpid()}"
    plan = prepare([o for o in yaml.safe_load_all(rendered) if o], image, tag)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["CONTAINERS_CONF"] = str(containers_conf(work))
        play = work / "play.yaml"
        play.write_text(yaml.safe_dump_all(plan["play"]))
        try:
            for name, data in plan["secrets"].items():
                (work / name).write_text(json.dumps(data))
                run("podman", "secret", "create", name, str(work / name))
            started = time.monotonic()
            run("podman", "kube", "play", str(play))
            pods = plan["pods"]
            log(f"{args.kustomization}: played {len(pods)} pod(s) from the rendered Deployment")
            for pod in pods:
                check_pod(f"{pod}-api", plan, started)
        finally:
            run("podman", "kube", "down", str(play), check=False)
            for name in plan["secrets"]:
                run("podman", "secret", "rm", name, check=False)
            for volume in plan["volumes"]:
                run("podman", "volume", "rm", "-f", volume, check=False)
    log(f"{args.kustomization}: kube play passed")
    return 0


def check_pod(container: str, plan: dict[str, Any], started: float) -> None:
    deadline = started + 120
    while run("podman", "exec", container, "python", "/app/healthcheck.py", check=False).returncode:
        if time.monotonic() > deadline:
            logs = run("podman", "logs", container, check=False)
            fail(f"{container} not ready in 120 s:\n{(logs.stderr + logs.stdout)[-2000:]}")
        time.sleep(1)
    log(f"{container}: ready after {time.monotonic() - started:.1f} s")
    script = security_script(plan["uid"], HTTP_CHECKS % {"port": 8000})
    inside = run("podman", "exec", container, "python", "-c", script, check=False)
    if inside.returncode:
        fail(f"{container}: {inside.stderr.strip()[-800:]}")
    fmt = "{{.HostConfig.Memory}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}}"
    memory, read_only, options = run("podman", "inspect", container, "--format", fmt).stdout.split(
        " ", 2
    )
    expected = plan["memory"]
    if read_only != "true" or "no-new-privileges" not in options or int(memory) <= 0:
        fail(f"{container}: read-only {read_only}, options {options}, memory {memory}")
    log(
        f"{container}: answers /forecast and /sentiment, uid {plan['uid']}, no capabilities, "
        f"no_new_privs, seccomp, read-only root, memory limit {int(memory) // 2**20} MiB "
        f"(spec {expected})"
    )


if __name__ == "__main__":
    sys.exit(main())
