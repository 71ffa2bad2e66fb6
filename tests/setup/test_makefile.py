"""`make` in a temporary copy of the Makefile and scripts/ensure-venv.sh, with fake interpreters.

A fake interpreter reports the version it was made with and `-m venv DIR` makes a fake venv
(its own copy as DIR/bin/python, a no-op pip), so every path runs for real in make and bash
without installing anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/usr/bin/env bash
version={version}
case "$1" in
    -c) echo "$version" ;;
    -m)
        if [ "$2" = venv ]; then
            mkdir -p "$3/bin"
            cp "$0" "$3/bin/python"
            printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip"
            chmod +x "$3/bin/pip"
            touch "$3/made-by-$version"
        fi ;;
esac
"""


def fake_python(directory: Path, version: str, name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"python-{version}")
    path.write_text(FAKE_PYTHON.format(version=version), encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", copy / "Makefile")
    shutil.copy2(REPO / "scripts" / "ensure-venv.sh", copy / "scripts" / "ensure-venv.sh")
    return copy


def make(
    project: Path, *args: str, path_first: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHON", "VENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_fake_venv(project: Path, version: str) -> Path:
    venv = project / ".venv"
    fake_python(venv / "bin", version, "python")
    (venv / "old-file").touch()
    return venv


def test_unsupported_python_is_refused_before_any_venv(project: Path, tmp_path: Path) -> None:
    old = fake_python(tmp_path / "bin", "3.10.4")
    result = make(project, "install-serve", f"PYTHON={old}")
    assert result.returncode != 0
    assert f"PYTHON={old} is Python 3.10.4" in result.stderr
    assert "supports Python 3.11, 3.12, 3.13" in result.stderr
    assert "make PYTHON=python3.12 install-serve" in result.stderr
    assert not (project / ".venv").exists()


def test_missing_python_is_named(project: Path) -> None:
    result = make(project, "serve", "PYTHON=no-such-python3")
    assert result.returncode != 0
    assert "PYTHON=no-such-python3: no such command" in result.stderr
    assert "make PYTHON=python3.12 serve" in result.stderr
    assert not (project / ".venv").exists()


def test_supported_python_makes_the_venv(project: Path, tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin", "3.12.1")
    result = make(project, "venv", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert (project / ".venv" / "made-by-3.12.1").exists()


def test_venv_of_an_unsupported_python_is_rebuilt(project: Path, tmp_path: Path) -> None:
    make_fake_venv(project, "3.10.4")
    fake_python(tmp_path / "bin", "3.11.7", "python3")  # the default PYTHON
    result = make(project, "venv", path_first=tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    assert "made by Python 3.10.4: rebuilding it" in result.stderr
    assert (project / ".venv" / "made-by-3.11.7").exists()
    assert not (project / ".venv" / "old-file").exists()


def test_venv_whose_python_is_gone_is_rebuilt(project: Path, tmp_path: Path) -> None:
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "uninstalled-python")
    python = fake_python(tmp_path / "bin", "3.13.0")
    result = make(project, "venv", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert "a Python that no longer runs: rebuilding it" in result.stderr
    assert (venv / "made-by-3.13.0").exists()


def test_explicit_python_of_another_version_rebuilds(project: Path, tmp_path: Path) -> None:
    make_fake_venv(project, "3.11.7")
    python = fake_python(tmp_path / "bin", "3.12.1")
    result = make(project, "venv", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert (project / ".venv" / "made-by-3.12.1").exists()
    assert not (project / ".venv" / "old-file").exists()


def test_good_venv_is_kept(project: Path, tmp_path: Path) -> None:
    make_fake_venv(project, "3.12.1")
    fake_python(tmp_path / "bin", "3.11.7", "python3")
    same = fake_python(tmp_path / "bin", "3.12.1")
    for args in ([], [f"PYTHON={same}"]):  # the default PYTHON, or the venv's own version
        result = make(project, "venv", *args, path_first=tmp_path / "bin")
        assert result.returncode == 0, result.stderr
        assert (project / ".venv" / "old-file").exists()


def test_clean_removes_the_venv_and_caches_only(project: Path) -> None:
    make_fake_venv(project, "3.11.7")
    made = [".pytest_cache", ".mypy_cache", ".ruff_cache", "rnn_serving.egg-info"]
    made += ["service/__pycache__", "tests/service/__pycache__"]
    for name in made:
        (project / name).mkdir(parents=True)
        (project / name / "x").touch()
    (project / "service" / "app.py").touch()
    result = make(project, "clean")
    assert result.returncode == 0, result.stderr
    assert not (project / ".venv").exists()
    assert [name for name in made if (project / name).exists()] == []
    assert (project / "service" / "app.py").exists() and (project / "Makefile").exists()


def test_help_is_the_default_and_lists_the_targets(project: Path) -> None:
    result = make(project)
    assert result.returncode == 0, result.stderr
    for target in ("serve", "test", "install-serve", "install-all", "lint", "clean", "help"):
        assert re.search(rf"^  {target} +\S", result.stdout, re.M), target
    assert result.stdout == make(project, "help").stdout


def test_supported_versions_match_requires_python() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.M)
    assert listed
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    allowed = SpecifierSet(pyproject["project"]["requires-python"])
    minors = [f"3.{minor}" for minor in range(8, 20)]
    assert listed.group(1).split() == [v for v in minors if f"{v}.0" in allowed]


def test_readme_starts_with_the_two_commands_and_ci_runs_make_test() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert first_block
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make serve", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
