"""The custom resources (KServe's ServingRuntime and InferenceService, the Prometheus Operator's
ServiceMonitor), checked offline against the CRD schemas of pinned releases of those projects
(tests/deploy/schemas, extracted by scripts/crd_schemas.py) with unknown fields rejected, plus
what the CRDs leave as free strings (protocol names, deployment modes) against KServe's Go
constants, and the same pod rules as the Deployment's."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.manifests import Obj, one, render
from tests.deploy.policy import container_problems, grace_problems, settings_of

SCHEMAS = Path(__file__).parent / "schemas"
KSERVE_DIRS = ["kserve/standard", "kserve/serverless-canary"]
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"


@functools.cache
def source(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def strict(node: Any) -> Any:
    """The API server drops (or, with strict field validation, rejects) fields a CRD does not
    declare: make that an error for every object schema that lists its properties."""
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def validator(source_name: str, kind: str) -> jsonschema.Draft7Validator:
    schema = strict(source(source_name)["kinds"][kind]["schema"])
    return jsonschema.Draft7Validator(schema)


def schema_errors(obj: Obj, source_name: str) -> list[str]:
    entry = source(source_name)["kinds"][obj["kind"]]
    errors = [] if obj["apiVersion"] == entry["apiVersion"] else [f"apiVersion {obj['apiVersion']}"]
    for error in validator(source_name, obj["kind"]).iter_errors(obj):
        errors.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
    return errors


def kserve_problems(objects: list[Obj]) -> list[str]:
    """Schema, constants and cross-references of one rendered KServe kustomization."""
    runtime, isvc = one(objects, "ServingRuntime"), one(objects, "InferenceService")
    problems = schema_errors(runtime, "kserve") + schema_errors(isvc, "kserve")
    known = source("kserve")
    protocols = runtime["spec"].get("protocolVersions", [])
    if not protocols or not set(protocols) <= set(known["protocolVersions"]):
        problems.append(f"protocolVersions {protocols} not in {known['protocolVersions']}")
    if "v2" not in protocols:
        problems.append("the runtime must offer the v2 (Open Inference) protocol")
    mode = isvc["metadata"].get("annotations", {}).get(DEPLOYMENT_MODE)
    if mode not in set(known["deploymentModes"]) - {"RawDeployment"}:  # deprecated name
        problems.append(f"deploymentMode {mode!r}")
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    if model.get("runtime") != runtime["metadata"]["name"]:
        problems.append("the InferenceService does not use the ServingRuntime")
    if model.get("protocolVersion") not in protocols:
        problems.append(f"protocolVersion {model.get('protocolVersion')} not offered")
    formats = {(f["name"], f.get("version")) for f in runtime["spec"]["supportedModelFormats"]}
    if (model["modelFormat"]["name"], model["modelFormat"].get("version")) not in formats:
        problems.append("modelFormat not supported by the runtime")
    if int(predictor.get("minReplicas", 1)) < 2:
        problems.append("fewer than 2 replicas")
    return problems


def runtime_pod_problems(objects: list[Obj]) -> list[str]:
    """The runtime's container inside the predictor pod KServe builds from both objects."""
    runtime, isvc = one(objects, "ServingRuntime"), one(objects, "InferenceService")
    predictor = isvc["spec"]["predictor"]
    serverless = isvc["metadata"]["annotations"][DEPLOYMENT_MODE] in ("Serverless", "Knative")
    containers = runtime["spec"]["containers"]
    problems = []
    for container in containers:
        where = f"ServingRuntime container {container['name']}"
        problems += container_problems(
            container,
            objects,
            predictor.get("securityContext", {}),
            runtime["spec"].get("volumes", []),
            where,
            knative=serverless,
        )
        if not serverless:
            problems += grace_problems(predictor, container, objects, where)
        if settings_of(container, objects).get("RNN_SERVE_MODELS_DIR") != "/mnt/models":
            problems.append(f"{where}: models must be read from /mnt/models")
        if serverless and len(container.get("ports", [])) != 1:
            problems.append(f"{where}: Knative serves exactly one container port")
    if containers and containers[0]["name"] != "kserve-container":
        problems.append("the first runtime container must be kserve-container")
    if predictor.get("automountServiceAccountToken") is not False:
        problems.append("the predictor mounts a service account token")
    return problems


def test_schemas_come_from_pinned_releases() -> None:
    kserve, operator = source("kserve"), source("prometheus-operator")
    assert kserve["repository"] == "github.com/kserve/kserve" and kserve["ref"] == "v0.20.0"
    assert operator["ref"] == "v0.93.0"
    for data in (kserve, operator):
        assert len(data["commit"]) == 40 and data["files"]
    assert {"v1", "v2", "grpc-v2"} <= set(kserve["protocolVersions"])
    assert {"Standard", "Serverless"} <= set(kserve["deploymentModes"])


