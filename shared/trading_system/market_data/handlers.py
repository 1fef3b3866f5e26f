"""Market Data's application layer: one plain function per command and subscription (the queries'
are in query_handlers.py, a table of their own: bootstrap.TABLES_APART)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from trading_system.kernel.bus import Handled, HandlerTable, MessageBus, MessageContext
from trading_system.kernel.clock import Clock, newest_first_id, sortable_id
from trading_system.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Problem,
    ValidationFailed,
    describe_failure,
)
from trading_system.market_data.commands import (
    BackfillBars,
    CompactIngests,
    CompactLake,
    CorporateActionRow,
    IngestBarFile,
    IngestBars,
    IngestBarSeries,
    PullAlpacaBars,
    PullBinanceBars,
    PullCoinbaseBars,
    PullKrakenBars,
    PullLatestBars,
    RecordCorporateActions,
    RegisterSymbol,
    SubmitBackfill,
)
from trading_system.market_data.domain import (
    ActionKind,
    BarLimits,
    CorporateAction,
    Listing,
    Timeframe,
    check_action,
    check_range,
    end_exclusive,
    utc_moment,
)
from trading_system.market_data.events import BackfillRequested, BarsIngested, SymbolRange, SymbolRegistered
from trading_system.market_data.jobs import BackfillJob, BackfillReport, SymbolBackfill
from trading_system.market_data.ports import (
    BackfillCheckpoint,
    BackfillCheckpoints,
    BackfillJobs,
    BarLake,
    CompactionReport,
    CorporateActionsSource,
    MarketDataProvider,
    MarketDataProviders,
    NeedsCredentials,
    ProviderBars,
    ProviderCredentialsError,
    ProviderError,
    ProviderUnavailable,
    RetryPolicy,
    SymbolRepository,
    UnknownProvider,
)

if TYPE_CHECKING:
    from trading_system.market_data.bar_batch import BarSeries, ParsedBars


class Registered(BaseModel):
    listing: Listing
    created: bool


class IngestReport(BaseModel):
    ingest_id: str
    timeframe: Timeframe
    rows: int
    files: int
    symbols: list[SymbolRange]


def register_symbol(cmd: RegisterSymbol, symbols: SymbolRepository, clock: Clock) -> Handled[Registered]:
    listing = Listing(**cmd.model_dump(), registered_at=clock.now())
    try:
        symbols.add(listing)
    except ConcurrencyConflict:
        existing = symbols.get(cmd.symbol)
        if existing is not None and existing.same_definition(listing):
            return Handled(Registered(listing=existing, created=False))
        raise Conflict(f"symbol {cmd.symbol} is already registered with a different definition") from None
    event = SymbolRegistered(symbol=listing.symbol, asset_class=listing.asset_class, tags=listing.tags)
    return Handled(Registered(listing=listing, created=True), (event,))


def ingest_bars(
    cmd: IngestBars, symbols: SymbolRepository, lake: BarLake, bar_limits: BarLimits, clock: Clock
) -> Handled[IngestReport]:
    from trading_system.market_data import bar_batch  # numpy, only where bars are ingested

    parsed = bar_batch.columns_from_rows(cmd.bars, cmd.symbol, cmd.timeframe)
    return _ingest(parsed, cmd.timeframe, cmd.source, symbols, lake, bar_limits, clock)


def ingest_bar_file(
    cmd: IngestBarFile, symbols: SymbolRepository, lake: BarLake, bar_limits: BarLimits, clock: Clock
) -> Handled[IngestReport]:
    parsed = lake.read(cmd.path, cmd.format, cmd.timeframe, cmd.symbol)
    return _ingest(parsed, cmd.timeframe, cmd.source, symbols, lake, bar_limits, clock)


def ingest_bar_series(
    cmd: IngestBarSeries, symbols: SymbolRepository, lake: BarLake, bar_limits: BarLimits, clock: Clock
) -> Handled[IngestReport]:
    from trading_system.market_data import bar_batch

    parsed = bar_batch.columns_from_series(cmd.bars, cmd.symbol)
    return _ingest(parsed, cmd.timeframe, cmd.source, symbols, lake, bar_limits, clock)


def _ingest(
    parsed: ParsedBars,
    timeframe: Timeframe,
    source: str,
    symbols: SymbolRepository,
    lake: BarLake,
    limits: BarLimits,
    clock: Clock,
) -> Handled[IngestReport]:
    from trading_system.market_data import bar_batch

    columns = parsed.columns
    listings = symbols.get_many(columns.symbols)
    # A symbol on an exchange with sessions (not 24/7) has its bars aligned to them.
    calendars = {
        symbol: calendar
        for symbol, listing in listings.items()
        if (calendar := listing.session_calendar()) is not None and not calendar.is_always_open()
    }
    rule_problems, rule_count = bar_batch.find_problems(
        columns, timeframe, listings.keys(), limits, clock.now(), calendars
    )
    problems = (parsed.problems + rule_problems)[: bar_batch.MAX_PROBLEMS]
    total = parsed.problem_count + rule_count
    if total:
        raise ValidationFailed(
            f"{total} problem(s) in the batch of {len(columns)} bars; nothing was written",
            sorted(problems, key=lambda p: (p.row or 0, p.field or "")),
            total,
        )
    written = lake.write(columns, timeframe, sortable_id())
    ranges = bar_batch.ranges_by_symbol(columns)
    report = IngestReport(
        ingest_id=written.ingest_id,
        timeframe=timeframe,
        rows=written.rows,
        files=written.files,
        symbols=ranges,
    )
    event = BarsIngested(
        ingest_id=written.ingest_id,
        timeframe=timeframe,
        rows=written.rows,
        start=min(r.first for r in ranges),
        end=max(r.last for r in ranges),
        symbols=ranges,
        source=source,
    )
    return Handled(report, (event,))


def compact_lake(cmd: CompactLake, lake: BarLake) -> Handled[CompactionReport]:
    return Handled(lake.compact(cmd.timeframe, cmd.rollup_budget_s))


def compact_ingests(cmd: CompactIngests, lake: BarLake) -> Handled[CompactionReport]:
    return Handled(lake.compact(cmd.timeframe, minor=True))


def record_coverage(event: BarsIngested, symbols: SymbolRepository) -> None:
    """Keep each listing's coverage (first/last bar per timeframe) in step with the lake."""
    listings = symbols.get_many(s.symbol for s in event.symbols)
    symbols.save_many(
        listings[s.symbol].covering(event.timeframe, s.first, s.last, s.rows)
        for s in event.symbols
        if s.symbol in listings
    )


