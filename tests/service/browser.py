"""Headless Debian Chromium for tests: installed with apt when missing, never downloaded.

Every run gets a fresh profile and a host resolver that fails every name but 127.0.0.1, so a
page that needs the internet (a CDN script, web fonts) renders as it would on a machine with
no outbound network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def ensure_chromium() -> str:
    """The chromium executable; installs Debian's package first if it is missing (as root)."""
    found = shutil.which(CHROMIUM)
    if found:
        return found
    assert os.geteuid() == 0, "chromium is missing: apt-get install -y chromium (needs root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", CHROMIUM]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-3000:]}"
    found = shutil.which(CHROMIUM)
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


def _run(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [ensure_chromium(), *FLAGS, f"--user-data-dir={profile}", *options, url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, f"chromium failed on {url}:\n{result.stderr[-3000:]}"
    return result


def dump_dom(url: str, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran for up to `budget_ms` of virtual time."""
    return _run(url, f"--virtual-time-budget={budget_ms}", "--dump-dom").stdout


def screenshot(url: str, path: Path, size: tuple[int, int] = (1280, 1800)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        url,
        "--virtual-time-budget=10000",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={path}",
    )
    assert path.stat().st_size > 10_000, f"{path} looks empty"
