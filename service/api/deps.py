"""Dependencies of the control routers: the service state and its registry (503 until ready).

All `async def`: FastAPI runs a plain `def` dependency in a worker thread, which costs more
than the work on these paths.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.registry import Registry
from service.state import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.service_state
    return state


async def get_registry(request: Request) -> Registry:
    state: ServiceState = request.app.service_state
    return state.serving()


StateDep = Annotated[ServiceState, Depends(get_state)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