@pytest.mark.parametrize("directory", KSERVE_DIRS)
def test_kserve_objects_match_kserve(directory: str) -> None:
    assert kserve_problems(render(directory)) == []


@pytest.mark.parametrize("directory", KSERVE_DIRS)
def test_runtime_pod_keeps_probes_limits_and_security(directory: str) -> None:
    assert runtime_pod_problems(render(directory)) == []


def test_standard_mode_serves_http_and_grpc() -> None:
    objects = render("kserve/standard")
    container = one(objects, "ServingRuntime")["spec"]["containers"][0]
    assert [p["name"] for p in container["ports"]] == ["http", "grpc"]
    assert {"v2", "grpc-v2"} <= set(one(objects, "ServingRuntime")["spec"]["protocolVersions"])


def test_serverless_canary_splits_traffic() -> None:
    standard = one(render("kserve/standard"), "InferenceService")["spec"]["predictor"]
    canary = one(render("kserve/serverless-canary"), "InferenceService")["spec"]["predictor"]
    assert 0 < canary["canaryTrafficPercent"] < 100
    assert canary["model"]["storageUri"] != standard["model"]["storageUri"]


def _runtime(objects: list[Obj]) -> Obj:
    runtime: Obj = one(objects, "ServingRuntime")
    return runtime


def _model(objects: list[Obj]) -> Obj:
    model: Obj = one(objects, "InferenceService")["spec"]["predictor"]["model"]
    return model


KSERVE_BREAKAGES: dict[str, Callable[[list[Obj]], object]] = {
    "misspelled-runtime-field": lambda o: _runtime(o)["spec"].update(protocolVersion=["v2"]),
    "misspelled-storage-uri": lambda o: _model(o).update(storageURI=_model(o).pop("storageUri")),
    "container-field-typo": lambda o: _runtime(o)["spec"]["containers"][0].update(envv=[]),
    "wrong-type": lambda o: one(o, "InferenceService")["spec"]["predictor"].update(minReplicas="2"),
    "unknown-protocol": lambda o: _runtime(o)["spec"].update(protocolVersions=["v3"]),
    "deprecated-mode": lambda o: one(o, "InferenceService")["metadata"]["annotations"].update(
        {DEPLOYMENT_MODE: "RawDeployment"}
    ),
    "other-runtime": lambda o: _model(o).update(runtime="kserve-mlserver"),
    "unsupported-format": lambda o: _model(o)["modelFormat"].update(name="onnx"),
    "old-api-version": lambda o: _runtime(o).update(apiVersion="serving.kserve.io/v1beta1"),
}


@pytest.mark.parametrize("breakage", KSERVE_BREAKAGES.values(), ids=KSERVE_BREAKAGES.keys())
def test_a_broken_kserve_object_is_caught(breakage: Callable[[list[Obj]], object]) -> None:
    objects = copy.deepcopy(render("kserve/standard"))
    breakage(objects)
    assert kserve_problems(objects) != []


RUNTIME_BREAKAGES: dict[str, Callable[[list[Obj]], object]] = {
    "no-readiness-probe": lambda o: _runtime(o)["spec"]["containers"][0].pop("readinessProbe"),
    "no-limits": lambda o: _runtime(o)["spec"]["containers"][0]["resources"].pop("limits"),
    "writable-root": lambda o: _runtime(o)["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "root-user": lambda o: _runtime(o)["spec"]["containers"][0]["securityContext"].update(
        runAsUser=0
    ),
    "no-tmp-volume": lambda o: _runtime(o)["spec"].pop("volumes"),
    "models-elsewhere": lambda o: _runtime(o)["spec"]["containers"][0]["env"][3].update(
        value="/app/models"
    ),
    "grpc-port-mismatch": lambda o: _runtime(o)["spec"]["containers"][0]["ports"][1].update(
        containerPort=9000
    ),
    "short-grace": lambda o: one(o, "InferenceService")["spec"]["predictor"].update(
        terminationGracePeriodSeconds=5
    ),
}


@pytest.mark.parametrize("breakage", RUNTIME_BREAKAGES.values(), ids=RUNTIME_BREAKAGES.keys())
def test_a_broken_runtime_pod_is_caught(breakage: Callable[[list[Obj]], object]) -> None:
    objects = copy.deepcopy(render("kserve/standard"))
    breakage(objects)
    assert runtime_pod_problems(objects) != []


def test_servicemonitor_matches_the_prometheus_operator() -> None:
    monitor = one(render("overlays/prometheus-operator"), "ServiceMonitor")
    assert schema_errors(monitor, "prometheus-operator") == []
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["paht"] = "/metrics"
    assert schema_errors(broken, "prometheus-operator") != []
