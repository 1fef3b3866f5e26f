"""THE list of functions: the single source of truth for the deployment topology.

CDK creates every Lambda, route, rule, schedule, trigger and IAM grant from this list, and the
local runner mounts every route, subscription and schedule from it. A function that is not here
does not exist anywhere (tests/unit/test_catalog.py holds the code to that).

A route's method and path, an event subscription and a fixed schedule are written here and only
here. The code each function runs is found from its context and name, never from a second table:
- Http: the endpoint `<name>` in `trading_system.entrypoints.http.<context>`;
- On: the event handler `<name>` in `trading_system.<context>.handlers`;
- Every: the command class named by the trigger, in `trading_system.<context>.commands`;
- FanOut: the three command classes named by the trigger, in `trading_system.<context>.commands`;
- Timetabled: the command class named by the trigger, in `trading_system.<context>.commands`;
- the Lambda module `functions/<context>/<name>.py`, five lines that call the runtime.
Schedules users create (a scanner's) are data, not topology: the catalog declares the timetable
they live in and the function they invoke (`Timetabled`), and the application fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from trading_system.kernel import kinds
from trading_system.kernel.principal import Role


@dataclass(frozen=True)
class Throttle:
    """How many requests a route takes, across every client: `rate` a second sustained, `burst`
    at once. In AWS, API Gateway enforces it per route and answers 429 beyond it."""

    rate: float
    burst: int


READS = Throttle(rate=50, burst=100)
WRITES = Throttle(rate=10, burst=20)
ORDERS = Throttle(rate=5, burst=10)  # orders move money: the strictest


@dataclass(frozen=True)
class Http:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    throttle: Throttle | None = None  # None: READS for GET, WRITES otherwise

    @property
    def limits(self) -> Throttle:
        if self.throttle is not None:
            return self.throttle
        return READS if self.method == "GET" else WRITES

    @property
    def route_key(self) -> str:
        """API Gateway's name for the route, e.g. `GET /v1/bars/{symbol}`."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, init=False)
class On:
    """A subscription to one or more domain event types on the bus, handled by
    `<context>.handlers.<name>` (whose message is one of them). Several events in one function
    keep what handles them serialised: one rule, one function, its reserved concurrency."""

    events: tuple[str, ...]

    def __init__(self, *events: str) -> None:
        if not events:
            raise ValueError("a subscription names at least one event")
        object.__setattr__(self, "events", events)


@dataclass(frozen=True)
class Every:
    """A schedule, in EventBridge syntax (`rate(5 minutes)` or `cron(0 1 * * ? *)`) and read in
    `timezone` (an IANA name, DST included), that sends the named command of the function's
    context (built with its defaults) each time it fires."""

    expression: str
    command: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class FileDropped:
    """A file landing in the raw-upload bucket (a watched folder locally)."""

    suffixes: tuple[str, ...] = (".csv", ".parquet")


@dataclass(frozen=True)
class Authorizer:
    """The API's Lambda authorizer: checks the key and the route's role."""


@dataclass(frozen=True)
class FanOut:
    """Work that one invocation cannot hold, started by a domain event and spread over many: the
    `plan` command (built from the event's fields) marks the work started and answers a
    `kernel.fan_out.FanOutPlan`; the `each` command runs once per item of the plan; the `finish`
    command runs once at the end, with `error` set when an item failed. Each names a command class
    of the function's context, and the one function handles all three.

    In AWS: a rule on the domain bus starts a Step Functions state machine whose Distributed Map
    invokes the function on the items, at most `max_concurrency` at a time. Locally: the in-process
    bus runs the plan, the items one after another, and the finish, in the subscriber's process."""

    event: str
    plan: str
    each: str
    finish: str
    max_concurrency: int

    @property
    def commands(self) -> tuple[str, str, str]:
        return (self.plan, self.each, self.finish)


@dataclass(frozen=True)
class Timetabled:
    """Schedules the application makes at run time, one per item of its own (each scanner with a
    schedule), in the timetable `group`: each time one fires, the function gets the named command
    of its context with `key` set to the item's id. Functions that create, change or delete the
    items write the timetable (`Resource.TIMETABLE`, same context).

    In AWS: an EventBridge Scheduler schedule group, one schedule per item invoking the function
    (nothing runs, and nothing is billed, between firings). Locally: the same expressions kept in
    the write store, fired by the local scheduler."""

    group: str
    command: str
    key: str


@dataclass(frozen=True, init=False)
class WebSocket:
    """Routes of the WebSocket API (`$connect`, `$disconnect`, an `action` of the protocol in
    entrypoints/stream.py, or `$default` for any other frame), all handled by the one function.
    Its answer to a message route is sent back to the client. Locally the hub
    (entrypoints/local/hub.py) serves the same routes itself."""

    routes: tuple[str, ...]

    def __init__(self, *routes: str) -> None:
        if not routes:
            raise ValueError("a WebSocket trigger names at least one route")
        object.__setattr__(self, "routes", routes)


@dataclass(frozen=True, init=False)
class Streamed:
    """The live stream's fan-out: the events pushed to WebSocket clients. In AWS a rule on the bus
    invokes the function, which posts each event to the connections subscribed to its channels;
    locally the hub is the bus's observer and needs no function (so this is not an `On`: the
    in-process bus does not route to it)."""

    events: tuple[str, ...]

    def __init__(self, *events: str) -> None:
        if not events:
            raise ValueError("a stream names at least one event")
        object.__setattr__(self, "events", events)


Trigger = Http | On | Every | FileDropped | FanOut | Authorizer | Timetabled | WebSocket | Streamed
# The triggers a person waits on (a request, its key check, a stream's frames): the only ones
# whose cold start SnapStart is worth paying for (`Function.snap_start`).
SNAP_STARTED: tuple[type, ...] = (Http, Authorizer, WebSocket)


class Resource(StrEnum):
    TABLE = "table"  # the write store: DynamoDB table / SQLite file
    LAKE = "lake"  # the Parquet lake: S3 bucket / local folder
    RAW = "raw"  # the raw-upload bucket / local folder
    BUS = "bus"  # the domain event bus: EventBridge / in-process
    TIMETABLE = "timetable"  # the context's run-time schedules: EventBridge Scheduler / the write store
    # Settings kept out of code (a provider's keys): SSM Parameter Store under the stack's path /
    # the settings file and environment (config.py)
    PARAMETERS = "parameters"
    # Where e-mail alerts are published: an SNS topic whose subscriptions are the alerts'
    # addresses, each filtered to its alert's messages / none locally (e-mail needs AWS)
    NOTIFY = "notify"


Access = Literal["read", "write", "read_write", "publish"]


