"""The in-container security check shared by scripts/pod_run.py and scripts/kube_play.py."""

from __future__ import annotations

_SECURITY = """
import os, pathlib, sys
status = dict(line.split(":", 1) for line in open("/proc/1/status"))
problems = []
if os.getuid() != {uid} or os.getgid() != {uid}:
    problems.append(f"runs as {{os.getuid()}}:{{os.getgid()}}")
if int(status["CapEff"].strip(), 16) or int(status["CapBnd"].strip(), 16):
    problems.append(f"capabilities {{status['CapEff'].strip()}} / {{status['CapBnd'].strip()}}")
if status["NoNewPrivs"].strip() != "1":
    problems.append("no_new_privs is off")
if status["Seccomp"].strip() != "2":
    problems.append("no seccomp filter")
for path in ("/app/probe", "/opt/venv/probe", "/probe"):
    try:
        pathlib.Path(path).touch()
        problems.append(f"{{path}} is writable")
    except OSError:
        pass
pathlib.Path("/tmp/probe").touch()  # the emptyDir must be writable
"""


def security_script(uid: int, extra: str = "") -> str:
    """Python source to run in the container (python -c): exits non-zero with the problems
    unless PID 1 runs as uid:uid with no capabilities, no_new_privs and a seccomp filter, the
    root filesystem is read-only and /tmp writable. `extra` (more checks appending to
    `problems`) runs before the exit."""
    return _SECURITY.format(uid=uid) + extra + '\nsys.exit("; ".join(problems) or None)\n'
