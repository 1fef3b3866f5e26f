"""What a route can ask for: the bus, and the message context of the caller.

Who the caller is comes from `request.state.principal`, set either by the local key check or,
in Lambda, from the authorizer's context (see app.py): routes do not know which.

Each is a coroutine, though none awaits: FastAPI runs a sync dependency in the thread pool, a
hop there and back per dependency per request, for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import Depends, Request

from trading_system.bootstrap import Container
from trading_system.kernel.bus import MessageBus, MessageContext
from trading_system.kernel.errors import Unauthorized
from trading_system.kernel.principal import Principal

CORRELATION_HEADER = "x-correlation-id"


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    return _container(request)


async def get_bus(request: Request) -> MessageBus:
    bus: MessageBus = _container(request).bus
    return bus


async def get_context(request: Request) -> MessageContext:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized()
    correlation_id = getattr(request.state, "correlation_id", None) or str(uuid4())
    return MessageContext(principal=principal, correlation_id=correlation_id)


Bus = Annotated[MessageBus, Depends(get_bus)]
Context = Annotated[MessageContext, Depends(get_context)]
Services = Annotated[Container, Depends(get_container)]