# -- corporate actions ----------------------------------------------------------------------


class ActionsRecorded(BaseModel):
    symbol: str
    recorded: int  # new or changed actions written
    unchanged: int  # already stored as sent: not written again


def record_corporate_actions(
    cmd: RecordCorporateActions, symbols: SymbolRepository, lake: BarLake, clock: Clock
) -> Handled[ActionsRecorded]:
    """Validate every row (a rejected batch writes nothing and names each bad row), then store the
    actions that are new or differ from the stored ones: recording the same actions twice is a no-op."""
    listing = symbols.require(cmd.symbol)
    today = clock.now().astimezone(UTC).date()
    actions: list[CorporateAction] = []
    problems: list[Problem] = []
    seen: dict[tuple[ActionKind, date], int] = {}
    for row, sent in enumerate(cmd.actions, start=1):
        action = CorporateAction(symbol=listing.symbol, **sent.model_dump())
        found = check_action(action)
        if action.ex_date > today:
            # A split announced for next week would already divide today's prices, which are
            # still the old terms': record it once it is effective (a backfill does).
            found.append(("ex_date", f"{action.ex_date} is in the future: record it from its ex-date on"))
        if action.key in seen:
            found.append(("ex_date", f"the same {action.kind.value} ex-date as row {seen[action.key]}"))
        seen.setdefault(action.key, row)
        problems += [Problem(reason, field=field, row=row) for field, reason in found]
        actions.append(action)
    if problems:
        raise ValidationFailed(
            f"{len({p.row for p in problems})} of {len(actions)} corporate action(s) are invalid; "
            "nothing was recorded",
            problems,
        )
    stored = {a.key: a for a in lake.corporate_actions(listing.symbol)}
    fresh = [a for a in actions if stored.get(a.key) != a]
    if fresh:
        lake.write_corporate_actions(listing.symbol, fresh, sortable_id())
    return Handled(
        ActionsRecorded(symbol=listing.symbol, recorded=len(fresh), unchanged=len(actions) - len(fresh))
    )


