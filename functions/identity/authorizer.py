"""Lambda: the HTTP API's authorizer (see trading_system/catalog.py)."""

from typing import Any

from trading_system.catalog import by_name
from trading_system.entrypoints.authorizer import decide
from trading_system.entrypoints.lambda_runtime import container_for, instrument

_container = container_for(by_name()["authorizer"])


def _authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return decide(_container, event)


handler = instrument(by_name()["authorizer"], _authorize)
