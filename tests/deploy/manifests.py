"""Rendering the Kustomize trees under deploy/kubernetes with the pinned kubectl (no cluster)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
# The Kubernetes versions every object must validate against (kubernetes-validate's schemas):
# the oldest the manifests support (the preStop `sleep` action is on by default from 1.30;
# matchLabelKeys and the PDB's unhealthyPodEvictionPolicy from 1.27) and the newest bundled.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KUBERNETES_VERSION = KUBERNETES_VERSIONS[0]

Obj = dict[str, Any]


def tool(name: str) -> str:
    """A tool of the project's venv (dev extra), else from PATH."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed (it is in the dev extra: make install-all)"
    return found


def kustomizations() -> list[Path]:
    """Every renderable kustomization (Components are rendered through the overlays using
    them), as paths relative to deploy/kubernetes."""
    found = []
    for path in sorted(KUBERNETES.rglob("kustomization.yaml")):
        kind = yaml.safe_load(path.read_text(encoding="utf-8")).get("kind", "Kustomization")
        if kind == "Kustomization":
            found.append(path.parent.relative_to(KUBERNETES))
    return found


@functools.cache
def _render(directory: str) -> str:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(KUBERNETES / directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout


def render(directory: Path | str) -> list[Obj]:
    """The objects of one kustomization, freshly parsed (callers may mutate them)."""
    return [doc for doc in yaml.safe_load_all(_render(str(directory))) if doc]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[Obj], kind: str) -> Obj:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
