"""One virtualenv per peer system under a cache directory, built on demand and reused.

A venv is reused when its marker file lists exactly the peer's requirements and the Python
it was made with; otherwise it is rebuilt (`python -m venv --clear`, then pip install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.peers.systems import Peer

DEFAULT_CACHE = Path.home() / ".cache" / "rnn-serving" / "peers"
MARKER = ".bench-requirements"
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_PEERS_CACHE", str(DEFAULT_CACHE)))


def marker_text(peer: Peer, base_python: Path = BASE_PYTHON) -> str:
    return "\n".join([f"python {base_python}", *peer.requirements]) + "\n"


def is_current(venv: Path, peer: Peer, base_python: Path = BASE_PYTHON) -> bool:
    marker = venv / MARKER
    python = venv / "bin" / "python"
    return (
        python.exists()
        and marker.exists()
        and marker.read_text(encoding="utf-8") == marker_text(peer, base_python)
    )


def ensure(peer: Peer, root: Path | None = None, log: Path | None = None) -> Path:
    """The peer venv's python, building the venv first when it is missing or stale."""
    venv = (root or cache_dir()) / peer.name
    python = venv / "bin" / "python"
    if is_current(venv, peer):
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = log or venv.parent / f"{peer.name}.build.log"
    with log.open("w", encoding="utf-8") as sink:
        subprocess.run([str(BASE_PYTHON), "-m", "venv", "--clear", str(venv)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *peer.requirements],
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
        raise RuntimeError(f"pip install for {peer.name} failed (see {log}):\n{tail}")
    (venv / MARKER).write_text(marker_text(peer), encoding="utf-8")
    return python


_PROBE = """
import json, platform, sys, sysconfig
from importlib import metadata
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps({"python": platform.python_version(), "libdir": sysconfig.get_config_var(
    "LIBDIR"), "versions": versions}))
"""


def describe(python: Path, peer: Peer) -> dict[str, Any]:
    """Python version, libpython's directory and the recorded packages' versions in the venv."""
    done = subprocess.run(
        [str(python), "-c", _PROBE, *peer.packages],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))
