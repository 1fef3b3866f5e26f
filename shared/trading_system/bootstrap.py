"""The composition root: the one place that picks adapters, from settings.

Adapters are built on first use, so a function builds only what its handler needs: an order
function never builds the lake and so never imports DuckDB.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from trading_system.catalog import FanOut, On, by_name, subscriptions, timetables
from trading_system.config import Settings, load_settings
from trading_system.kernel.bus import EventPublisher, Handler, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock, SystemClock
from trading_system.kernel.documents import DocumentStore
from trading_system.kernel.messages import Command, Event, Query

if TYPE_CHECKING:
    from trading_system.adapters.alert_channels import Channels
    from trading_system.adapters.alert_store import DocumentAlerts, DocumentDeliveries
    from trading_system.adapters.analytics_lake import AnalyticsLake
    from trading_system.adapters.aws.websocket import ManagementApiPoster
    from trading_system.adapters.deliveries import DocumentDeadLetters, DocumentInbox
    from trading_system.adapters.fill_lake import FillLake
    from trading_system.adapters.indicator_demand import ScannerIndicatorDemand
    from trading_system.adapters.job_store import DocumentJobs
    from trading_system.adapters.lake import ParquetLake
    from trading_system.adapters.providers import ProviderRegistry
    from trading_system.adapters.raw import RawFiles
    from trading_system.adapters.repositories import (
        DocumentApiKeyRepository,
        DocumentBackfillCheckpoints,
        DocumentScannerRepository,
        DocumentSignalRegistry,
        DocumentSymbolRepository,
    )
    from trading_system.adapters.scoped_store import KindScope
    from trading_system.adapters.signal_lake import SignalLake
    from trading_system.adapters.strategy_store import (
        BacktestLake,
        DocumentDeployments,
        DocumentSavedStrategies,
        SweepLake,
    )
    from trading_system.adapters.webhook_store import DocumentWebhooks
    from trading_system.identity.ports import TokenIssuer, TokenRevocations, TokenVerifier
    from trading_system.kernel.connections import ConnectionStore
    from trading_system.kernel.event_store import EventStore
    from trading_system.kernel.schedule_runs import ScheduleRuns
    from trading_system.kernel.timetable import Timetable
    from trading_system.market_data.domain import BarLimits
    from trading_system.market_data.jobs import BackfillJob
    from trading_system.strategies.book import StrategyBook
    from trading_system.strategies.jobs import BacktestJob, SweepJob
    from trading_system.trading.broker import BrokerFactory
    from trading_system.trading.ledger import TradingLedger

T = TypeVar("T")

CONTEXTS = ("identity", "market_data", "analytics", "scanning", "trading", "strategies", "alerts")

# Messages whose handlers are a table of their own, not their context's handlers module: the
# module of the messages -> the module whose HANDLERS holds them. A function that handles only
# those messages (or none of them) loads only the table it needs. Webhooks keep their table
# beside their model, which Strategies' handlers never import; their alerts' handlers, which
# import Scanning's and Trading's commands, have one of their own, which managing webhooks never
# loads. Trading's queries are answered from the views: a read needs none of what the commands'
# handlers import (risk checks, the broker, executions, the commands themselves). Market Data's
# queries are answered from the symbols, the lake and the jobs' store, without the commands, the
# ingest rules and the backfill machinery.
TABLES_APART = {
    "trading_system.strategies.webhooking": "trading_system.strategies.webhooking",
    "trading_system.strategies.webhook_alerts": "trading_system.strategies.webhook_alerts",
    "trading_system.trading.queries": "trading_system.trading.query_handlers",
    "trading_system.market_data.queries": "trading_system.market_data.query_handlers",
}


def load_handlers(context: str) -> None:
    """Import a context's handlers and the tables it keeps apart: what the bus would import on the
    first of its messages (a SnapStart snapshot and a long-running server want them in advance)."""
    if context in CONTEXTS:
        importlib.import_module(f"trading_system.{context}.handlers")
        for table in TABLES_APART.values():
            if table.startswith(f"trading_system.{context}."):
                importlib.import_module(table)


def warm_up(container: Container) -> None:
    """Pay at start what a long-running process (`trading serve`) would otherwise pay on its first
    messages: every context's handlers (the bus imports them on first use, which suits a Lambda,
    not a server: ~0.4 s of an end of day's first run), and DuckDB's first parameterised query,
    which imports pandas where it is installed (the dev environment, not the Lambda layer: ~0.24 s)."""
    for context in CONTEXTS:
        load_handlers(context)
    cur = container.lake.conn.cursor()
    try:
        cur.execute("SELECT $warm", {"warm": 0}).fetchall()
    finally:
        cur.close()


class ContextHandlers:
    """Every context's handlers, each context imported the first time one of its messages is
    handled, so a function pays at cold start only for the contexts it uses."""

    def __init__(self) -> None:
        self._loaded: dict[str, HandlerTable] = {}
        self._lock = threading.Lock()

    def _table(self, module_name: str) -> HandlerTable:
        table = self._loaded.get(module_name)
        if table is None:
            with self._lock:
                module = importlib.import_module(module_name)
                table = self._loaded[module_name] = module.HANDLERS
        return table

    def _of(self, kind: type) -> HandlerTable:
        apart = TABLES_APART.get(kind.__module__)
        if apart is not None:
            return self._table(apart)
        return self._table(f"trading_system.{kind.__module__.split('.')[1]}.handlers")

    def command(self, kind: type[Command]) -> Handler:
        return self._of(kind).command(kind)

    def query(self, kind: type[Query]) -> Handler:
        return self._of(kind).query(kind)

    def subscriber(self, name: str) -> Handler:
        return event_handler(name)


def event_handler(name: str) -> Handler:
    """The handler of the catalog's subscription `name`: `<context>.handlers.<name>`, or for a
    fan-out, its three steps run one after another in this process."""
    function = by_name().get(name)
    if function is not None and isinstance(function.trigger, FanOut):
        return fan_out_locally(function.context, function.trigger)
    if function is None or not isinstance(function.trigger, On):
        raise KeyError(f"no subscription named {name!r} in the catalog")
    module = importlib.import_module(f"trading_system.{function.context}.handlers")
    handler: Handler | None = getattr(module, name, None)
    if handler is None:
        raise KeyError(f"trading_system.{function.context}.handlers has no event handler {name!r}")
    return handler


def step_commands(context: str, fan_out: FanOut) -> tuple[type[Command], type[Command], type[Command]]:
    """The plan, each and finish command classes a fan-out names, from its context's commands."""
    module = importlib.import_module(f"trading_system.{context}.commands")
    plan, each, finish = (getattr(module, name, None) for name in fan_out.commands)
    if plan is None or each is None or finish is None:
        raise KeyError(f"trading_system.{context}.commands lacks one of {fan_out.commands}")
    return plan, each, finish


