"""The catalog is the single source of truth: nothing exists outside it, and everything in it
has its code."""

from __future__ import annotations

import gc
import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trading_system.bootstrap import all_handlers, event_handler, step_commands
from trading_system.catalog import (
    CATALOG,
    Every,
    FanOut,
    FileDropped,
    Http,
    On,
    Resource,
    by_name,
    route_roles,
    subscriptions,
)
from trading_system.entrypoints import garbage
from trading_system.entrypoints.http.routes import all_routers
from trading_system.entrypoints.scheduled import scheduled_command
from trading_system.entrypoints.schemas import domain_events
from trading_system.kernel import kinds
from trading_system.kernel.messages import Command, Event

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def test_names_are_unique() -> None:
    assert len(by_name()) == len(CATALOG)


def test_every_function_module_is_in_the_catalog_and_every_entry_has_its_module() -> None:
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in FUNCTIONS.rglob("*.py")
        if path.name not in ("__init__.py", "catalog.py")
    }
    # An entry's module and handler are derived from its context and name (functions/<context>/<name>.py).
    assert modules == {f.module for f in CATALOG}


def test_every_route_has_exactly_its_router_and_no_router_is_extra() -> None:
    http = {f.name: f.trigger for f in CATALOG if isinstance(f.trigger, Http)}
    ROUTERS = all_routers()  # noqa: N806
    assert set(ROUTERS) == set(http)
    for name, trigger in http.items():
        routes = ROUTERS[name].routes
        assert len(routes) == 1, name
        route = routes[0]
        assert route.path == trigger.path, name  # type: ignore[attr-defined]
        assert route.methods == {trigger.method}, name  # type: ignore[attr-defined]


def test_only_public_routes_go_without_a_role() -> None:
    # health, and webhooks' alerts, whose own secret is their authentication (strategies/webhooks.py)
    public = [key for key, role in route_roles().items() if role is None]
    assert public == ["GET /v1/health", "POST /v1/hooks/{webhook_id}"]


def test_every_subscription_has_its_handler_taking_its_event() -> None:
    domain_events()  # every context's events registered, whatever ran before this test
    for event, names in subscriptions().items():
        assert event in Event.registry, f"subscription to unknown event {event}"
        for name in names:
            if isinstance(by_name()[name].trigger, FanOut):
                continue  # see test_every_fan_out_names_its_steps_and_plans_from_its_event
            handler = event_handler(name)
            first = next(iter(inspect.signature(handler).parameters.values()))
            # annotations are strings here (postponed evaluation): the event's class name, or a
            # union of the function's events
            named = {part.strip() for part in str(first.annotation).split("|")}
            takes = event in named or first.annotation is Event.registry[event]
            assert takes, f"{name} does not take {event}"


def test_every_fan_out_names_its_steps_and_plans_from_its_event() -> None:
    fan_outs = [f for f in CATALOG if isinstance(f.trigger, FanOut)]
    assert fan_outs
    for function in fan_outs:
        fan_out = function.trigger
        assert isinstance(fan_out, FanOut)
        plan, each, finish = step_commands(function.context, fan_out)
        handlers = all_handlers()
        for kind in (plan, each, finish):
            assert handlers.command(kind), kind
        # the plan is built from the event's fields, and the finish is told the error
        event_fields = set(Event.registry[fan_out.event].model_fields)
        assert set(plan.model_fields) <= event_fields, f"{plan.__name__} needs what {fan_out.event} lacks"
        assert "error" in finish.model_fields
        assert 0 < fan_out.max_concurrency <= (function.concurrency or 1000)


def test_an_unknown_subscription_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no subscription named 'place_order'"):
        event_handler("place_order")  # an HTTP function, not a subscription


def test_every_schedule_sends_a_command_of_its_context() -> None:
    for function in CATALOG:
        if isinstance(function.trigger, Every):
            command = scheduled_command(function)
            assert issubclass(command, Command)
            assert command.__module__ == f"trading_system.{function.context}.commands"
            command()  # a schedule sends the command with its defaults


def test_one_function_ingests_dropped_files() -> None:
    assert [f.name for f in CATALOG if isinstance(f.trigger, FileDropped)] == ["ingest_dropped_file"]


def test_event_functions_and_schedules_have_no_role() -> None:
    for f in CATALOG:
        if not isinstance(f.trigger, Http):
            assert f.role is None, f.name


