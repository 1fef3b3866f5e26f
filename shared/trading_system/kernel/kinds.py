"""The write store's item kinds, named once: the adapters write documents under them, and the
catalog grants each function the kinds it may touch (in AWS, `dynamodb:LeadingKeys` conditions on
the table: a kind is an item's partition key).

A kind with an owner's id in it (`trading_orders:<account id>`) is granted by its prefix and `*`,
IAM's `StringLike` wildcard; `kernel.kind_scope` matches the same patterns in the code."""

from __future__ import annotations

# Identity
API_KEYS = "api_key"
TOKEN_REVOCATIONS = "token_revocation"  # revoked token ids and disabled subjects

# Market Data
SYMBOLS = "symbol"
BACKFILLS = "backfill"  # how far each provider's backfill of a symbol got
BACKFILL_JOBS = "backfill_job"  # backfills asked for over HTTP, with their status and report

# Scanning
SCANNERS = "scanner"
SIGNAL_KEYS = "signal_key"

# Trading: the views of the event-sourced ledger, and the event streams themselves
ACCOUNTS = "trading_account"
ORDERS = "trading_order"
QUOTES = "trading_quote"
CONTROL = "trading_control"
ORDER_LISTS = "trading_orders"  # + ":<account id>"
OPEN_ORDERS = "trading_open"  # + ":<symbol>"
ACCOUNT_OPEN_ORDERS = "trading_account_open"  # + ":<account id>"
FILLS = "trading_fills"  # + ":<account id>"
STREAM = "stream#"  # + the stream's name: the event store's items beside the documents
ORDER_STREAMS = "order-"  # + order id
ACCOUNT_STREAMS = "account-"  # + account id
CONTROL_STREAM = "trading-control"

# Strategies
STRATEGIES = "strategy"
BACKTESTS = "backtest"
SWEEPS = "sweep"
DEPLOYMENTS = "deployment"
WEBHOOKS = "webhook"  # webhooks in: their secrets' hashes and order or signal templates
WEBHOOK_HITS = "webhook_hit"  # + ":<webhook id>": the alerts each webhook took in each minute

# Alerts out: each alert, the alerts of each (topic, source), each alert's deliveries (newest
# first), and the deliveries waiting for their next attempt (earliest first)
ALERTS = "alert"
ALERT_ROUTES = "alert_route"  # + ":<topic>:<source id>"
ALERT_DELIVERIES = "alert_delivery"  # + ":<alert id>"
ALERT_RETRIES = "alert_retry"
ALERT_HITS = "alert_hit"  # + ":<alert id>": the deliveries each alert sent (or throttled) each minute

# The live stream in AWS (entrypoints/websocket.py): each WebSocket connection, and each channel's
# subscribers (a channel's connections are one partition, read by the fan-out in one query)
WS_CONNECTIONS = "ws_connection"
WS_CHANNELS = "ws_channel"  # + ":<channel>"

# Run-time schedules kept locally (in AWS, EventBridge Scheduler keeps them)
TIMETABLES = "timetable"  # + ":<group>"

# Scheduled runs (catalog schedules and timetables): each function's latest runs (newest first,
# the last few kept) and its status (last run, last failure, failures since its last success)
SCHEDULE_RUNS = "schedule_run"  # + ":<function name>"
SCHEDULE_STATUS = "schedule_status"

# The bus: each subscriber's record of the events it has handled, and (locally) dead letters
INBOX = "inbox"
DEAD_LETTERS = "dead_letter"


def owned(kind: str) -> str:
    """The pattern of a kind keyed by an owner's id: every `<kind>:<id>`."""
    return f"{kind}:*"


def streams(prefix: str) -> str:
    """The pattern of the event streams whose names start with `prefix`."""
    return f"{STREAM}{prefix}*"
