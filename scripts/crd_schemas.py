"""Extract the CRD schemas that tests/deploy checks the KServe and ServiceMonitor objects against.

    python scripts/crd_schemas.py kserve KSERVE_GIT_DIR [--ref v0.20.0]
    python scripts/crd_schemas.py prometheus-operator PROM_OP_GIT_DIR [--ref v0.93.0]

GIT_DIR is a clone (bare or not) of github.com/kserve/kserve or
github.com/prometheus-operator/prometheus-operator. The schema of each kind is the CRD's own
`openAPIV3Schema` at that tag, with the descriptions dropped. Subtrees the manifests never use
(KServe's per-framework predictors, explainer, transformer) are cut to `{"type": "object",
"x-pruned": true}`: their field names stay known, their insides are not checked. KServe's
protocol names and deployment modes, which the CRD types as free strings, are read from its
Go constants. Writes tests/deploy/schemas/<source>.json with the tag, commit and file blobs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "deploy" / "schemas"

KSERVE_CRDS = {
    "ServingRuntime": ("config/crd/full/serving.kserve.io_servingruntimes.yaml", "v1alpha1"),
    "InferenceService": ("config/crd/full/serving.kserve.io_inferenceservices.yaml", "v1beta1"),
}
KSERVE_PRUNED_PREDICTOR = [
    "huggingface",
    "lightgbm",
    "onnx",
    "paddle",
    "pmml",
    "pytorch",
    "sklearn",
    "tensorflow",
    "triton",
    "xgboost",
    "workerSpec",
]
PROM_CRDS = {
    "ServiceMonitor": (
        "example/prometheus-operator-crd-full/monitoring.coreos.com_servicemonitors.yaml",
        "v1",
    ),
}
PRUNED = {"type": "object", "x-pruned": True}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def crd_schema(repo: Path, ref: str, path: str, version: str) -> tuple[dict[str, Any], str]:
    crd = yaml.safe_load(git(repo, "show", f"{ref}:{path}"))
    blob = git(repo, "rev-parse", f"{ref}:{path}").strip()
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return strip_descriptions(entry["schema"]["openAPIV3Schema"]), blob
    raise SystemExit(f"{path}: no version {version}")


def extract(repo: Path, ref: str, crds: dict[str, tuple[str, str]]) -> dict[str, Any]:
    commit = git(repo, "rev-parse", f"{ref}^{{commit}}").strip()
    out: dict[str, Any] = {"ref": ref, "commit": commit, "files": {}, "kinds": {}}
    for kind, (path, version) in crds.items():
        schema, blob = crd_schema(repo, ref, path, version)
        out["files"][path] = blob
        group = yaml.safe_load(git(repo, "show", f"{ref}:{path}"))["spec"]["group"]
        out["kinds"][kind] = {"apiVersion": f"{group}/{version}", "schema": schema}
    return out


def kserve(repo: Path, ref: str) -> dict[str, Any]:
    out = extract(repo, ref, KSERVE_CRDS)
    spec = out["kinds"]["InferenceService"]["schema"]["properties"]["spec"]["properties"]
    for component in ("explainer", "transformer"):
        spec[component] = PRUNED
    predictor = spec["predictor"]["properties"]
    for name in KSERVE_PRUNED_PREDICTOR:
        predictor[name] = PRUNED
    constants = git(repo, "show", f"{ref}:pkg/constants/constants.go")
    out["protocolVersions"] = sorted(
        set(re.findall(r'\bProtocol\w+\s+InferenceServiceProtocol\s*=\s*"([^"]+)"', constants))
    )
    out["deploymentModes"] = sorted(
        set(re.findall(r'\b\w+\s+DeploymentModeType\s*=\s*"([^"]+)"', constants))
    )
    if not out["protocolVersions"] or not out["deploymentModes"]:
        raise SystemExit("pkg/constants/constants.go: protocol or deployment-mode constants moved")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["kserve", "prometheus-operator"])
    parser.add_argument("git_dir", type=Path)
    parser.add_argument("--ref")
    args = parser.parse_args()
    if args.source == "kserve":
        data = kserve(args.git_dir, args.ref or "v0.20.0")
        data["repository"] = "github.com/kserve/kserve"
    else:
        data = extract(args.git_dir, args.ref or "v0.93.0", PROM_CRDS)
        data["repository"] = "github.com/prometheus-operator/prometheus-operator"
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{args.source}.json"
    target.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{target}: {target.stat().st_size // 1024} KiB ({data['ref']}, {data['commit'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
