"""CPU time a server spends, read from /proc: a measure of cost per request that another
job's load on the machine changes far less than it changes throughput."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(process_group: int, proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds of the live processes in `process_group` (Linux only)."""
    total_ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process exited while the directory was read
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == process_group:  # pgrp
            total_ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return total_ticks / _TICKS_PER_SECOND