@pytest.mark.parametrize("function", CATALOG, ids=lambda f: f.name)
def test_each_function_module_builds_its_handler(
    function: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("functions.") and m != "trading_system.catalog"]:
        del sys.modules[name]
    module = importlib.import_module(function.module)  # type: ignore[attr-defined]
    assert callable(module.handler)


def test_each_function_module_turns_the_garbage_collector_back_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """functions/__init__.py turns the collector off for a function's init phase; the handler's
    `lambda_runtime.instrument`, which every function module ends with, turns it back on. A module
    that did not would leave its Lambda without a collector for as long as it lives."""
    monkeypatch.setenv("TRADING_DATA_DIR", str(tmp_path))
    threshold = gc.get_threshold()
    try:
        for function in CATALOG:
            sys.modules.pop(function.module, None)
            gc.disable()  # as functions/__init__.py leaves it, in a fresh process
            gc.set_threshold(*threshold)
            importlib.import_module(function.module)
            assert gc.isenabled(), f"{function.module} left the garbage collector off"
            assert gc.get_threshold()[0] == garbage.YOUNG_COLLECTION_EVERY, function.module
    finally:
        gc.enable()
        gc.set_threshold(*threshold)
        gc.unfreeze()  # what the imports froze: this process's, not a Lambda's


_PROBE = """
import json, os, sys
import {module} as m
print(json.dumps({{"duckdb": "duckdb" in sys.modules, "numpy": "numpy" in sys.modules,
                  "boto3": "boto3" in sys.modules, "pydantic_v1": "pydantic.v1" in sys.modules}}))
"""


