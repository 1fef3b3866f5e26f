"""The OpenAPI document is the truth: schemathesis runs every operation of the local app,
authenticated as admin, with every check, and none may fail.

Each catalog route is one test (so `-n 2` shares them out), run by schemathesis' engine, the one
its command line uses: examples, coverage (which sends undeclared methods, missing headers and
values at the schema's edges) and fuzzing. Bounded so that `make test` stays fast: a few examples
per operation, derandomised so that CI sends the same requests on every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status
from schemathesis.engine import events as engine_events

from tests.conftest import Keys
from trading_system.catalog import Function, Http, http_functions
from trading_system.entrypoints.http.bodies import GuardedRoute
from trading_system.entrypoints.http.routes import router_of

EXAMPLES_PER_OPERATION = 25


def _route(function: Function) -> Http:
    assert isinstance(function.trigger, Http)
    return function.trigger


FUNCTIONS = http_functions()
# positive_data_acceptance's own default: what a request the schema allows may be answered
POSITIVE_ANSWERS = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _config(function: Function, keys: Keys) -> SchemathesisConfig:
    # A route whose catalog entry says it checks more than its schema can say (a rule
    # language, a file's contents) documents a 422 for it: a schema-valid request may get one.
    positive_answers = [*POSITIVE_ANSWERS, "422"] if function.also_checks else POSITIVE_ANSWERS
    return SchemathesisConfig.from_dict(
        {
            "headers": keys.header("admin"),
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": positive_answers},
            },
            # About speed and size only: the app runs in-process and examples are few on purpose.
            "suppress-health-check": ["too_slow", "data_too_large", "large_base_example"],
        }
    )


def _failures(stream: Iterator[engine_events.EngineEvent]) -> list[str]:
    """Every distinct failure of a run, as schemathesis words it, with a curl to reproduce it."""
    found: dict[tuple[str, str], str] = {}
    for event in stream:
        if isinstance(event, engine_events.ScenarioFinished):
            failed = [
                (check.name, check.failure_info)
                for checks in event.recorder.checks.values()
                for check in checks
                if check.status is Status.FAILURE and check.failure_info is not None
            ]
            for name, info in failed:
                found[(name, info.failure.message)] = (
                    f"{name}: {info.failure.title}\n{info.failure.message}\n{info.code_sample}"
                )
        elif isinstance(event, engine_events.NonFatalError):
            found[("error", str(event.info))] = f"error: {event.info}"
        elif isinstance(event, engine_events.FatalError):
            found[("fatal", str(event.exception))] = f"fatal: {event.exception!r}"
    return list(found.values())


@pytest.mark.parametrize("function", FUNCTIONS, ids=[_route(f).route_key for f in FUNCTIONS])
def test_operation_answers_as_documented(function: Function, client: TestClient, keys: Keys) -> None:
    route = _route(function)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app, config=_config(function, keys))
    operation = schema.include(method=route.method, path=route.path)
    failures = _failures(iter(schemathesis.engine.from_schema(operation).execute()))
    assert not failures, "\n\n".join(failures)


# Regressions the run found, pinned as plain tests so they fail by name.


@pytest.mark.parametrize("coerced", [0, 1, "false", "true", None])
def test_a_boolean_must_be_a_boolean(coerced: object, client: TestClient, keys: Keys) -> None:
    """`{"cancel_open_orders": 0}` used to be read as False, and halted trading."""
    answer = client.post(
        "/v1/trading/halt", json={"cancel_open_orders": coerced}, headers=keys.header("admin")
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "cancel_open_orders"
    assert client.get("/v1/trading/status", headers=keys.header("admin")).json()["halted"] is False


def test_an_integer_must_be_an_integer(client: TestClient, keys: Keys) -> None:
    body = {"strategy": "sma_cross", "symbols": ["AAA"], "sweep": {"random": {}, "samples": 2}, "seed": "7"}
    answer = client.post("/v1/sweeps", json=body, headers=keys.header("admin"))
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["seed"]


def test_only_bodies_with_booleans_or_integers_are_validated_twice() -> None:
    """The strict second look is for bodies that hold a boolean or an integer; a batch of bars,
    the largest body there is, has neither and is validated once."""

    def body_type(name: str) -> object:
        (route,) = router_of(name).routes
        assert isinstance(route, GuardedRoute)
        return route._body_type

    assert body_type("ingest_bars") is None
    assert body_type("halt_trading") is not None
    assert body_type("submit_sweep") is not None


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/orders", "GET, POST"),
        ("DELETE", "/v1/health", "GET"),
        ("PATCH", "/v1/orders/some-order", "DELETE, GET"),
        ("GET", "/v1/bars/files", "POST"),  # the literal path, not /v1/bars/{symbol}
    ],
)
def test_an_undeclared_method_is_a_405_naming_the_declared_ones(
    method: str, path: str, allowed: str, client: TestClient
) -> None:
    answer = client.request(method, path)  # no key: the method is wrong whoever asks
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allowed
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_document_declares_every_error_and_the_key(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    place_order = document["paths"]["/v1/orders"]["post"]
    assert {"ApiKey": []} in place_order["security"]
    errors = {status for status in place_order["responses"] if status[0] in "45"} - {"429"}  # API Gateway's
    assert errors == {"401", "403", "409", "413", "422", "500"}
    for status in errors:
        assert list(place_order["responses"][status]["content"]) == ["application/problem+json"]
    assert "security" not in document["paths"]["/v1/health"]["get"]
    # the schema says what the validation does: an empty account_id is refused, and documented so
    account_id = next(
        p for p in document["paths"]["/v1/orders"]["get"]["parameters"] if p["name"] == "account_id"
    )
    assert {"minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"}.items() <= account_id["schema"]["anyOf"][0].items()


def test_the_document_says_each_routes_throttle(client: TestClient) -> None:
    """In AWS, API Gateway answers 429 beyond a route's limits (catalog `Http.limits`)."""
    paths = client.get("/openapi.json").json()["paths"]
    place, read = (
        paths["/v1/orders"]["post"]["responses"]["429"],
        paths["/v1/orders"]["get"]["responses"]["429"],
    )
    assert "5 a second, bursts of 10" in place["description"]
    assert "50 a second, bursts of 100" in read["description"]
    assert "application/json" in place["content"]
