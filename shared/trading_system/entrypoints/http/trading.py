"""Trading routes: orders, positions, accounts (and their loss-limit halts), fills, P&L and
the kill switch.

Each endpoint is named after its catalog function; the catalog holds its method, path and
summary, and routes.py builds the route (only the one a Lambda serves).

The endpoints live in two modules beside this one, imported when a route first asks for one of
theirs (`routes.kept_apart`): the reads (trading_queries.py), whose handlers answer from the views
(bootstrap.TABLES_APART), and the commands (trading_commands.py), whose handlers decide with the
risk checks and the broker. A read route so never imports the command side, nor a command route
the queries and their handlers.
"""

from __future__ import annotations

from trading_system.entrypoints.http.routes import kept_apart

_QUERIES = (
    "list_orders",
    "get_order",
    "list_order_events",
    "list_positions",
    "get_account",
    "list_accounts",
    "list_account_events",
    "list_fills",
    "get_pnl",
    "get_trading_status",
)
_COMMANDS = (
    "place_order",
    "cancel_order",
    "create_account",
    "reset_account",
    "resume_account",
    "grant_account_reader",
    "revoke_account_reader",
    "halt_trading",
    "resume_trading",
)

__getattr__ = kept_apart(
    __name__, {**dict.fromkeys(_QUERIES, "trading_queries"), **dict.fromkeys(_COMMANDS, "trading_commands")}
)