@pytest.mark.parametrize("function", CATALOG, ids=lambda f: f.name)
def test_only_functions_that_read_the_lake_import_duckdb(function: object, tmp_path: Path) -> None:
    env = {**os.environ, "TRADING_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=function.module)],  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported["duckdb"] == function.reads_lake  # type: ignore[attr-defined]
    assert imported["duckdb"] or not imported["numpy"], "numpy only comes with the lake"
    assert not imported["boto3"], "the local runtime never needs boto3"
    assert not imported["pydantic_v1"], "FastAPI's check for pydantic.v1 models imports it (routes.py)"


def test_the_bus_finds_webhooks_handlers_in_their_own_table() -> None:
    from trading_system.bootstrap import ContextHandlers
    from trading_system.strategies import webhook_alerts, webhooking
    from trading_system.strategies.commands import CreateStrategy
    from trading_system.strategies.handlers import HANDLERS as STRATEGIES

    handlers = ContextHandlers()
    assert handlers.command(webhook_alerts.ReceiveWebhook) is webhook_alerts.receive_webhook
    assert handlers.command(webhooking.CreateWebhook) is webhooking.create_webhook
    assert handlers.query(webhooking.ListWebhooks) is webhooking.list_webhooks
    assert handlers.command(CreateStrategy) is STRATEGIES.command(CreateStrategy)


# Trading's command side, which a read never needs, and its read side, which a command never does.
_TRADING_COMMAND_SIDE = (
    "trading_system.trading.commands",
    "trading_system.trading.handlers",
    "trading_system.trading.risk",
    "trading_system.trading.broker",
    "trading_system.trading.execution",
    "trading_system.market_data.events",
)
_TRADING_READ_SIDE = ("trading_system.trading.queries", "trading_system.trading.query_handlers")
# Market Data's command side: a read of symbols needs none of it, a read of the lake only the bar
# columns (BarSeries is what it returns), and a read of backfill jobs the job's model, which holds
# its request (a command): neither needs the commands' handlers, the jobs or the events. No
# command needs the queries or their handlers.
_MD_HANDLERS_SIDE = (
    "trading_system.market_data.handlers",
    "trading_system.market_data.events",
    "trading_system.entrypoints.http.market_data_commands",
)
_MD_COMMAND_SIDE = (
    *_MD_HANDLERS_SIDE,
    "trading_system.market_data.commands",
    "trading_system.market_data.jobs",
    "trading_system.market_data.bar_batch",
    "trading_system.adapters.bar_files",
)
_MD_LAKE_READ_UNNEEDED = (
    *_MD_HANDLERS_SIDE,
    "trading_system.market_data.commands",
    "trading_system.market_data.jobs",
    "trading_system.adapters.bar_files",
)
_MD_JOB_READ_UNNEEDED = (
    *_MD_HANDLERS_SIDE,
    "trading_system.market_data.bar_batch",
    "trading_system.adapters.bar_files",
)
_MD_READ_SIDE = (
    "trading_system.market_data.queries",
    "trading_system.market_data.query_handlers",
    "trading_system.entrypoints.http.market_data_queries",
    "trading_system.entrypoints.http.market_data_backfills",
)
# What an alert's receipt needs, which managing webhooks never does.
_WEBHOOK_ALERTS_SIDE = (
    "trading_system.strategies.webhook_alerts",
    "trading_system.entrypoints.http.webhook_alerts",
    "trading_system.trading.commands",
    "trading_system.trading.orders",
    "trading_system.scanning.commands",
)
_OTHER_CONTEXTS_THAN_ALERTS = (
    "trading_system.trading.events",
    "trading_system.trading.queries",
    "trading_system.strategies.events",
    "trading_system.strategies.queries",
    "trading_system.scanning.events",
    "trading_system.scanning.queries",
)

_FIRST_REQUEST = """
import json, sys
from pathlib import Path
import {module} as function


class LambdaContext:  # what Powertools reads of it
    function_name = "probe"
    memory_limit_in_mb = 256
    aws_request_id = "probe"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"


event = json.loads(Path("events/http/{name}.json").read_text())
response = function.handler(event, LambdaContext())
print(json.dumps({{"status": response["statusCode"], "loaded": sorted(sys.modules)}}))
"""


@pytest.mark.parametrize(
    ("name", "table", "unneeded"),
    [
        ("list_orders", "trading_system.trading.query_handlers", _TRADING_COMMAND_SIDE),
        ("get_order", "trading_system.trading.query_handlers", _TRADING_COMMAND_SIDE),
        ("place_order", "trading_system.trading.handlers", _TRADING_READ_SIDE),
        ("cancel_order", "trading_system.trading.handlers", _TRADING_READ_SIDE),
        ("list_alerts", "trading_system.alerts.handlers", _OTHER_CONTEXTS_THAN_ALERTS),
        ("get_alert", "trading_system.alerts.handlers", _OTHER_CONTEXTS_THAN_ALERTS),
        (
            "get_strategy",
            "trading_system.strategies.handlers",
            ("trading_system.strategies.webhooking", "trading_system.strategies.webhook_alerts"),
        ),
        # (create_webhook asks whose the account or scanner is: its first request loads those
        # contexts' query handlers, as it must; its import loads none of the alert side either)
        ("list_webhooks", "trading_system.strategies.webhooking", _WEBHOOK_ALERTS_SIDE),
        ("delete_webhook", "trading_system.strategies.webhooking", _WEBHOOK_ALERTS_SIDE),
        ("list_symbols", "trading_system.market_data.query_handlers", _MD_COMMAND_SIDE),
        ("get_symbol", "trading_system.market_data.query_handlers", _MD_COMMAND_SIDE),
        ("get_bars", "trading_system.market_data.query_handlers", _MD_LAKE_READ_UNNEEDED),
        ("list_corporate_actions", "trading_system.market_data.query_handlers", _MD_LAKE_READ_UNNEEDED),
        ("get_backfill", "trading_system.market_data.query_handlers", _MD_JOB_READ_UNNEEDED),
        ("list_backfills", "trading_system.market_data.query_handlers", _MD_JOB_READ_UNNEEDED),
        ("register_symbol", "trading_system.market_data.handlers", _MD_READ_SIDE),
        ("ingest_bars", "trading_system.market_data.handlers", _MD_READ_SIDE),
        ("submit_backfill", "trading_system.market_data.handlers", _MD_READ_SIDE),
    ],
)
def test_a_function_loads_only_what_its_route_needs(
    name: str, table: str, unneeded: tuple[str, ...], tmp_path: Path
) -> None:
    """A Trading read is answered from the views by the queries' own table (bootstrap.TABLES_APART),
    its route kept apart from the commands' (routes.kept_apart): neither its init nor its first
    request loads the command side (risk checks, broker, executions); nor a command's the read
    side's queries and their handlers. Alerts' routes load no other context: only its event
    subscriber and the creation of an alert (asking whose the source is) need them. Webhooks'
    routes and handlers (strategies/webhooking.py) are loaded by no other Strategies route, and
    managing webhooks loads none of what an alert's receipt imports (Trading's and Scanning's
    commands: strategies/webhook_alerts.py). Market Data's reads
    are answered by their own table too, their routes apart from the commands': none loads the
    commands' handlers (a read of symbols not even the commands), nor a command the queries. The
    data folder is empty: the request reaches its handler, which answers that nothing is there."""
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST.format(module=by_name()[name].module, name=name)],
        capture_output=True,
        text=True,
        env={**os.environ, "TRADING_DATA_DIR": str(tmp_path)},
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["status"] < 500
    assert table in answer["loaded"], "the request went through the bus to its handler table"
    assert not set(unneeded) & set(answer["loaded"])