def fan_out_locally(context: str, fan_out: FanOut) -> Handler:
    """The local runtime's Step Functions: the plan, every item in order, then the finish, which
    is told the first item's error (the state machine's Map fails on its first failed item too)."""
    from trading_system.kernel.errors import describe_failure
    from trading_system.kernel.fan_out import FanOutPlan, step_command

    plan_kind, each_kind, finish_kind = step_commands(context, fan_out)

    def run_fan_out(event: Event, bus: MessageBus, context: MessageContext) -> None:
        plan: FanOutPlan = bus.execute(step_command(plan_kind, event.model_dump(mode="json")), context)
        if plan.finish is None:
            return
        error = None
        try:
            for item in plan.items:
                bus.execute(step_command(each_kind, item), context)
        except Exception as failure:
            error = describe_failure(failure)
        bus.execute(step_command(finish_kind, plan.finish, error), context)

    return run_fan_out


def all_handlers() -> HandlerTable:
    """Every handler of every context (imports them all)."""
    table = HandlerTable()
    for module in (*(f"trading_system.{context}.handlers" for context in CONTEXTS), *TABLES_APART.values()):
        table = table.merge(importlib.import_module(module).HANDLERS)
    return table


class _once(Generic[T]):  # noqa: N801 - reads as a decorator
    """A lazily built attribute, built once even when threads race for it
    (functools.cached_property lost its lock in Python 3.12)."""

    def __init__(self, build: Callable[[Any], T]):
        self.build = build
        self.name = build.__name__

    @overload
    def __get__(self, instance: None, owner: type) -> _once[T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type) -> T | _once[T]:
        if instance is None:
            return self
        with instance._lock:  # type: ignore[attr-defined]
            cache = instance.__dict__
            if self.name not in cache:
                cache[self.name] = self.build(instance)
            value: T = cache[self.name]
            return value