# -- backfill from a provider ----------------------------------------------------------------


def backfill_bars(
    cmd: BackfillBars,
    providers: MarketDataProviders,
    backfills: BackfillCheckpoints,
    symbols: SymbolRepository,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> Handled[BackfillReport]:
    provider, start, end = check_backfill(cmd, providers, clock.now())
    run = _Run(provider, providers, cmd.timeframe, backfills, symbols, bus, clock, context)
    return Handled(_backfill(run, cmd, start, end))  # each batch's BarsIngested was published as ingested


def check_backfill(
    cmd: BackfillBars, providers: MarketDataProviders, now: datetime
) -> tuple[MarketDataProvider, datetime, datetime]:
    """What a backfill can check before it fetches anything, so the CLI and a job submitted over
    HTTP refuse the same requests: a known provider with its credentials set, and a range holding
    at least one complete bar. Returns the provider and the range [start, end)."""
    provider = providers.get(cmd.provider)
    if isinstance(provider, NeedsCredentials) and (missing := provider.missing_credentials()) is not None:
        raise ProviderCredentialsError(missing)
    start, end = _backfill_range(cmd, now)
    return provider, start, end


class _OutOfTime(Exception):
    """A job's time budget is used up between two batches or symbols; `bars` are what this run
    ingested per symbol (every one of them checkpointed)."""

    def __init__(self, bars: dict[str, int]):
        super().__init__("the backfill's time budget is used up")
        self.bars = bars


def _backfill(run: _Run, cmd: BackfillBars, start: datetime, end: datetime) -> BackfillReport:
    provider = run.provider
    done: list[SymbolBackfill] = []
    for symbol in dict.fromkeys(cmd.symbols):
        # Only after this run has fetched something: a symbol resumed already complete costs no
        # time, and a run that stopped before any page would queue itself forever.
        if any(s.pages for s in done) and run.out_of_time():
            raise _OutOfTime({s.symbol: s.bars for s in done})
        try:
            done.append(_backfill_symbol(run, symbol, start, end))
        except _OutOfTime as spent:
            raise _OutOfTime({**{s.symbol: s.bars for s in done}, **spent.bars}) from None
    if isinstance(provider, CorporateActionsSource):
        done = [
            s.model_copy(
                update={
                    "corporate_actions": _backfill_actions(
                        provider, run.providers.retry, s.symbol, start, end, run.symbols, run.bus, run.context
                    )
                }
            )
            for s in done
        ]
    return BackfillReport(
        provider=provider.name,
        timeframe=run.tf,
        start=start,
        end=end,
        bars=sum(s.bars for s in done),
        symbols=done,
    )


def _backfill_range(cmd: BackfillBars, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in whole bars; the end is at most the start of the bar in progress now (a bar
    still forming would be ingested half-made)."""
    tf = cmd.timeframe
    start = tf.ceil(utc_moment(cmd.start))
    latest = tf.floor(now)
    if start >= latest:
        reason = (
            f"start {start.isoformat()} is in the future: the last complete {tf.value} bar "
            f"starts before {latest.isoformat()}"
        )
        raise ValidationFailed("the range is in the future", [Problem(reason, field="start")])
    if cmd.end is None:
        return start, latest
    end_at = utc_moment(cmd.end)
    check_range(start, end_at)
    return start, min(end_exclusive(tf, end_at), latest)


@dataclass(frozen=True)
class _Run:
    """What every symbol of one backfill or pull shares."""

    provider: MarketDataProvider
    providers: MarketDataProviders
    tf: Timeframe
    backfills: BackfillCheckpoints
    symbols: SymbolRepository
    bus: MessageBus
    clock: Clock
    context: MessageContext
    deadline: datetime | None = None  # a job's: past it, the run stops after its current batch

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock.now() >= self.deadline


def _backfill_symbol(run: _Run, symbol: str, start: datetime, end: datetime) -> SymbolBackfill:
    from trading_system.market_data.bar_batch import BarSeries  # numpy, only where bars are ingested

    provider, tf, backfills, symbols, bus, clock, context = (
        run.provider, run.tf, run.backfills, run.symbols, run.bus, run.clock, run.context
    )  # fmt: skip
    retry, batch_rows = run.providers.retry, run.providers.ingest_batch_rows
    saved = backfills.get(provider.name, symbol, tf)
    # Resume only a run that covers this start contiguously; another range starts afresh.
    resumed = saved is not None and saved.start <= start <= saved.through
    checkpoint = (
        saved.model_copy(update={"end": max(saved.end, end)})
        if saved is not None and resumed
        else BackfillCheckpoint(
            provider=provider.name,
            symbol=symbol,
            timeframe=tf,
            start=start,
            end=end,
            through=start,
            updated_at=clock.now(),
        )
    )
    resumed_from = checkpoint.through if resumed and checkpoint.through > start else None
    cursor = max(start, checkpoint.through)
    bars = pages = saved_pages = 0
    listing = symbols.get(symbol)
    subscribed = listing is not None and provider.name in listing.tags
    # Pages are ingested in batches of at least `batch_rows` bars: one lake write and one
    # BarsIngested per batch, not per (possibly small) page. The checkpoint moves per batch, so
    # an interruption re-fetches at most one batch.
    pending: list[BarSeries] = []
    pending_rows = first_pending = 0
    with _ReadAhead(_pages(provider, retry, symbol, tf, cursor, end)) as fetched:
        while cursor < end:
            try:
                page = fetched.next()
            except ProviderUnavailable as error:
                raise ProviderUnavailable(
                    f"{error.detail}. {symbol} is backfilled up to {checkpoint.through.isoformat()}: "
                    "run the backfill again to resume there"
                ) from error
            pages += 1
            if len(page.series):
                first_pending = first_pending or pages
                pending.append(page.series)
                pending_rows += len(page.series)
            last = page.next_token is None
            through = None
            if pending and (last or pending_rows >= batch_rows):
                if not subscribed:
                    _subscribe(provider, symbol, listing, symbols, bus, context)
                    subscribed = True
                batch = BarSeries.concat(pending)
                _ingest_page(
                    provider, symbol, tf, batch, (first_pending, pages), checkpoint.through, bus, context
                )
                bars += len(batch)
                through = batch.moment(-1) + tf.delta
            if last:
                through = end
            if through is not None:
                checkpoint = checkpoint.model_copy(
                    update={
                        "through": max(through, checkpoint.through),
                        "bars": checkpoint.bars + pending_rows,
                        "pages": checkpoint.pages + pages - saved_pages,
                        "updated_at": clock.now(),
                    }
                )
                backfills.save(checkpoint)
                pending, pending_rows, first_pending, saved_pages = [], 0, 0, pages
            if last:
                break
            if through is not None and run.out_of_time():
                raise _OutOfTime({symbol: bars})  # the checkpoint just saved is where the next run resumes
    return SymbolBackfill(
        symbol=symbol,
        bars=bars,
        pages=pages,
        resumed_from=resumed_from,
        through=checkpoint.through,
        empty=pages > 0 and bars == 0 and checkpoint.bars == 0,
    )


def _pages(
    provider: MarketDataProvider,
    retry: RetryPolicy,
    symbol: str,
    tf: Timeframe,
    start: datetime,
    end: datetime,
) -> Iterator[ProviderBars]:
    """The pages of one request, each retried with bounded backoff on a 429 or a 5xx; none
    when the range is empty (a backfill resumed already complete asks nothing)."""
    token: str | None = None
    while start < end:
        page = _fetch_page(provider, retry, symbol, tf, start, end, token)
        yield page
        if page.next_token is None:
            return
        token = page.next_token  # the same request continued: its start stays as it was


def _fetch_page(
    provider: MarketDataProvider,
    retry: RetryPolicy,
    symbol: str,
    tf: Timeframe,
    start: datetime,
    end: datetime,
    token: str | None,
) -> ProviderBars:
    for attempt in range(1, retry.attempts + 1):
        try:
            return provider.fetch_bars(symbol, tf, start, end, token)
        except ProviderError as error:
            if not error.retryable:
                raise
            if attempt == retry.attempts:
                raise ProviderUnavailable(f"{error.detail}; gave up after {attempt} attempt(s)") from error
            retry.sleep(retry.delay(attempt, error))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class _ReadAhead:
    """Pages fetched ahead in a thread, up to `depth` of them: the next pages are on their way
    (HTTP and JSON) while a batch is checked and written (DuckDB works without the GIL). Pages
    fetched ahead and not used, when the run stops early, are only requests too many."""

    def __init__(self, pages: Iterator[ProviderBars], depth: int = 20):
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._fetch, args=(pages,), name="backfill-read-ahead", daemon=True
        )
        self._thread.start()

    def next(self) -> ProviderBars:
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        if kind == "end":
            raise AssertionError("a provider's pages ended without a last page")  # pragma: no cover
        page: ProviderBars = value
        return page

    def _fetch(self, pages: Iterator[ProviderBars]) -> None:
        try:
            for page in pages:
                if not self._put(("page", page)):
                    return
        except Exception as error:  # handed to the run, which raises it as its own
            self._put(("error", error))
        else:
            self._put(("end", None))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self) -> _ReadAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        # Not waiting: a page fetched ahead may be backing off from a 429; it is not needed.
        self._stopped.set()


def _backfill_actions(
    provider: CorporateActionsSource,
    retry: RetryPolicy,
    symbol: str,
    start: datetime,
    end: datetime,
    symbols: SymbolRepository,
    bus: MessageBus,
    context: MessageContext,
) -> int:
    """The symbol's splits and dividends with an ex-date in the backfilled range, recorded beside
    its bars (through the same validated command as any client's); how many were new or changed."""
    if symbols.get(symbol) is None:  # the provider had no bars of it: nothing to adjust
        return 0
    last_day = (end - timedelta(microseconds=1)).date()
    for attempt in range(1, retry.attempts + 1):
        try:
            actions = provider.fetch_corporate_actions(symbol, start.date(), last_day)
            break
        except ProviderError as error:
            if not error.retryable:
                raise
            if attempt == retry.attempts:
                raise ProviderUnavailable(
                    f"{error.detail}; gave up on {symbol}'s corporate actions after {attempt} attempt(s). "
                    "Its bars are in the lake: run the backfill again to fetch the actions"
                ) from error
            retry.sleep(retry.delay(attempt, error))
    if not actions:
        return 0
    rows = [
        CorporateActionRow(
            **a.model_dump(include={"kind", "ex_date", "new_rate", "old_rate", "amount", "currency"})
        )
        for a in actions
    ]
    command = RecordCorporateActions(symbol=symbol, actions=rows, source=f"backfill:{provider.name}")
    recorded: ActionsRecorded = bus.execute(command, context)
    return recorded.recorded


def _subscribe(
    provider: MarketDataProvider,
    symbol: str,
    listing: Listing | None,
    symbols: SymbolRepository,
    bus: MessageBus,
    context: MessageContext,
) -> None:
    """A symbol the provider has bars for, on its first page, subscribed to the provider's
    scheduled pull by the provider's tag: registered with it when new (ingest refuses unknown
    symbols; crypto trades 24/7, and a stock's exchange is not in the bars, so it is left blank),
    or given the tag when it was registered before (by hand, or with the demo data)."""
    if listing is not None:
        symbols.save_many([listing.model_copy(update={"tags": [*listing.tags, provider.name]})])
        return
    exchange = "CRYPTO" if provider.asset_class == "crypto" else ""
    command = RegisterSymbol(
        symbol=symbol, exchange=exchange, asset_class=provider.asset_class, tags=[provider.name]
    )
    bus.execute(command, context)


def _ingest_page(
    provider: MarketDataProvider,
    symbol: str,
    tf: Timeframe,
    page: BarSeries,
    numbers: tuple[int, int],
    through: datetime,
    bus: MessageBus,
    context: MessageContext,
) -> None:
    command = IngestBarSeries(timeframe=tf, symbol=symbol, bars=page, source=f"backfill:{provider.name}")
    first, last = numbers
    pages = f"page {first}" if first == last else f"pages {first} to {last}"
    try:
        bus.execute(command, context)
    except ValidationFailed as error:
        raise ValidationFailed(
            f"{provider.name} sent {error.total} bad row(s) for {symbol} in {pages} of this run "
            f"({page.moment(0).isoformat()} to {page.moment(-1).isoformat()}); nothing of that page was "
            f"written, and {symbol} is backfilled up to {through.isoformat()}",
            error.problems,
            error.total,
        ) from None


# -- backfills as jobs (submitted over HTTP, run on BackfillRequested) -------------------------


def submit_backfill(
    cmd: SubmitBackfill,
    backfill_jobs: BackfillJobs,
    providers: MarketDataProviders,
    clock: Clock,
    context: MessageContext,
) -> Handled[BackfillJob]:
    """Everything a backfill can check before it runs is checked here (as the CLI's run does), so
    a bad request is a 422 naming its field and no job is stored."""
    request = cmd.request
    try:
        check_backfill(request, providers, clock.now())
    except (UnknownProvider, ProviderCredentialsError) as error:
        # A request this deployment cannot serve: the caller's to fix (or an admin's to configure).
        raise ValidationFailed(error.detail, [Problem(error.detail, field="provider")]) from None
    job = BackfillJob(
        backfill_id=newest_first_id("bf"),
        request=request,
        submitted_at=clock.now(),
        submitted_by=context.principal.key_id,
    )
    backfill_jobs.add(job)
    return Handled(job, (_requested(job),))


def _requested(job: BackfillJob) -> BackfillRequested:
    return BackfillRequested(
        backfill_id=job.backfill_id, provider=job.request.provider, symbols=len(job.request.symbols)
    )


def run_backfills(
    event: BackfillRequested,
    backfill_jobs: BackfillJobs,
    providers: MarketDataProviders,
    backfills: BackfillCheckpoints,
    symbols: SymbolRepository,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
    backfill_job_budget_s: float,
) -> Handled[BackfillJob | None]:
    """Run a queued backfill job. When its time budget is used up it saves its progress and queues
    itself again (the checkpoints make the next run resume there), so no run meets Lambda's
    15-minute limit. An error fails the job with the error recorded: the provider's retries have
    been spent already, and a deterministic error would fail every retry alike."""
    job = backfill_jobs.get(event.backfill_id)
    if job is None or not job.runnable(clock.now()):
        return Handled(None)  # unknown, or finished: a redelivered event does nothing
    job = job.start(clock.now())
    backfill_jobs.save(job)
    cmd = job.request
    deadline = clock.now() + timedelta(seconds=backfill_job_budget_s)
    try:
        provider, start, end = check_backfill(cmd, providers, clock.now())
        run = _Run(provider, providers, cmd.timeframe, backfills, symbols, bus, clock, context, deadline)
        report = _backfill(run, cmd, start, end)
    except _OutOfTime as spent:
        queued = job.progressed(spent.bars).requeue()
        backfill_jobs.save(queued)
        return Handled(queued, (_requested(queued),))
    except Exception as error:
        failed = job.fail(describe_failure(error), clock.now())
        backfill_jobs.save(failed)
        return Handled(failed)
    done = job.complete(report, clock.now())
    backfill_jobs.save(done)
    return Handled(done)


class PullReport(BaseModel):
    provider: str
    timeframe: Timeframe
    bars: int
    symbols: list[SymbolBackfill]
    failed: dict[str, str]  # symbol -> why


def pull_latest_bars(
    cmd: PullLatestBars,
    providers: MarketDataProviders,
    backfills: BackfillCheckpoints,
    symbols: SymbolRepository,
    bus: MessageBus,
    clock: Clock,
    context: MessageContext,
) -> Handled[PullReport]:
    """The newest complete bars of every symbol subscribed to the provider, each from the bar after
    its last one. One symbol failing does not stop the others; the pull then fails as a whole
    (so the schedule retries it, and dead-letters it in the end), naming each failure.

    With no symbol subscribed the provider is not even built: a schedule that fires every few
    minutes then costs one read, and neither needs the provider's keys nor imports its client
    library (CCXT's exchange, about 0.25 s). An unknown provider is refused all the same."""
    known = providers.names()
    if cmd.provider not in known:
        raise UnknownProvider(cmd.provider, known)
    tf = cmd.timeframe
    subscribed = symbols.tagged(cmd.provider)
    if not subscribed:
        return Handled(PullReport(provider=cmd.provider, timeframe=tf, bars=0, symbols=[], failed={}))
    provider = providers.get(cmd.provider)
    now = clock.now()
    end = tf.floor(now)
    done: list[SymbolBackfill] = []
    failed: dict[str, str] = {}
    retryable = False
    for listing in subscribed:
        coverage = listing.coverage.get(tf)
        start = coverage.last + tf.delta if coverage else tf.floor(now - timedelta(days=cmd.first_pull_days))
        if start >= end:
            continue
        try:
            done.append(
                _backfill_symbol(
                    _Run(provider, providers, tf, backfills, symbols, bus, clock, context),
                    listing.symbol,
                    start,
                    end,
                )
            )
        except DomainError as error:
            failed[listing.symbol] = str(error)
            retryable = retryable or bool(getattr(error, "retryable", False))
    report = PullReport(
        provider=provider.name, timeframe=tf, bars=sum(s.bars for s in done), symbols=done, failed=failed
    )
    if failed:
        detail = f"{provider.name}: the pull of {len(failed)} symbol(s) failed: " + "; ".join(
            f"{symbol}: {why.splitlines()[0]}" for symbol, why in failed.items()
        )
        error_type = ProviderUnavailable if retryable else ProviderError
        raise error_type(detail)
    return Handled(report)


# The queries' handlers are a table of their own (query_handlers.py, bootstrap.TABLES_APART): a
# read answers from the repository and the lake, without the commands and the ingest and backfill
# machinery loaded here.
HANDLERS = HandlerTable(
    commands={
        RegisterSymbol: register_symbol,
        IngestBars: ingest_bars,
        IngestBarFile: ingest_bar_file,
        IngestBarSeries: ingest_bar_series,
        CompactLake: compact_lake,
        CompactIngests: compact_ingests,
        RecordCorporateActions: record_corporate_actions,
        BackfillBars: backfill_bars,
        SubmitBackfill: submit_backfill,
        **dict.fromkeys(
            (PullLatestBars, PullAlpacaBars, PullBinanceBars, PullCoinbaseBars, PullKrakenBars),
            pull_latest_bars,
        ),
    },
)
