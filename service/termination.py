"""Work to start the moment SIGTERM (or SIGINT) arrives.

uvicorn, on SIGTERM, stops accepting HTTP connections, waits for the open ones (up to
--shutdown-timeout-s), and only then runs the lifespan shutdown. The gRPC server must stop
taking calls at the signal too, and drain alongside HTTP, not after it: so its stop is
started from a handler chained in front of uvicorn's.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def on_termination(callback: Callable[[], None]) -> bool:
    """Run `callback` in this event loop when a termination signal arrives, then let the
    previous handler (uvicorn's) run. Only in the main thread (where signals are handled);
    returns whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        previous = signal.getsignal(sig)

        def handler(
            signum: int,
            frame: FrameType | None,
            previous: object = previous,
        ) -> None:
            loop.call_soon_threadsafe(callback)
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)
    return True
