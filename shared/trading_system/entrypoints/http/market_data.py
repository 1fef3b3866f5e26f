"""Market Data routes: symbols, bar ingestion (JSON or file), bar queries and backfill jobs.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).

The endpoints live in modules beside this one, imported when a route first asks for one of theirs
(`routes.kept_apart`): the reads of symbols, bars and corporate actions (market_data_queries.py)
and of backfill jobs (market_data_backfills.py), whose handlers are a table of their own
(bootstrap.TABLES_APART), and the commands (market_data_commands.py), whose handlers ingest, check
and backfill. A read route so never imports the commands' handlers, the ingest rules or the
backfill machinery.
"""

from __future__ import annotations

from trading_system.entrypoints.http.routes import kept_apart

_QUERIES = ("list_symbols", "get_symbol", "get_bars", "list_corporate_actions")
_BACKFILLS = ("list_backfills", "get_backfill")
_COMMANDS = (
    "register_symbol",
    "ingest_bars",
    "upload_bars",
    "record_corporate_actions",
    "compact_lake",
    "submit_backfill",
)

__getattr__ = kept_apart(
    __name__,
    {
        **dict.fromkeys(_QUERIES, "market_data_queries"),
        **dict.fromkeys(_BACKFILLS, "market_data_backfills"),
        **dict.fromkeys(_COMMANDS, "market_data_commands"),
    },
)
