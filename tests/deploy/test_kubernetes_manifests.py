"""deploy/kubernetes, offline: every kustomization renders, every built-in object validates
strictly against the pinned Kubernetes version, and the pods keep their probes, limits and
security settings. Each rule also has a test that a broken copy is caught."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    Obj,
    kustomizations,
    of_kind,
    one,
    render,
)
from tests.deploy.policy import deployment_problems

OVERLAYS = [k for k in kustomizations() if k.parts[0] in ("base", "overlays")]
CRD_KINDS = {"ServingRuntime", "InferenceService", "ServiceMonitor"}  # test_kserve_manifests


def test_the_expected_kustomizations_exist() -> None:
    found = {str(k) for k in kustomizations()}
    assert {
        "base",
        "overlays/single-node",
        "overlays/production",
        "overlays/models-volume",
        "overlays/prometheus-operator",
        "kserve/standard",
        "kserve/serverless-canary",
    } <= found


@pytest.mark.parametrize("directory", kustomizations(), ids=str)
def test_every_kustomization_renders(directory: Path) -> None:
    objects = render(directory)
    assert objects, f"{directory} renders nothing"
    names = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), f"duplicate objects in {directory}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", kustomizations(), ids=str)
def test_every_object_validates_strictly(directory: Path, version: str) -> None:
    for obj in render(directory):
        if obj["kind"] in CRD_KINDS:
            continue
        # Raises on a schema violation or on a kind this Kubernetes version does not have.
        kubernetes_validate.validate(obj, version, strict=True)


def test_an_unknown_kind_fails_validation() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(widget, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinessProbee={}),
        lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="30"),
        lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=[0]),
    ],
    ids=["misspelled-field", "wrong-type", "wrong-shape"],
)
def test_strict_validation_catches_a_broken_object(mutate: Callable[[Obj], object]) -> None:
    deployment = one(render("base"), "Deployment")
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    mutate(deployment)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("directory", OVERLAYS, ids=str)
def test_deployments_keep_probes_limits_and_security(directory: Path) -> None:
    objects = render(directory)
    deployment = one(objects, "Deployment")
    assert deployment_problems(deployment, objects) == []


def _container(d: Obj) -> Obj:
    container: Obj = d["spec"]["template"]["spec"]["containers"][0]
    return container


def _pod(d: Obj) -> Obj:
    pod: Obj = d["spec"]["template"]["spec"]
    return pod


BREAKAGES: dict[str, Callable[[Obj], object]] = {
    "no-readiness-probe": lambda d: _container(d).pop("readinessProbe"),
    "no-liveness-probe": lambda d: _container(d).pop("livenessProbe"),
    "no-startup-probe": lambda d: _container(d).pop("startupProbe"),
    "readiness-on-healthz": lambda d: _container(d)["readinessProbe"]["httpGet"].update(
        path="/healthz"
    ),
    "probe-on-unknown-port": lambda d: _container(d)["livenessProbe"]["httpGet"].update(port=9),
    "no-memory-limit": lambda d: _container(d)["resources"]["limits"].pop("memory"),
    "no-cpu-request": lambda d: _container(d)["resources"]["requests"].pop("cpu"),
    "memory-limit-below-measured": lambda d: _container(d)["resources"]["limits"].update(
        memory="128Mi"
    ),
    "workers-not-cpu-limit": lambda d: _container(d)["resources"]["limits"].update(cpu="3"),
    "root-filesystem-writable": lambda d: _container(d)["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "privilege-escalation": lambda d: _container(d)["securityContext"].pop(
        "allowPrivilegeEscalation"
    ),
    "capability-added": lambda d: _container(d)["securityContext"]["capabilities"].update(
        add=["NET_BIND_SERVICE"]
    ),
    "capabilities-kept": lambda d: _container(d)["securityContext"].pop("capabilities"),
    "runs-as-root": lambda d: (
        _container(d)["securityContext"].update(runAsUser=0),
        _pod(d)["securityContext"].update(runAsUser=0),
    ),
    "no-seccomp": lambda d: (
        _container(d)["securityContext"].pop("seccompProfile"),
        _pod(d)["securityContext"].pop("seccompProfile"),
    ),
    "no-tmp-emptydir": lambda d: _container(d).pop("volumeMounts"),
    "no-prestop": lambda d: _container(d).pop("lifecycle"),
    "grace-shorter-than-drain": lambda d: _pod(d).update(terminationGracePeriodSeconds=10),
    "one-replica": lambda d: d["spec"].update(replicas=1),
    "max-unavailable-1": lambda d: d["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=1),
    "no-spread": lambda d: _pod(d).pop("topologySpreadConstraints"),
    "spread-selects-nothing": lambda d: _pod(d)["topologySpreadConstraints"][0][
        "labelSelector"
    ].update(matchLabels={"app": "other"}),
    "grpc-port-undeclared": lambda d: _container(d)["ports"].pop(1),
    "api-key-in-plain-text": lambda d: _container(d)["env"][0].update(value="k", valueFrom=None),
    "token-mounted": lambda d: _pod(d).pop("automountServiceAccountToken"),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_deployment_is_caught(breakage: Callable[[Obj], object]) -> None:
    objects = render("overlays/production")
    deployment = copy.deepcopy(one(objects, "Deployment"))
    assert deployment_problems(deployment, objects) == []
    breakage(deployment)
    assert deployment_problems(deployment, objects) != []


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("directory", OVERLAYS, ids=str)
def test_service_hpa_pdb_and_policy_fit_the_deployment(directory: Path) -> None:
    objects = render(directory)
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p for p in _container(deployment)["ports"]}
    assert set(ports) == {"http", "grpc"}

    service = one(objects, "Service")
    assert _selects(service["spec"]["selector"], pod_labels)
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    grpc = next(p for p in service["spec"]["ports"] if p["targetPort"] == "grpc")
    assert grpc.get("appProtocol") == "kubernetes.io/h2c"

    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"])

    pdb = one(objects, "PodDisruptionBudget")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable", 0) >= 1

    policy = one(objects, "NetworkPolicy")
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["egress"] == [], "the service needs no egress"
    for rule in policy["spec"]["ingress"]:
        assert rule["from"], "an ingress rule open to everyone"
        assert {p["port"] for p in rule["ports"]} <= set(ports)


@pytest.mark.parametrize("directory", OVERLAYS, ids=str)
def test_metrics_are_scraped_one_way(directory: Path) -> None:
    objects = render(directory)
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"].get("annotations", {})
    monitors = of_kind(objects, "ServiceMonitor")
    if monitors:
        assert not any(k.startswith("prometheus.io/") for k in annotations)
        service_ports = {p["name"] for p in one(objects, "Service")["spec"]["ports"]}
        assert {e["port"] for e in monitors[0]["spec"]["endpoints"]} <= service_ports
    else:
        assert annotations.get("prometheus.io/scrape") == "true"
        assert annotations.get("prometheus.io/path") == "/metrics"
        port = int(annotations["prometheus.io/port"])
        assert port in {p["containerPort"] for p in _container(one(objects, "Deployment"))["ports"]}


@pytest.mark.parametrize("directory", OVERLAYS, ids=str)
def test_secrets_are_referenced_not_committed(directory: Path) -> None:
    objects = render(directory)
    secrets = of_kind(objects, "Secret")
    if str(directory) == "overlays/single-node":
        assert [s["metadata"]["name"] for s in secrets] == [
            next(
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in _container(one(objects, "Deployment"))["env"]
                if e["name"] == "RNN_SERVE_API_KEY"
            )
        ]
    else:
        assert secrets == [], f"{directory} commits a Secret: create it out of band"


def test_production_pins_the_image_and_spreads_hard() -> None:
    deployment = one(render("overlays/production"), "Deployment")
    image = _container(deployment)["image"]
    assert "/" in image and not image.endswith(":latest") and ":" in image
    spread = {c["topologyKey"]: c for c in _pod(deployment)["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "topology.kubernetes.io/zone" in spread


def test_models_volume_overlay_mounts_read_only_and_hot_reloads() -> None:
    objects = render("overlays/models-volume")
    deployment = one(objects, "Deployment")
    settings = one(objects, "ConfigMap")["data"]
    mounts = {m["mountPath"]: m for m in _container(deployment)["volumeMounts"]}
    models = mounts[settings["RNN_SERVE_MODELS_DIR"]]
    assert models.get("readOnly") is True
    volume = next(v for v in _pod(deployment)["volumes"] if v["name"] == models["name"])
    claim = one(objects, "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    assert float(settings["RNN_SERVE_RELOAD_INTERVAL_S"]) > 0


def test_namespaces_enforce_the_restricted_pod_security_standard() -> None:
    for directory in ("overlays/single-node", "overlays/production"):
        namespace = one(render(directory), "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