def test_the_bus_finds_trading_queries_in_their_own_table() -> None:
    from trading_system.bootstrap import ContextHandlers
    from trading_system.trading import handlers, query_handlers
    from trading_system.trading.commands import PlaceOrder
    from trading_system.trading.queries import GetOrder, ListOrders

    found = ContextHandlers()
    assert found.query(GetOrder) is query_handlers.get_order
    assert found.query(ListOrders) is query_handlers.list_orders
    assert found.command(PlaceOrder) is handlers.place_order


def test_the_bus_finds_market_data_queries_in_their_own_table() -> None:
    from trading_system.bootstrap import ContextHandlers
    from trading_system.market_data import handlers, query_handlers
    from trading_system.market_data.commands import RegisterSymbol
    from trading_system.market_data.queries import GetBars, GetSymbol

    found = ContextHandlers()
    assert found.query(GetSymbol) is query_handlers.get_symbol
    assert found.query(GetBars) is query_handlers.get_bars
    assert found.command(RegisterSymbol) is handlers.register_symbol


def test_a_pydantic_v1_model_is_still_refused_once_pydantic_v1_is_loaded() -> None:
    import warnings

    from fastapi import APIRouter
    from fastapi.exceptions import PydanticV1NotSupportedError

    import trading_system.entrypoints.http.routes  # noqa: F401  (wraps FastAPI's check)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class Old(v1.BaseModel):
        x: int

    def endpoint() -> None: ...

    with pytest.raises(PydanticV1NotSupportedError):
        APIRouter().add_api_route("/old", endpoint, response_model=Old)


def test_only_identity_touches_api_keys_and_only_trading_kinds_move_money() -> None:
    """The grants read as a least-privilege table: an order function cannot touch API-key items,
    and only Identity's functions can."""
    for entry in CATALOG:
        if kinds.API_KEYS in entry.kinds:
            assert entry.context == "identity", entry.name
        if entry.context == "trading":
            assert kinds.API_KEYS not in entry.kinds
            assert kinds.SCANNERS not in entry.kinds
        if entry.context in ("market_data", "analytics", "scanning", "identity"):
            assert not any(k.startswith(("trading_", kinds.STREAM)) for k in entry.kinds), entry.name


def test_every_subscriber_may_keep_its_inbox() -> None:
    """A subscriber records each event it handled, so a redelivery is harmless (kernel/bus.py):
    without the table its first delivery in AWS would fail."""
    for entry in CATALOG:
        if isinstance(entry.trigger, On):
            assert entry.uses.get(Resource.TABLE) == "read_write", entry.name
            assert kinds.INBOX in entry.kinds, entry.name


def test_snap_start_is_only_where_a_person_waits_and_never_freezes_parameters() -> None:
    from trading_system.catalog import SNAP_STARTED, Function

    chosen = [f for f in CATALOG if f.snap_start]
    assert chosen and all(isinstance(f.trigger, SNAP_STARTED) for f in chosen)
    assert not any(Resource.PARAMETERS in f.uses for f in chosen)
    with pytest.raises(ValueError, match="SnapStart is for the functions a person waits on"):
        Function(name="x", context="trading", trigger=On("OrderPlaced"), summary="x", snap_start=True)
    with pytest.raises(ValueError, match="freeze its parameters"):
        Function(
            name="x",
            context="trading",
            trigger=Http("GET", "/x"),
            summary="x",
            uses={Resource.PARAMETERS: "read"},
            snap_start=True,
        )
