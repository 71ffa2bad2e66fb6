"""What every rendered pod of the service must have: probes, sized limits, the locked-down
security context, a drain that fits the grace period. Each check returns a list of problems
(empty = fine), so a test can assert both that the manifests pass and that a broken copy fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.deploy.manifests import KUBERNETES, Obj

UID = 10001  # the image's `app` user (Dockerfile)
SIZING = KUBERNETES / "sizing.json"
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}


def cpu_cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_bytes(quantity: str | int) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G|)", str(quantity))
    assert match, f"unsupported memory quantity {quantity!r}"
    return int(match.group(1)) * _SUFFIX[match.group(2)]


def sizing(path: Path = SIZING) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def min_memory_bytes(workers: int, figures: dict[str, Any]) -> int:
    """The measured resident set of `workers` workers with the bundled models, plus room for
    two more hot-reloaded versions of the largest model in each worker."""
    memory = figures["memory_mib"]
    per_worker = max(memory["all_models_after_load"], memory["all_models_ready_2_workers"] / 2)
    per_version = next(v for k, v in memory.items() if k.startswith("one_more_"))
    return int((workers * per_worker + workers * 2 * per_version) * 2**20)


def settings_of(container: Obj, objects: list[Obj]) -> dict[str, Any]:
    """RNN_SERVE_* settings of a container: its ConfigMaps (envFrom), then its env entries
    (a value, or the valueFrom reference itself)."""
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    settings: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            assert ref["name"] in configmaps, f"envFrom names a missing ConfigMap {ref['name']}"
            settings.update(configmaps[ref["name"]].get("data", {}))
    for entry in container.get("env", []):
        settings[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return settings


def _probe_problems(container: Obj, where: str, startup: bool = True) -> list[str]:
    problems = []
    ports = {p.get("name") for p in container.get("ports", [])} | {
        p["containerPort"] for p in container.get("ports", [])
    }
    for probe, path in (
        ("startupProbe", "/readyz"),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ):
        spec = container.get(probe)
        if not spec and probe == "startupProbe" and not startup:
            continue
        if not spec:
            problems.append(f"{where}: no {probe}")
            continue
        get = spec.get("httpGet", {})
        if get.get("path") != path:
            problems.append(f"{where}: {probe} must GET {path}, not {get.get('path')}")
        if get.get("port") not in ports:
            problems.append(f"{where}: {probe} port {get.get('port')} is not a container port")
    return problems


def _resource_problems(container: Obj, settings: dict[str, Any], where: str) -> list[str]:
    resources = container.get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    problems = [
        f"{where}: no {kind}.{name}"
        for kind, values in (("requests", requests), ("limits", limits))
        for name in ("cpu", "memory")
        if name not in values
    ]
    if problems:
        return problems
    if cpu_cores(requests["cpu"]) > cpu_cores(limits["cpu"]):
        problems.append(f"{where}: CPU request above the limit")
    if memory_bytes(requests["memory"]) > memory_bytes(limits["memory"]):
        problems.append(f"{where}: memory request above the limit")
    workers = int(settings.get("RNN_SERVE_WORKERS", 0))
    if workers != cpu_cores(limits["cpu"]):
        problems.append(
            f"{where}: RNN_SERVE_WORKERS={workers}, but the CPU limit is {limits['cpu']} "
            "(1 worker per CPU of the limit)"
        )
    elif memory_bytes(limits["memory"]) < min_memory_bytes(workers, sizing()):
        problems.append(
            f"{where}: memory limit {limits['memory']} below the measured need of {workers} "
            f"worker(s) ({min_memory_bytes(workers, sizing()) // 2**20} MiB, sizing.json)"
        )
    return problems


def _security_problems(container: Obj, pod_security: Obj, where: str) -> list[str]:
    sc = container.get("securityContext", {})
    problems = []

    def effective(key: str) -> Any:
        return sc.get(key, pod_security.get(key))

    if effective("runAsNonRoot") is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    if effective("runAsUser") != UID or effective("runAsGroup") != UID:
        problems.append(f"{where}: must run as {UID}:{UID}")
    if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: no RuntimeDefault seccomp profile")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        problems.append(f"{where}: privileged")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    capabilities = sc.get("capabilities", {})
    if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
        problems.append(f"{where}: capabilities must drop ALL and add none")
    return problems


def _port_problems(container: Obj, settings: dict[str, Any], where: str) -> list[str]:
    ports = {p["containerPort"]: p.get("name", "") for p in container.get("ports", [])}
    problems = []
    http = int(settings.get("RNN_SERVE_PORT", 8000))
    if ports.get(http) not in ("http", "http1"):
        problems.append(f"{where}: RNN_SERVE_PORT {http} is not a port named http")
    grpc = int(settings.get("RNN_SERVE_GRPC_PORT", 8001))
    grpc_ports = [port for port, name in ports.items() if "grpc" in name or "h2c" in name]
    if grpc_ports != ([grpc] if grpc else []):
        problems.append(
            f"{where}: RNN_SERVE_GRPC_PORT {grpc} but gRPC container ports {grpc_ports}"
        )
    if settings.get("RNN_SERVE_HOST") != "0.0.0.0":
        problems.append(f"{where}: RNN_SERVE_HOST must be 0.0.0.0 in a pod")
    api_key = settings.get("RNN_SERVE_API_KEY")
    if api_key is not None and "secretKeyRef" not in (api_key if isinstance(api_key, dict) else {}):
        problems.append(f"{where}: RNN_SERVE_API_KEY must come from a Secret")
    return problems


def _writable_problems(container: Obj, volumes: list[Obj], where: str) -> list[str]:
    empty_dirs = {v["name"] for v in volumes if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    if mounts.get("/tmp") not in empty_dirs:
        return [f"{where}: /tmp (HOME, Prometheus multiprocess files) is not an emptyDir"]
    missing_limit = [
        v["name"] for v in volumes if "emptyDir" in v and not v["emptyDir"].get("sizeLimit")
    ]
    return [f"{where}: emptyDir {name} has no sizeLimit" for name in missing_limit]


def prestop_seconds(container: Obj) -> int:
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    return int(command[-1]) if command[:1] == ["sleep"] else 0


def container_problems(
    container: Obj,
    objects: list[Obj],
    pod_security: Obj,
    volumes: list[Obj],
    where: str,
    knative: bool = False,
) -> list[str]:
    """knative: Knative's queue-proxy holds traffic off a terminating pod (no preStop pause
    needed), and a startup probe would turn off its fast readiness probing."""
    settings = settings_of(container, objects)
    problems = [
        *_probe_problems(container, where, startup=not knative),
        *_resource_problems(container, settings, where),
        *_security_problems(container, pod_security, where),
        *_port_problems(container, settings, where),
        *_writable_problems(container, volumes, where),
    ]
    if not knative and prestop_seconds(container) < 1:
        problems.append(f"{where}: no preStop pause before SIGTERM")
    return problems


def grace_problems(pod: Obj, container: Obj, objects: list[Obj], where: str) -> list[str]:
    """The grace period must cover the preStop pause plus the service's own drain."""
    drain = int(settings_of(container, objects).get("RNN_SERVE_SHUTDOWN_TIMEOUT_S", 30))
    need = prestop_seconds(container) + drain
    grace = int(pod.get("terminationGracePeriodSeconds", 30))
    if not need < grace <= need + 30:
        return [f"{where}: terminationGracePeriodSeconds {grace}, preStop + drain = {need}"]
    return []


