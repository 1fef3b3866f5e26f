"""Local log lines as JSON with Lambda's fields, and the correlation id of the work in progress
on each: set per HTTP request and per message the bus handles (issue 12, part 3)."""

from __future__ import annotations

import io
import json
import logging

from fastapi.testclient import TestClient

from tests.unit.test_bus import Deps, Greet, Greeted, GreetingHandlers
from trading_system.bootstrap import Container
from trading_system.entrypoints.local.logs import JsonLines, log_config
from trading_system.entrypoints.local.runner import build_local_app
from trading_system.kernel import correlation
from trading_system.kernel.bus import Handled, MessageBus, MessageContext

log = logging.getLogger("tests.json_logs")


def lines_logged(action: object) -> list[dict[str, object]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        action()  # type: ignore[operator]
    finally:
        log.removeHandler(handler)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_has_lambdas_fields_and_the_correlation_id() -> None:
    def work() -> None:
        with correlation.correlated("corr-7"):
            log.info("placed %s", "ord-1")
        log.warning("no work in progress")

    first, second = lines_logged(work)
    assert set(first) >= {"level", "location", "message", "timestamp", "service", "correlation_id"}
    assert (first["level"], first["message"], first["correlation_id"]) == ("INFO", "placed ord-1", "corr-7")
    assert first["service"] == "trading" and str(first["location"]).startswith("work:")
    assert "correlation_id" not in second


def test_the_bus_correlates_each_handler_and_the_subscribers_it_wakes() -> None:
    def greet(cmd: Greet) -> Handled[None]:
        log.info("greeting %s", cmd.name)
        return Handled(None, (Greeted(name=cmd.name),))

    def record(event: Greeted) -> None:
        log.info("recorded %s", event.name)

    class Handlers(GreetingHandlers):
        def subscriber(self, name: str):  # type: ignore[no-untyped-def]
            return record

    deps = Deps()
    deps.bus = MessageBus(Handlers(commands={Greet: greet}), deps)  # type: ignore[arg-type]
    lines = lines_logged(lambda: deps.bus.execute(Greet(name="ada"), MessageContext(correlation_id="c-42")))  # type: ignore[union-attr]
    assert [(line["message"], line["correlation_id"]) for line in lines] == [
        ("greeting ada", "c-42"),
        ("recorded ada", "c-42"),
    ]


def test_an_http_request_runs_under_its_correlation_id(container: Container) -> None:
    seen: list[str | None] = []
    container.bus.observers.append(lambda envelope: seen.append(correlation.current.get()))
    with TestClient(build_local_app(container, background=False)) as client:
        client.post(
            "/v1/symbols", json={"symbol": "CORR"}, headers={"x-correlation-id": "req-1", **_admin(container)}
        )
    assert seen == ["req-1"]


def test_the_json_format_reaches_every_handler_of_the_server() -> None:
    config = log_config("INFO", "json")
    assert {f["()"] for f in config["formatters"].values()} == {JsonLines}
    assert log_config("INFO")["formatters"]["default"].get("()") is not JsonLines


def _admin(container: Container) -> dict[str, str]:
    from trading_system.identity.commands import CreateApiKey
    from trading_system.kernel.principal import Role

    return {"x-api-key": container.bus.execute(CreateApiKey(role=Role.ADMIN)).api_key}