class Layer(StrEnum):
    """A dependency layer a function needs beyond the two every function runs with (the packages
    of pyproject.toml's [project].dependencies, and the shared code). Each is built from the
    pyproject.toml extra of the same name (layers/build_layer.py) and attached in AWS only to the
    functions that name it here; locally the `local` extra installs it (it includes them all)."""

    CRYPTO = "crypto"  # CCXT, for the crypto exchanges (adapters/providers/ccxt_exchange.py)


@dataclass(frozen=True)
class Function:
    name: str
    context: str  # the folder under functions/ (identity, market_data, analytics, scanning, trading)
    trigger: Trigger
    summary: str
    role: Role | None = None  # None only for public routes and non-HTTP triggers
    uses: Mapping[Resource, Access] = field(default_factory=dict)
    memory_mb: int = 256
    timeout_s: int = 10
    concurrency: int | None = None  # reserved concurrency; 1 serialises read-modify-write jobs
    # HTTP statuses of errors a route can answer beyond those its shape implies (a key: 401/403;
    # a path id: 404; input: 422; a body: 413; a write to the table: 409; any: 500), so the
    # OpenAPI document lists every answer: e.g. 404 for a route that reads the default account.
    errors: tuple[int, ...] = ()
    # What a route checks that its request's schema cannot say (a rule language, a file's
    # contents, one field or another): a request the schema allows may still be a 422 for it,
    # and the OpenAPI document says so in the route's 422.
    also_checks: str | None = None
    # The table item kinds the function may touch, when its context's own (KINDS_BY_CONTEXT) are
    # not what it needs: in AWS a `dynamodb:LeadingKeys` condition on its table grant.
    table_kinds: tuple[str, ...] | None = None
    # The optional dependency layers the function's code needs (`Layer`); none for most.
    layers: tuple[Layer, ...] = ()
    # Lambda SnapStart (AWS only; docs/OPERATIONS.md): the function is initialised once, when a
    # version is published, and new instances resume from that snapshot, so a cold start skips
    # the imports and the client setup (entrypoints/snapstart.py restores what must be fresh).
    # Only where a person waits on the answer (`SNAP_STARTED`): each cached version is billed by
    # its memory around the clock, and each restore by its memory too (docs/COSTS.md).
    # `cdk deploy -c snapStart=false` turns it off for the whole stack.
    snap_start: bool = False

    def __post_init__(self) -> None:
        if self.snap_start and not isinstance(self.trigger, SNAP_STARTED):
            # An asynchronous invocation's cold start is on nobody's path: it would pay the
            # cache for nothing (and its triggers would need the alias too).
            raise ValueError(
                f"catalog entry {self.name!r}: SnapStart is for the functions a person waits on "
                f"({', '.join(t.__name__ for t in SNAP_STARTED)}), not {type(self.trigger).__name__}"
            )
        if self.snap_start and Resource.PARAMETERS in self.uses:
            # Settings are read at init (config.py): the snapshot would keep them until the next
            # deployment, whatever the operator changes in the parameter store meanwhile.
            raise ValueError(
                f"catalog entry {self.name!r}: SnapStart would freeze its parameters at deployment"
            )

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every item kind (an IAM `StringLike` pattern) the function may touch in the table; a
        subscriber also keeps its inbox there."""
        if Resource.TABLE not in self.uses:
            return ()
        granted = self.table_kinds if self.table_kinds is not None else KINDS_BY_CONTEXT.get(self.context, ())
        if isinstance(self.trigger, On):
            granted = (*granted, kinds.INBOX)
        if isinstance(self.trigger, Every | Timetabled):  # each run is recorded (entrypoints/scheduled.py)
            granted = (*granted, kinds.SCHEDULE_STATUS, kinds.owned(kinds.SCHEDULE_RUNS))
        return granted

    @property
    def module(self) -> str:
        return f"functions.{self.context}.{self.name}"

    @property
    def handler(self) -> str:
        """`module:attribute` of the Lambda entry point."""
        return f"{self.module}:handler"

    @property
    def reads_lake(self) -> bool:
        return Resource.LAKE in self.uses or Resource.RAW in self.uses


# What each context's functions may touch in the table (entries may say otherwise: `table_kinds`).
# Symbols are everyone's reference data; API keys are Identity's alone.
TRADING_KINDS: tuple[str, ...] = (
    kinds.ACCOUNTS,
    kinds.ORDERS,
    kinds.QUOTES,
    kinds.CONTROL,
    kinds.owned(kinds.ORDER_LISTS),
    kinds.owned(kinds.OPEN_ORDERS),
    kinds.owned(kinds.ACCOUNT_OPEN_ORDERS),
    kinds.owned(kinds.FILLS),
    kinds.streams(kinds.ORDER_STREAMS),
    kinds.streams(kinds.ACCOUNT_STREAMS),
    kinds.STREAM + kinds.CONTROL_STREAM,
    kinds.SYMBOLS,
)
KINDS_BY_CONTEXT: Mapping[str, tuple[str, ...]] = {
    "identity": (kinds.API_KEYS, kinds.TOKEN_REVOCATIONS),
    "market_data": (kinds.SYMBOLS, kinds.BACKFILLS, kinds.BACKFILL_JOBS),
    "analytics": (kinds.SYMBOLS, kinds.SCANNERS),
    "scanning": (kinds.SCANNERS, kinds.SIGNAL_KEYS, kinds.SYMBOLS, kinds.owned(kinds.TIMETABLES)),
    "trading": TRADING_KINDS,
    "strategies": (kinds.STRATEGIES, kinds.BACKTESTS, kinds.SWEEPS, kinds.DEPLOYMENTS, kinds.SYMBOLS),
}


def _http(
    name: str,
    context: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
    path: str,
    role: Role | None,
    summary: str,
    uses: Mapping[Resource, Access],
    memory_mb: int = 256,
    timeout_s: int = 10,
    errors: tuple[int, ...] = (),
    also_checks: str | None = None,
    throttle: Throttle | None = None,
    table_kinds: tuple[str, ...] | None = None,
    snap_start: bool = False,
) -> Function:
    return Function(
        name=name,
        context=context,
        trigger=Http(method, path, throttle),
        summary=summary,
        role=role,
        uses=uses,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        errors=errors,
        also_checks=also_checks,
        table_kinds=table_kinds,
        snap_start=snap_start,
    )


_READ_TABLE: Mapping[Resource, Access] = {Resource.TABLE: "read"}
_LAKE_MEMORY_MB = 1024  # DuckDB gets half of it
_SNAPSHOT_MEMORY_MB = 2048
_SNAPSHOT_WRITER: Mapping[Resource, Access] = {
    Resource.TABLE: "read_write",
    Resource.LAKE: "read_write",
    Resource.BUS: "publish",
}


# A scanner's schedule is kept beside it, in its context's timetable.
_SCANNER_WRITER: Mapping[Resource, Access] = {Resource.TABLE: "read_write", Resource.TIMETABLE: "write"}
_ORDER_WRITER: Mapping[Resource, Access] = {Resource.TABLE: "read_write", Resource.BUS: "publish"}
# A signal is claimed in the table, logged in the lake (one small Parquet file) and published.
_SIGNAL_WRITER: Mapping[Resource, Access] = {
    Resource.TABLE: "read_write",
    Resource.LAKE: "read_write",
    Resource.BUS: "publish",
}
_SIGNAL_MEMORY_MB = 512


def _crypto_pull(name: str, command: str, exchange: str) -> Function:
    """A crypto exchange's scheduled pull: Alpaca's, around the clock, with CCXT's layer."""
    tag = exchange.lower()
    return Function(
        name=name,
        context="market_data",
        # Crypto trades around the clock: every 5 minutes of every day, on the same marks as
        # Alpaca's pull, so a symbol's bars are at most 5 minutes old at any hour.
        trigger=Every("cron(0/5 * * * ? *)", command),
        summary=f"Fetch the newest 1m bars of the symbols that subscribe to {exchange} (tagged {tag})",
        # Public market data: no keys, so no parameters to read.
        uses={Resource.TABLE: "read_write", Resource.LAKE: "write", Resource.BUS: "publish"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=240,
        concurrency=1,
        layers=(Layer.CRYPTO,),
    )


TRADING: tuple[Function, ...] = (
    _http(
        "place_order",
        "trading",
        "POST",
        "/v1/orders",
        Role.TRADER,
        "Place an order (risk-checked)",
        _ORDER_WRITER,
        also_checks="a quantity or a notional, the prices its type needs, a known symbol",
        throttle=ORDERS,
        snap_start=True,  # a trader waits on it, often after a quiet spell (a new instance)
    ),
    _http(
        "list_orders",
        "trading",
        "GET",
        "/v1/orders",
        Role.VIEWER,
        "An account's orders, newest first",
        _READ_TABLE,
        errors=(404,),
    ),
    _http("get_order", "trading", "GET", "/v1/orders/{order_id}", Role.VIEWER, "One order", _READ_TABLE),
    _http(
        "cancel_order",
        "trading",
        "DELETE",
        "/v1/orders/{order_id}",
        Role.TRADER,
        "Cancel an open order",
        _ORDER_WRITER,
        throttle=ORDERS,
        snap_start=True,  # a cancel is often urgent: the market moved
    ),
    _http(
        "list_order_events",
        "trading",
        "GET",
        "/v1/orders/{order_id}/events",
        Role.VIEWER,
        "An order's history: every transition, who caused it and when",
        _READ_TABLE,
    ),
    _http(
        "list_positions",
        "trading",
        "GET",
        "/v1/positions",
        Role.VIEWER,
        "An account's positions marked to the latest price",
        _READ_TABLE,
        errors=(404,),
    ),
    _http(
        "get_account",
        "trading",
        "GET",
        "/v1/account",
        Role.VIEWER,
        "An account: cash, equity, buying power, day P&L",
        _READ_TABLE,
        errors=(404,),
    ),
    _http(
        "list_accounts",
        "trading",
        "GET",
        "/v1/accounts",
        Role.VIEWER,
        "The paper accounts the caller owns or may read (an admin: every one)",
        _READ_TABLE,
    ),
    _http(
        "create_account",
        "trading",
        "POST",
        "/v1/accounts",
        Role.ADMIN,
        "Create a paper account with a starting cash, costs and risk limits, for the caller or a named user",
        _ORDER_WRITER,
        also_checks="the starting cash is whole cents",
    ),
    _http(
        "reset_account",
        "trading",
        "POST",
        "/v1/accounts/{account_id}/resets",
        Role.ADMIN,
        "Cancel an account's open orders and start it again from a starting cash",
        _ORDER_WRITER,
        timeout_s=60,
        also_checks="the starting cash is whole cents",
    ),
    _http(
        "resume_account",
        "trading",
        "POST",
        "/v1/accounts/{account_id}/resume",
        Role.ADMIN,
        "Lift an account's loss-limit halt; its peak and day's loss start again from the equity now",
        _ORDER_WRITER,
    ),
    _http(
        "grant_account_reader",
        "trading",
        "POST",
        "/v1/accounts/{account_id}/readers",
        Role.ADMIN,
        "Let a user read an account (orders, positions, fills, P&L), not trade on it",
        _ORDER_WRITER,
    ),
    _http(
        "revoke_account_reader",
        "trading",
        "DELETE",
        "/v1/accounts/{account_id}/readers/{user}",
        Role.ADMIN,
        "Take back a user's read access to an account",
        _ORDER_WRITER,
    ),
    _http(
        "list_account_events",
        "trading",
        "GET",
        "/v1/accounts/{account_id}/events",
        Role.ADMIN,
        "An account's audit trail: every event, who caused it and when",
        _READ_TABLE,
    ),
    _http(
        "list_fills",
        "trading",
        "GET",
        "/v1/fills",
        Role.VIEWER,
        "An account's fills, newest first",
        _READ_TABLE,
        errors=(404,),
    ),
    _http(
        "get_pnl",
        "trading",
        "GET",
        "/v1/pnl",
        Role.VIEWER,
        "Realized P&L and commissions by market day or by symbol, from the fills in the lake",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
        errors=(404,),
    ),
    _http(
        "halt_trading",
        "trading",
        "POST",
        "/v1/trading/halt",
        Role.ADMIN,
        "Kill switch: reject every new order (optionally cancel the open ones)",
        _ORDER_WRITER,
        timeout_s=120,
        also_checks="the reason is printable text",
    ),
    _http(
        "resume_trading",
        "trading",
        "POST",
        "/v1/trading/resume",
        Role.ADMIN,
        "Lift the kill switch",
        _ORDER_WRITER,
    ),
    _http(
        "get_trading_status",
        "trading",
        "GET",
        "/v1/trading/status",
        Role.VIEWER,
        "Whether trading is halted, why and by whom",
        _READ_TABLE,
    ),
    Function(
        name="fill_orders",
        context="trading",
        trigger=On("BarsIngested"),
        summary="The paper broker: fill open orders on the new bars, keep the latest prices",
        uses={Resource.TABLE: "read_write", Resource.LAKE: "read", Resource.BUS: "publish"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=300,
    ),
    Function(
        name="record_fills",
        context="trading",
        trigger=On("OrderFilled"),
        summary="Write fills to the lake for history and P&L",
        # The table for its inbox only: a redelivered fill is not written twice.
        uses={Resource.LAKE: "write", Resource.TABLE: "read_write"},
        table_kinds=(),
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=60,
    ),
    Function(
        name="close_session",
        context="trading",
        # Every hour: each run expires the day orders whose own session has closed (a 24/7
        # symbol's at midnight UTC, an NYSE one's at 13:00 or 16:00 New York, DST and early
        # closes included), and marks the accounts only when the market's (XNYS) session closed
        # in the hour before it (trading/handlers.py): once per session, never on a holiday.
        trigger=Every("cron(0 * * * ? *)", "CloseSession"),
        summary="Hourly: expire day orders whose session has closed; at the US close, mark each "
        "account's equity for day P&L",
        uses=_ORDER_WRITER,
        timeout_s=300,
        concurrency=1,
    ),
)

_CORE: tuple[Function, ...] = (
    _http("health", "identity", "GET", "/v1/health", None, "Liveness and version", {}),
    _http("get_me", "identity", "GET", "/v1/me", Role.VIEWER, "The calling key's id and role", {}),
    _http(
        "list_schedules",
        "identity",  # platform-wide, as health and get_me are
        "GET",
        "/v1/schedules",
        Role.ADMIN,  # failures' descriptions are operators' detail (providers' answers, paths)
        "Every schedule with its last run, its last failure and its failures since its last success",
        _READ_TABLE,
        table_kinds=(kinds.SCHEDULE_STATUS,),
    ),
    Function(
        name="authorizer",
        context="identity",
        trigger=Authorizer(),
        summary="Checks the API key and the role the route requires",
        uses=_READ_TABLE,
        snap_start=True,  # every request with a role waits on it first: its cold start adds to all
    ),
    _http(
        "create_api_key",
        "identity",
        "POST",
        "/v1/keys",
        Role.ADMIN,
        "Create an API key (the secret is shown once)",
        {Resource.TABLE: "read_write"},
        also_checks="the label is printable text",
    ),
    _http("list_api_keys", "identity", "GET", "/v1/keys", Role.ADMIN, "List API keys", _READ_TABLE),
    _http(
        "revoke_api_key",
        "identity",
        "DELETE",
        "/v1/keys/{key_id}",
        Role.ADMIN,
        "Revoke an API key",
        {Resource.TABLE: "read_write"},
    ),
    _http(
        "register_symbol",
        "market_data",
        "POST",
        "/v1/symbols",
        Role.TRADER,
        "Register a symbol",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
        also_checks="its texts are printable",
    ),
    _http("list_symbols", "market_data", "GET", "/v1/symbols", Role.VIEWER, "List symbols", _READ_TABLE),
    _http(
        "get_symbol",
        "market_data",
        "GET",
        "/v1/symbols/{symbol}",
        Role.VIEWER,
        "A symbol and the data held for it",
        _READ_TABLE,
    ),
    _http(
        "ingest_bars",
        "market_data",
        "POST",
        "/v1/bars",
        Role.TRADER,
        "Ingest a JSON batch of bars",
        {Resource.TABLE: "read", Resource.LAKE: "write", Resource.BUS: "publish"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=30,
        also_checks="each bar has a symbol, its own or the batch's, and consistent prices",
    ),
    _http(
        "upload_bars",
        "market_data",
        "POST",
        "/v1/bars/files",
        Role.TRADER,
        "Ingest a CSV or Parquet file of bars",
        {Resource.TABLE: "read", Resource.LAKE: "write", Resource.BUS: "publish"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=30,
        also_checks="the file is a CSV or Parquet file of bars",
    ),
    _http(
        "get_bars",
        "market_data",
        "GET",
        "/v1/bars/{symbol}",
        Role.VIEWER,
        "Bars for a range, resampled from finer bars when needed",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
        also_checks="start is not after end",
        # The dashboard's first chart waits on it, and its cold start imports DuckDB and loads httpfs.
        snap_start=True,
    ),
    _http(
        "list_corporate_actions",
        "market_data",
        "GET",
        "/v1/symbols/{symbol}/corporate-actions",
        Role.VIEWER,
        "A symbol's splits and cash dividends, stored beside its bars",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "record_corporate_actions",
        "market_data",
        "POST",
        "/v1/symbols/{symbol}/corporate-actions",
        Role.TRADER,
        "Record a symbol's splits and cash dividends (the same again changes nothing)",
        {Resource.TABLE: "read", Resource.LAKE: "read_write"},
        memory_mb=_LAKE_MEMORY_MB,
        also_checks="a split has two positive rates, a dividend an amount and a currency; no ex-date twice",
    ),
    _http(
        "compact_lake",
        "market_data",
        "POST",
        "/v1/lake/compactions",
        Role.ADMIN,
        "Merge small lake files now",
        {Resource.LAKE: "read_write"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=300,
    ),
    _http(
        "submit_backfill",
        "market_data",
        "POST",
        "/v1/backfills",
        Role.ADMIN,  # it spends the provider's quota and writes everyone's market data
        "Check a backfill from a provider and queue it (202); it runs in the background",
        {Resource.TABLE: "read_write", Resource.BUS: "publish", Resource.PARAMETERS: "read"},
        also_checks="a known provider with its API key set, a range with a complete bar",
    ),
    _http(
        "list_backfills",
        "market_data",
        "GET",
        "/v1/backfills",
        Role.ADMIN,
        "Backfill jobs newest first, with their status and progress",
        _READ_TABLE,
    ),
    _http(
        "get_backfill",
        "market_data",
        "GET",
        "/v1/backfills/{backfill_id}",
        Role.ADMIN,
        "A backfill job: its request, status, bars so far, and its report or error",
        _READ_TABLE,
    ),
    Function(
        name="run_backfills",
        context="market_data",
        trigger=On("BackfillRequested"),
        summary="Run a queued backfill within a time budget, queueing the rest again when it is used up",
        uses={
            Resource.TABLE: "read_write",
            Resource.LAKE: "write",
            Resource.BUS: "publish",
            Resource.PARAMETERS: "read",  # the provider's keys
        },
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=900,
    ),
    Function(
        name="compact_lake_nightly",
        context="market_data",
        trigger=Every("cron(30 0 * * ? *)", "CompactLake"),
        summary="Merge small lake files every night",
        uses={Resource.LAKE: "read_write", Resource.TABLE: "read_write"},  # the table: its runs' record
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=900,
    ),
    Function(
        name="compact_ingests_often",
        context="market_data",
        # Every ingestion is a file until compacted, and a read opens each one of its symbol's:
        # a live 1m feed (a pull every 5 minutes, a bar a minute) would have a read open
        # hundreds by the evening. Every 10 minutes keeps it to a handful.
        trigger=Every("cron(0/10 * * * ? *)", "CompactIngests"),
        summary="Move ingest files into their symbols' partitions every 10 minutes",
        uses={Resource.LAKE: "read_write", Resource.TABLE: "read_write"},  # the table: its runs' record
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=300,
        concurrency=1,
    ),
    Function(
        name="ingest_dropped_file",
        context="market_data",
        trigger=FileDropped(),
        summary="Ingest a CSV/Parquet file dropped under <timeframe>/[<SYMBOL>/] in the raw bucket",
        uses={
            Resource.TABLE: "read",
            Resource.RAW: "read_write",
            Resource.LAKE: "write",
            Resource.BUS: "publish",
        },
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=300,
    ),
    _http(
        "get_indicators",
        "analytics",
        "GET",
        "/v1/indicators/{symbol}",
        Role.VIEWER,
        "Indicators of a symbol over a range (TA-Lib conventions)",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
        also_checks="the specs name known indicators with valid parameters; start is not after end",
    ),
    _http(
        "refresh_snapshot",
        "analytics",
        "POST",
        "/v1/snapshots/{timeframe}/refreshes",
        Role.ADMIN,
        "Rebuild a timeframe's indicator snapshot from the lake now",
        _SNAPSHOT_WRITER,
        memory_mb=_SNAPSHOT_MEMORY_MB,
        timeout_s=120,
    ),
    Function(
        name="refresh_snapshots",
        context="analytics",
        trigger=On("BarsIngested"),
        summary="Refresh the indicator snapshot of the ingested timeframe; raise crossover/pattern signals",
        uses=_SNAPSHOT_WRITER,
        memory_mb=_SNAPSHOT_MEMORY_MB,
        timeout_s=120,
        concurrency=1,
    ),
    _http(
        "create_scanner",
        "scanning",
        "POST",
        "/v1/scanners",
        Role.TRADER,
        "Create a scanner (rules are compiled and checked first)",
        _SCANNER_WRITER,
        also_checks="the rules parse",
    ),
    _http("list_scanners", "scanning", "GET", "/v1/scanners", Role.VIEWER, "List scanners", _READ_TABLE),
    _http(
        "get_scanner",
        "scanning",
        "GET",
        "/v1/scanners/{scanner_id}",
        Role.VIEWER,
        "One scanner",
        _READ_TABLE,
    ),
    _http(
        "update_scanner",
        "scanning",
        "PUT",
        "/v1/scanners/{scanner_id}",
        Role.TRADER,
        "Replace a scanner's definition",
        _SCANNER_WRITER,
        also_checks="the rules parse",
    ),
    _http(
        "delete_scanner",
        "scanning",
        "DELETE",
        "/v1/scanners/{scanner_id}",
        Role.TRADER,
        "Delete a scanner",
        _SCANNER_WRITER,
    ),
    _http(
        "run_scanner",
        "scanning",
        "POST",
        "/v1/scanners/{scanner_id}/runs",
        Role.TRADER,
        "Run a scanner now over its universe's snapshot",
        _SNAPSHOT_WRITER,
        memory_mb=_SNAPSHOT_MEMORY_MB,
        timeout_s=60,
    ),
    _http(
        "raise_signal",
        "scanning",
        "POST",
        "/v1/scanners/{scanner_id}/signals",
        Role.TRADER,
        "Raise a signal of an external scanner (once per symbol and bar)",
        _SIGNAL_WRITER,
        memory_mb=_SIGNAL_MEMORY_MB,
        also_checks="an external, enabled scanner of yours, a registered symbol in its universe, "
        "a ts not in the future",
    ),
    _http(
        "list_scan_runs",
        "scanning",
        "GET",
        "/v1/scanners/{scanner_id}/runs",
        Role.VIEWER,
        "A scanner's runs with their matches",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "list_signals",
        "scanning",
        "GET",
        "/v1/signals",
        Role.VIEWER,
        "Signals from the caller's scanners and from indicator crossovers/patterns",
        {Resource.TABLE: "read", Resource.LAKE: "read"},  # the table: which scanners are the caller's
        memory_mb=_LAKE_MEMORY_MB,
        errors=(404,),
    ),
    Function(
        name="run_scanners",
        context="scanning",
        trigger=On("IndicatorsCalculated"),
        summary="Run every scanner of the refreshed timeframe",
        uses=_SNAPSHOT_WRITER,
        memory_mb=_SNAPSHOT_MEMORY_MB,
        timeout_s=120,
        concurrency=1,
    ),
    Function(
        name="run_scheduled_scanner",
        context="scanning",
        trigger=Timetabled(group="scanners", command="RunScheduledScanner", key="scanner_id"),
        summary="Run a scanner when its own schedule fires (made with the scanner, no redeploy)",
        uses={**_SNAPSHOT_WRITER, Resource.TIMETABLE: "write"},
        memory_mb=_SNAPSHOT_MEMORY_MB,
        timeout_s=60,
        concurrency=1,
    ),
    Function(
        name="compact_signal_log_nightly",
        context="scanning",
        # After the bars' compaction, and once yesterday's last scans have surely written their
        # files (scanning.handlers.SIGNAL_LOG_SETTLE).
        trigger=Every("cron(15 1 * * ? *)", "CompactSignalLog"),
        summary="Merge each past day's signal files, and each scanner's run files of a day, every night",
        uses={Resource.LAKE: "read_write", Resource.TABLE: "read_write"},  # the table: its runs' record
        table_kinds=(),  # no item of its context: only its runs' record
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=900,
        concurrency=1,  # two at once would merge the same days twice
    ),
    Function(
        name="record_coverage",
        context="market_data",
        trigger=On("BarsIngested"),
        summary="Keep each symbol's first/last bar per timeframe up to date",
        uses={Resource.TABLE: "read_write"},
    ),
    Function(
        name="pull_alpaca_bars",
        context="market_data",
        # Every 5 minutes of New York's regular hours, DST included: scanners and live strategies
        # run on bars at most 5 minutes old, and nothing runs at night or at weekends.
        trigger=Every("cron(0/5 9-15 ? * MON-FRI *)", "PullAlpacaBars", timezone="America/New_York"),
        summary="Fetch the newest 1m bars of the symbols that subscribe to Alpaca (tagged alpaca)",
        uses={
            Resource.TABLE: "read_write",
            Resource.LAKE: "write",
            Resource.BUS: "publish",
            Resource.PARAMETERS: "read",  # the Alpaca keys
        },
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=240,
        concurrency=1,
    ),
    _crypto_pull("pull_binance_bars", "PullBinanceBars", "Binance"),
    _crypto_pull("pull_coinbase_bars", "PullCoinbaseBars", "Coinbase"),
    _crypto_pull("pull_kraken_bars", "PullKrakenBars", "Kraken"),
)


_BACKTEST_READER: Mapping[Resource, Access] = {Resource.TABLE: "read", Resource.LAKE: "read"}
# A deployment trades its paper account through Trading's commands, in the same function.
_DEPLOYMENT_KINDS = (*KINDS_BY_CONTEXT["strategies"], *TRADING_KINDS)

STRATEGIES: tuple[Function, ...] = (
    _http(
        "list_strategies",
        "strategies",
        "GET",
        "/v1/strategies",
        Role.VIEWER,
        "Every strategy that can be backtested (code and saved rules), with its parameters' JSON schema",
        _READ_TABLE,
    ),
    _http(
        "create_strategy",
        "strategies",
        "POST",
        "/v1/strategies",
        Role.TRADER,
        "Save a declarative strategy: entry and exit rules, sizing, stop-loss and take-profit",
        {Resource.TABLE: "read_write"},
        also_checks="the rules parse",
    ),
    _http(
        "get_strategy",
        "strategies",
        "GET",
        "/v1/strategies/{name}",
        Role.VIEWER,
        "A saved declarative strategy",
        _READ_TABLE,
    ),
    _http(
        "update_strategy",
        "strategies",
        "PUT",
        "/v1/strategies/{name}",
        Role.TRADER,
        "Replace a saved strategy's rules (backtests already run keep what they ran)",
        {Resource.TABLE: "read_write"},
        also_checks="the rules parse",
    ),
    _http(
        "delete_strategy",
        "strategies",
        "DELETE",
        "/v1/strategies/{name}",
        Role.TRADER,
        "Delete a saved strategy",
        {Resource.TABLE: "read_write"},
    ),
    _http(
        "submit_backtest",
        "strategies",
        "POST",
        "/v1/backtests",
        Role.TRADER,
        "Check a backtest and queue it (202); it runs in the background and keeps its results",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
        also_checks="symbols or a universe scanner, a known strategy and its parameters",
    ),
    _http(
        "list_backtests",
        "strategies",
        "GET",
        "/v1/backtests",
        Role.VIEWER,
        "Backtests newest first, with their status and statistics; `ids=` compares chosen ones",
        _READ_TABLE,
        errors=(404,),
    ),
    _http(
        "get_backtest",
        "strategies",
        "GET",
        "/v1/backtests/{backtest_id}",
        Role.VIEWER,
        "A backtest: its request, status, what it ran on and its statistics",
        _READ_TABLE,
    ),
    _http(
        "get_backtest_trades",
        "strategies",
        "GET",
        "/v1/backtests/{backtest_id}/trades",
        Role.VIEWER,
        "A completed backtest's trades",
        _BACKTEST_READER,
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "get_backtest_equity",
        "strategies",
        "GET",
        "/v1/backtests/{backtest_id}/equity",
        Role.VIEWER,
        "A completed backtest's equity and drawdown curves",
        _BACKTEST_READER,
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "delete_backtest",
        "strategies",
        "DELETE",
        "/v1/backtests/{backtest_id}",
        Role.TRADER,
        "Delete a backtest and its results",
        {Resource.TABLE: "read_write", Resource.LAKE: "read_write"},
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "submit_sweep",
        "strategies",
        "POST",
        "/v1/sweeps",
        Role.TRADER,
        "Check a parameter sweep (combinations, ceilings) and queue it (202)",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
        also_checks="a grid or a random search, symbols, a known strategy and its parameters",
    ),
    _http("list_sweeps", "strategies", "GET", "/v1/sweeps", Role.VIEWER, "Sweeps newest first", _READ_TABLE),
    _http(
        "get_sweep",
        "strategies",
        "GET",
        "/v1/sweeps/{sweep_id}",
        Role.VIEWER,
        "A sweep: its request, status, combinations and best results",
        _READ_TABLE,
    ),
    _http(
        "get_sweep_ranking",
        "strategies",
        "GET",
        "/v1/sweeps/{sweep_id}/ranking",
        Role.VIEWER,
        "A completed sweep's combinations, best first by a statistic",
        _BACKTEST_READER,
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "get_sweep_heatmap",
        "strategies",
        "GET",
        "/v1/sweeps/{sweep_id}/heatmap",
        Role.VIEWER,
        "A completed sweep's statistic over two parameters",
        _BACKTEST_READER,
        memory_mb=_LAKE_MEMORY_MB,
    ),
    _http(
        "delete_sweep",
        "strategies",
        "DELETE",
        "/v1/sweeps/{sweep_id}",
        Role.TRADER,
        "Delete a sweep and its results",
        {Resource.TABLE: "read_write", Resource.LAKE: "read_write"},
        memory_mb=_LAKE_MEMORY_MB,
    ),
    Function(
        name="run_sweeps",
        context="strategies",
        # A ceiling on a sweep's spread: ten blocks of backtests at a time (whatever is submitted).
        trigger=FanOut("SweepRequested", "PlanSweep", "RunSweepBlock", "FinishSweep", max_concurrency=10),
        summary="Run a queued sweep (at most 100,000 backtests) in blocks, keeping every statistic",
        uses={Resource.TABLE: "read_write", Resource.LAKE: "read_write", Resource.BUS: "publish"},
        memory_mb=10240,
        timeout_s=900,
        concurrency=20,  # and on all sweeps together: two sweeps' blocks at most
    ),
    _http(
        "create_deployment",
        "strategies",
        "POST",
        "/v1/deployments",
        Role.TRADER,
        "Deploy a strategy live: parameters, a universe and a paper account",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
        also_checks="symbols or a universe scanner, a known strategy and its parameters",
        table_kinds=_DEPLOYMENT_KINDS,
    ),
    _http(
        "list_deployments",
        "strategies",
        "GET",
        "/v1/deployments",
        Role.VIEWER,
        "Live deployments",
        _READ_TABLE,
    ),
    _http(
        "get_deployment",
        "strategies",
        "GET",
        "/v1/deployments/{deployment_id}",
        Role.VIEWER,
        "A deployment: its status, why it is paused, what it last decided on",
        _READ_TABLE,
    ),
    _http(
        "get_parity",
        "strategies",
        "GET",
        "/v1/deployments/{deployment_id}/parity",
        Role.VIEWER,
        "What the deployment did live beside what the backtest engine does on the same bars",
        {Resource.TABLE: "read", Resource.LAKE: "read"},
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=60,
        table_kinds=_DEPLOYMENT_KINDS,
    ),
    _http(
        "start_deployment",
        "strategies",
        "POST",
        "/v1/deployments/{deployment_id}/start",
        Role.TRADER,
        "Start (or resume) a deployment",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
        table_kinds=_DEPLOYMENT_KINDS,
    ),
    _http(
        "pause_deployment",
        "strategies",
        "POST",
        "/v1/deployments/{deployment_id}/pause",
        Role.TRADER,
        "Pause a deployment: it places no orders until started again",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
    ),
    _http(
        "stop_deployment",
        "strategies",
        "POST",
        "/v1/deployments/{deployment_id}/stop",
        Role.TRADER,
        "Stop a deployment for good (its orders and positions stay with the account)",
        {Resource.TABLE: "read_write", Resource.BUS: "publish"},
    ),
    Function(
        name="run_deployments",
        context="strategies",
        # One function for both, so that a deployment's decisions are made one at a time.
        trigger=On("BarsSettled", "SignalDetected"),
        summary="Running deployments decide on settled bars and their scanner's signals, and place orders",
        uses={Resource.TABLE: "read_write", Resource.LAKE: "read", Resource.BUS: "publish"},
        table_kinds=_DEPLOYMENT_KINDS,
        memory_mb=_LAKE_MEMORY_MB,
        timeout_s=120,
        concurrency=1,
    ),
    Function(
        name="pause_halted_account",
        context="strategies",
        trigger=On("AccountHalted"),
        summary="A loss limit halted an account: pause its live deployments",
        uses={Resource.TABLE: "read_write", Resource.BUS: "publish"},
    ),
    Function(
        name="run_backtests",
        context="strategies",
        trigger=On("BacktestRequested"),
        summary="Run a queued backtest and keep its trades and equity in the lake",
        uses={Resource.TABLE: "read_write", Resource.LAKE: "read_write", Resource.BUS: "publish"},
        memory_mb=3008,
        timeout_s=900,
    ),
)

# --- The live stream in AWS (issue 10, part 1): API Gateway WebSocket API + fan-out ---------------
_CONNECTION_KINDS = (kinds.WS_CONNECTIONS, kinds.owned(kinds.WS_CHANNELS))
# What a client may see: public market data and signals, its scanners' signals, and its accounts'
# orders and fills (entrypoints/stream.py says who may subscribe to which channel).
STREAMED_EVENTS = (
    "BarsIngested",
    "SymbolRegistered",
    "SignalGenerated",
    "SignalDetected",
    "OrderPlaced",
    "OrderAccepted",
    "OrderRejected",
    "OrderFilled",
    "OrderCanceled",
    "OrderExpired",
)
STREAM: tuple[Function, ...] = (
    Function(
        name="stream_connect",
        context="identity",  # it reads API keys, which only Identity's functions may
        trigger=WebSocket("$connect"),
        summary="Opens a stream connection for a key or token in the query string (the HTTP API's check)",
        uses={Resource.TABLE: "read_write"},
        table_kinds=(*KINDS_BY_CONTEXT["identity"], kinds.WS_CONNECTIONS),
    ),
    Function(
        name="stream_messages",
        context="stream",
        trigger=WebSocket("$disconnect", "subscribe", "unsubscribe", "ping", "$default"),
        summary="A stream client's subscribe, unsubscribe and ping frames, and its goodbye",
        uses={Resource.TABLE: "read_write"},
        # A subscription to an account's, a scanner's or a deployment's channel reads whose it is
        # (an account is folded from its event stream). The grant is the function's read_write:
        # a read-only grant per kind would be tighter (docs/SECURITY.md, "Not yet").
        table_kinds=(
            *_CONNECTION_KINDS,
            kinds.ACCOUNTS,
            kinds.streams(kinds.ACCOUNT_STREAMS),
            kinds.QUOTES,  # GetAccount's view values positions at the latest quotes
            kinds.SCANNERS,
            kinds.DEPLOYMENTS,
        ),
    ),
    Function(
        name="stream_fan_out",
        context="stream",
        trigger=Streamed(*STREAMED_EVENTS),
        summary="Posts each streamed event to the connections subscribed to its channels",
        uses={Resource.TABLE: "read_write"},
        table_kinds=_CONNECTION_KINDS,
        # One full vCPU: posting is CPU-bound (botocore signs and serialises each post, about
        # 2 ms of CPU; docs/BENCHMARKS.md, the fan-out on moto), so at 512 MB (0.3 vCPU) 1,000
        # connections take about 3x as long for about the same GB-seconds.
        memory_mb=1769,
        timeout_s=60,
    ),
)
# -----------------------------------------------------------------------------------------------

# --- Webhooks in (issue 10, part 3): a TradingView alert places an order or raises a signal -----
# A webhook's orders go through Trading's PlaceOrder in the same function, as a deployment's do;
# its signals through Scanning's RaiseSignal, as POST /v1/scanners/{id}/signals does.
_WEBHOOK_KINDS = (kinds.WEBHOOKS, kinds.SCANNERS, *TRADING_KINDS)
_WEBHOOK_HITS = kinds.owned(kinds.WEBHOOK_HITS)
WEBHOOKS: tuple[Function, ...] = (
    _http(
        "create_webhook",
        "strategies",
        "POST",
        "/v1/webhooks",
        Role.TRADER,
        "Create an inbound webhook mapping alerts to orders on a paper account, or to signals of an "
        "external scanner (its secret is shown once)",
        {Resource.TABLE: "read_write"},
        also_checks="the template's placeholders, an existing account or external scanner of yours",
        table_kinds=_WEBHOOK_KINDS,
    ),
    _http(
        "list_webhooks",
        "strategies",
        "GET",
        "/v1/webhooks",
        Role.TRADER,
        "Your webhooks (an admin's: everyone's), without their secrets",
        _READ_TABLE,
        table_kinds=(kinds.WEBHOOKS,),
    ),
    _http(
        "delete_webhook",
        "strategies",
        "DELETE",
        "/v1/webhooks/{webhook_id}",
        Role.TRADER,
        "Delete a webhook: its URL stops working at once",
        {Resource.TABLE: "read_write"},
        table_kinds=(kinds.WEBHOOKS, _WEBHOOK_HITS),
    ),
    _http(
        "receive_webhook",
        "strategies",
        "POST",
        "/v1/hooks/{webhook_id}",
        None,  # public: the webhook's own secret (and signature) is its authentication
        "Receive an alert: checked by the webhook's secret, mapped by its template, placed as an "
        "order or raised as a signal",
        _SIGNAL_WRITER,
        memory_mb=_SIGNAL_MEMORY_MB,
        errors=(401, 429),
        also_checks="the secret, the signature of a signed webhook, the payload's fields the template names",
        throttle=ORDERS,
        table_kinds=(*_WEBHOOK_KINDS, _WEBHOOK_HITS, kinds.SIGNAL_KEYS),
    ),
)
# -----------------------------------------------------------------------------------------------

# --- Alerts out (issue 10, part 4): chosen events delivered to URLs, chat and e-mail ------------
# Deliveries are the alerts' own retries (a failing receiver must not make the bus redeliver the
# event to every other alert): the subscriber tries each at once; while any delivery waits for
# another attempt, a schedule in the alerts' timetable tries the due ones each minute, and the
# run that finds none waiting removes it (no poller when nothing fails, docs/COSTS.md).
_ALERT_KINDS = (
    kinds.ALERTS,
    kinds.owned(kinds.ALERT_ROUTES),
    kinds.owned(kinds.ALERT_DELIVERIES),
    kinds.ALERT_RETRIES,
    kinds.owned(kinds.ALERT_HITS),
    kinds.owned(kinds.TIMETABLES),
)
# Creating an alert asks whose its source is: a scanner, an account (folded from its events), a
# deployment.
_ALERT_SOURCE_KINDS = (
    kinds.SCANNERS,
    kinds.DEPLOYMENTS,
    kinds.ACCOUNTS,
    kinds.streams(kinds.ACCOUNT_STREAMS),
    kinds.QUOTES,
)
_ALERT_SENDER: Mapping[Resource, Access] = {
    Resource.TABLE: "read_write",
    Resource.NOTIFY: "publish",
    Resource.BUS: "publish",
    Resource.TIMETABLE: "write",  # a delivery left waiting starts the retry schedule
}
ALERTS: tuple[Function, ...] = (
    _http(
        "create_alert",
        "alerts",
        "POST",
        "/v1/alerts",
        Role.TRADER,
        "Create an alert: a topic's events from one of your scanners, accounts or deployments, sent "
        "to a URL (signed; the signing key is shown once), a Slack or Discord webhook, or an e-mail address",
        {Resource.TABLE: "read_write", Resource.NOTIFY: "write"},
        errors=(503,),  # SNS did not take an e-mail alert's subscription
        also_checks="a source of yours the topic can come from, and a target this deployment may reach",
        table_kinds=(*_ALERT_KINDS, *_ALERT_SOURCE_KINDS),
    ),
    _http(
        "list_alerts",
        "alerts",
        "GET",
        "/v1/alerts",
        Role.TRADER,
        "Your alerts (an admin's: everyone's), without their signing keys",
        _READ_TABLE,
        table_kinds=(kinds.ALERTS,),
    ),
    _http(
        "get_alert",
        "alerts",
        "GET",
        "/v1/alerts/{alert_id}",
        Role.TRADER,
        "One alert, without its signing key",
        _READ_TABLE,
        table_kinds=(kinds.ALERTS,),
    ),
    _http(
        "delete_alert",
        "alerts",
        "DELETE",
        "/v1/alerts/{alert_id}",
        Role.TRADER,
        "Delete an alert: nothing more is sent, and its deliveries' records go with it",
        {Resource.TABLE: "read_write", Resource.NOTIFY: "write"},
        table_kinds=_ALERT_KINDS,
    ),
    _http(
        "list_alert_deliveries",
        "alerts",
        "GET",
        "/v1/alerts/{alert_id}/deliveries",
        Role.TRADER,
        "An alert's deliveries, newest first, with their status, attempts and last error",
        _READ_TABLE,
        table_kinds=(kinds.ALERTS, kinds.owned(kinds.ALERT_DELIVERIES)),
    ),
    _http(
        "retry_alert_delivery",
        "alerts",
        "POST",
        "/v1/alerts/{alert_id}/deliveries/{delivery_id}/retry",
        Role.TRADER,
        "Send a delivery again now (a failed one: a new round of attempts; a throttled one counts "
        "against the alert's rate limit, a 429 beyond it)",
        _ALERT_SENDER,
        table_kinds=_ALERT_KINDS,
        errors=(429,),
    ),
    Function(
        name="send_alerts",
        context="alerts",
        trigger=On(
            "SignalDetected",
            "OrderFilled",
            "OrderRejected",
            "AccountHalted",
            "DeploymentPaused",
            "AlertRetriesWaiting",  # the retry run asks for its schedule back
        ),
        summary="Sends each alerted event to the alerts that want it: one delivery per alert, tried at once",
        uses=_ALERT_SENDER,
        table_kinds=_ALERT_KINDS,
        timeout_s=120,
    ),
    Function(
        name="retry_alert_deliveries",
        context="alerts",
        trigger=Timetabled(group="alert-retries", command="RetryDueDeliveries", key="queue"),
        summary="While deliveries wait, each minute: tries again those whose wait is over",
        uses=_ALERT_SENDER,
        table_kinds=_ALERT_KINDS,
        timeout_s=300,
        concurrency=1,
    ),
)
# -----------------------------------------------------------------------------------------------

CATALOG: tuple[Function, ...] = _CORE + TRADING + STRATEGIES + STREAM + WEBHOOKS + ALERTS


def by_name() -> dict[str, Function]:
    return {f.name: f for f in CATALOG}


def http_functions() -> list[Function]:
    return [f for f in CATALOG if isinstance(f.trigger, Http)]


def subscriptions() -> dict[str, list[str]]:
    """The routing table: event type -> subscriber names. EventBridge rules and the in-process
    bus are both built from it."""
    table: dict[str, list[str]] = {}
    for f in CATALOG:
        if isinstance(f.trigger, On):
            for event in f.trigger.events:
                table.setdefault(event, []).append(f.name)
        elif isinstance(f.trigger, FanOut):
            table.setdefault(f.trigger.event, []).append(f.name)
    return table


def schedules() -> list[tuple[Function, Every]]:
    return [(f, f.trigger) for f in CATALOG if isinstance(f.trigger, Every)]


def timetables() -> list[tuple[Function, Timetabled]]:
    return [(f, f.trigger) for f in CATALOG if isinstance(f.trigger, Timetabled)]


def websocket_routes() -> dict[str, Function]:
    """WebSocket route key -> the function serving it."""
    return {route: f for f in CATALOG if isinstance(f.trigger, WebSocket) for route in f.trigger.routes}


def route_roles() -> dict[str, Role | None]:
    """`METHOD /path` -> the role it requires; the authorizer and the local app both use it."""
    return {f.trigger.route_key: f.role for f in CATALOG if isinstance(f.trigger, Http)}