def deployment_problems(deployment: Obj, objects: list[Obj]) -> list[str]:
    where = f"Deployment {deployment['metadata']['name']}"
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    problems = []
    if spec.get("replicas", 1) < 2:
        problems.append(f"{where}: fewer than 2 replicas")
    strategy = spec.get("strategy", {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or strategy.get(
        "rollingUpdate", {}
    ).get("maxUnavailable") not in (0, "0%"):
        problems.append(f"{where}: rolling update must have maxUnavailable 0")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: a service account token is mounted")
    spread = pod.get("topologySpreadConstraints", [])
    keys = [c["topologyKey"] for c in spread]
    if "kubernetes.io/hostname" not in keys or len(keys) != len(set(keys)):
        problems.append(f"{where}: spread over nodes once per topology key, got {keys}")
    for constraint in spread:
        wanted = constraint.get("labelSelector", {}).get("matchLabels", {})
        if not wanted or any(labels.get(k) != v for k, v in wanted.items()):
            problems.append(f"{where}: a spread constraint does not select the pods")
    security = pod.get("securityContext", {})
    containers = pod.get("containers", [])
    if not containers:
        return [*problems, f"{where}: no container"]
    for container in containers:
        name = f"{where} container {container['name']}"
        problems += container_problems(container, objects, security, pod.get("volumes", []), name)
        problems += grace_problems(pod, container, objects, name)
    return problems
