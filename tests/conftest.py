"""In-process apps never open the default gRPC port: the suite may run beside a real service.

Tests that want gRPC pass `grpc_port` themselves; services started as subprocesses get a
clean environment (loadtest.process) and their own free ports, gRPC off unless asked for.
"""

from __future__ import annotations

import os

os.environ.setdefault("RNN_SERVE_GRPC_PORT", "0")