class Container:
    """Every dependency a handler can name, built on first use."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        producer: str = "local",
        kinds: Sequence[str] | None = None,
    ):
        """`kinds`: the table item kinds the container's code may touch (a Lambda's catalog
        grant, see adapters/scoped_store.py); None: every kind (the local runtime, one process)."""
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.producer = producer
        self.kinds = kinds
        self._lock = threading.RLock()

    def forget_connections(self) -> None:
        """Drop every dependency built so far but the bus, so that each is built again on first
        use, with new clients and connections: what Lambda SnapStart restores (sockets, the
        credentials a client or the lake's DuckDB took at init) may be days old
        (entrypoints/snapstart.py). The bus holds none: it asks the container at each message."""
        with self._lock:
            for name, attribute in vars(Container).items():
                if isinstance(attribute, _once) and name != "bus":
                    self.__dict__.pop(name, None)

    def _scope(self) -> KindScope | None:
        if self.kinds is None:
            return None
        from trading_system.adapters.scoped_store import KindScope

        return KindScope(self.producer, self.kinds)

    @_once
    def store(self) -> DocumentStore:
        scope = self._scope()
        if scope is None:
            return self._table
        from trading_system.adapters.scoped_store import ScopedDocumentStore

        return ScopedDocumentStore(self._table, scope)

    @_once
    def _table(self) -> DocumentStore:
        if self.settings.runtime == "aws":
            from trading_system.adapters.aws.dynamodb_store import DynamoDbDocumentStore

            return DynamoDbDocumentStore.from_settings(self.settings)
        from trading_system.adapters.local.sqlite_store import SqliteDocumentStore

        return SqliteDocumentStore(self.settings.sqlite_path)

    @_once
    def symbols(self) -> DocumentSymbolRepository:
        from trading_system.adapters.repositories import DocumentSymbolRepository

        return DocumentSymbolRepository(self.store)

    @_once
    def providers(self) -> ProviderRegistry:
        from trading_system.adapters.providers import ProviderRegistry

        return ProviderRegistry(self.settings)

    @_once
    def backfill_jobs(self) -> DocumentJobs[BackfillJob]:
        from trading_system.adapters.job_store import DocumentJobs
        from trading_system.kernel.kinds import BACKFILL_JOBS
        from trading_system.market_data.jobs import BackfillJob

        return DocumentJobs(self.store, BACKFILL_JOBS, BackfillJob)

    @property
    def backfill_job_budget_s(self) -> float:
        return self.settings.backfill_job_budget_s

    @_once
    def backfills(self) -> DocumentBackfillCheckpoints:
        from trading_system.adapters.repositories import DocumentBackfillCheckpoints

        return DocumentBackfillCheckpoints(self.store)

    @_once
    def api_keys(self) -> DocumentApiKeyRepository:
        from trading_system.adapters.repositories import DocumentApiKeyRepository

        return DocumentApiKeyRepository(self.store)

    @_once
    def token_verifier(self) -> TokenVerifier:
        from trading_system.adapters.bearer_tokens import DeferredVerifier

        return DeferredVerifier(self.settings)

    @_once
    def token_issuer(self) -> TokenIssuer:
        from trading_system.adapters.bearer_tokens import build_issuer

        return build_issuer(self.settings)

    @_once
    def token_revocations(self) -> TokenRevocations:
        from trading_system.adapters.revocations import DocumentTokenRevocations

        return DocumentTokenRevocations(self.store)

    @_once
    def connections(self) -> ConnectionStore:
        """The live stream's connections (AWS: the WebSocket API's, entrypoints/websocket.py)."""
        from trading_system.adapters.connections import DocumentConnections

        return DocumentConnections(self.store, self.clock)

    @_once
    def stream_poster(self) -> ManagementApiPoster:
        from trading_system.adapters.aws.websocket import ManagementApiPoster

        return ManagementApiPoster.from_settings(self.settings)

    @_once
    def inbox(self) -> DocumentInbox:
        from trading_system.adapters.deliveries import DocumentInbox

        return DocumentInbox(self.store)

    @_once
    def dead_letters(self) -> DocumentDeadLetters:
        from trading_system.adapters.deliveries import DocumentDeadLetters

        return DocumentDeadLetters(self.store)

    @_once
    def schedule_runs(self) -> ScheduleRuns:
        """Each scheduled run's record, and each scheduled function's status."""
        from trading_system.adapters.schedule_runs import DocumentScheduleRuns

        return DocumentScheduleRuns(self.store)

    @_once
    def scanner_timetable(self) -> Timetable:
        return self._timetable_of("scanning")

    @_once
    def alert_timetable(self) -> Timetable:
        return self._timetable_of("alerts")

    def _timetable_of(self, context: str) -> Timetable:
        """The context's timetable (catalog: its `Timetabled` function's group)."""
        timetabled = next(t for f, t in timetables() if f.context == context)
        if self.settings.runtime == "aws":
            from trading_system.adapters.aws.scheduler import EventBridgeTimetable

            return EventBridgeTimetable.from_settings(self.settings, timetabled.key)
        from trading_system.adapters.timetable import DocumentTimetable

        return DocumentTimetable(self.store, timetabled.group)

    @_once
    def lake(self) -> ParquetLake:
        from trading_system.adapters.lake import ParquetLake

        return ParquetLake.from_settings(self.settings)

    @_once
    def scanners(self) -> DocumentScannerRepository:
        from trading_system.adapters.repositories import DocumentScannerRepository

        return DocumentScannerRepository(self.store)

    @_once
    def signal_registry(self) -> DocumentSignalRegistry:
        from trading_system.adapters.repositories import DocumentSignalRegistry

        return DocumentSignalRegistry(self.store)

    @_once
    def snapshots(self) -> AnalyticsLake:
        from trading_system.adapters.analytics_lake import AnalyticsLake

        return AnalyticsLake(self.lake)

    @_once
    def signal_log(self) -> SignalLake:
        from trading_system.adapters.signal_lake import SignalLake

        return SignalLake(self.lake)

    @_once
    def indicator_demand(self) -> ScannerIndicatorDemand:
        from trading_system.adapters.indicator_demand import ScannerIndicatorDemand

        return ScannerIndicatorDemand(self.scanners)

    @_once
    def event_store(self) -> EventStore:
        scope = self._scope()
        if scope is None:
            return self._events
        from trading_system.adapters.scoped_store import ScopedEventStore

        return ScopedEventStore(self._events, scope)

    @_once
    def _events(self) -> EventStore:
        if self.settings.runtime == "aws":
            from trading_system.adapters.aws.dynamodb_events import DynamoDbEventStore

            return DynamoDbEventStore.from_settings(self.settings)
        from trading_system.adapters.local.sqlite_events import SqliteEventStore
        from trading_system.adapters.local.sqlite_store import SqliteDocumentStore

        assert isinstance(self._table, SqliteDocumentStore)
        return SqliteEventStore(self._table)

    @_once
    def ledger(self) -> TradingLedger:
        from trading_system.trading.ledger import TradingLedger

        return TradingLedger(self.event_store, self.store, self.settings.default_account)

    @_once
    def brokers(self) -> BrokerFactory:
        """Builds the broker of an account from its settings: the paper broker for now."""
        from trading_system.trading.paper_broker import PaperBroker

        return PaperBroker

    @_once
    def fill_log(self) -> FillLake:
        from trading_system.adapters.fill_lake import FillLake

        return FillLake(self.lake)

    @_once
    def saved_strategies(self) -> DocumentSavedStrategies:
        from trading_system.adapters.strategy_store import DocumentSavedStrategies

        return DocumentSavedStrategies(self.store)

    @_once
    def strategies(self) -> StrategyBook:
        from trading_system.strategies.book import StrategyBook

        return StrategyBook(self.saved_strategies, self.settings.strategies_dir)

    @_once
    def deployments(self) -> DocumentDeployments:
        from trading_system.adapters.strategy_store import DocumentDeployments

        return DocumentDeployments(self.store)

    @_once
    def webhooks(self) -> DocumentWebhooks:
        from trading_system.adapters.webhook_store import DocumentWebhooks

        return DocumentWebhooks(self.store)

    @_once
    def alerts(self) -> DocumentAlerts:
        from trading_system.adapters.alert_store import DocumentAlerts

        return DocumentAlerts(self.store)

    @_once
    def deliveries(self) -> DocumentDeliveries:
        from trading_system.adapters.alert_store import DocumentDeliveries

        return DocumentDeliveries(self.store)

    @_once
    def alert_channels(self) -> Channels:
        from trading_system.adapters.alert_channels import Channels

        return Channels.from_settings(self.settings)

    @_once
    def backtests(self) -> DocumentJobs[BacktestJob]:
        from trading_system.adapters.job_store import DocumentJobs
        from trading_system.kernel.kinds import BACKTESTS
        from trading_system.strategies.jobs import BacktestJob

        return DocumentJobs(self.store, BACKTESTS, BacktestJob)

    @_once
    def sweeps(self) -> DocumentJobs[SweepJob]:
        from trading_system.adapters.job_store import DocumentJobs
        from trading_system.kernel.kinds import SWEEPS
        from trading_system.strategies.jobs import SweepJob

        return DocumentJobs(self.store, SWEEPS, SweepJob)

    @property
    def sweep_workers(self) -> int:
        if self.settings.sweep_workers is not None:
            return self.settings.sweep_workers
        return 1 if self.settings.runtime == "aws" else (os.cpu_count() or 1)

    @property
    def bar_limits(self) -> BarLimits:
        from trading_system.market_data.domain import BarLimits

        s = self.settings
        return BarLimits(s.max_clock_skew_s, s.min_bar_price, s.max_bar_price)

    @property
    def sweep_block_backtests(self) -> int:
        return self.settings.sweep_block_backtests

    @_once
    def sweep_results(self) -> SweepLake:
        from trading_system.adapters.strategy_store import SweepLake

        return SweepLake(self.lake)

    @_once
    def backtest_results(self) -> BacktestLake:
        from trading_system.adapters.strategy_store import BacktestLake

        return BacktestLake(self.lake)

    @_once
    def raw_files(self) -> RawFiles:
        from trading_system.adapters.raw import raw_files

        return raw_files(self.settings)

    @_once
    def publisher(self) -> EventPublisher:
        if self.settings.runtime == "aws":
            from trading_system.adapters.aws.eventbridge import EventBridgePublisher

            return EventBridgePublisher.from_settings(self.settings)
        from trading_system.adapters.local.inprocess_bus import InProcessPublisher

        # The subscribers are other functions, with their own grants: a container scoped to one
        # function's kinds (a Lambda's, run locally in tests) delivers through an unscoped one.
        subscribers = self if self.kinds is None else Container(self.settings, self.clock, self.producer)
        return InProcessPublisher(subscriptions(), subscribers.bus.deliver, subscribers.dead_letters)

    @_once
    def bus(self) -> MessageBus:
        return MessageBus(ContextHandlers(), self)


def bootstrap(settings: Settings | None = None, **kwargs: Any) -> Container:
    return Container(settings or load_settings(), **kwargs)
