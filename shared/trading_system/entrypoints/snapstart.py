"""Lambda SnapStart's runtime hooks (catalog: `Function.snap_start`; infra/constructs/snap_started.py).

A SnapStart function is initialised once, when its version is published; Lambda snapshots the
process and resumes every new instance from that snapshot, maybe days later and many times over.
So what the init phase made once must be made again where it has to be fresh or unique:

- before the snapshot: import what the first request would otherwise import (the context's
  handlers, which the bus loads lazily), so that the snapshot has it;
- after each restore: a new seed for `random` (and numpy's global generator, when it is loaded),
  or every instance would draw the same numbers; a new botocore session (credentials are resolved
  again, the service models already read are kept) and every client, connection and DuckDB
  secret of the container built again (`Container.forget_connections`), since the sockets and
  credentials in the snapshot may be stale; then the function's clients, as its init built them.

The hooks are registered only when Lambda initialises for a snapshot
(`AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`); `snapshot_restore_py` ships in Lambda's Python
runtime and is imported only then, so nothing here needs it locally or in tests.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trading_system.bootstrap import Container

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"
_CLIENTS_MODULE = "trading_system.adapters.aws.clients"


def snapshotting() -> bool:
    """Whether Lambda is initialising this process for a SnapStart snapshot."""
    return os.environ.get(INITIALIZATION_TYPE) == SNAP_START


def register(container: Container, context: str, build_clients: Callable[[], None]) -> bool:
    """The hooks of a function of `context` whose init built `container` and then its clients
    with `build_clients`; False (and nothing registered) unless Lambda is taking a snapshot."""
    if not snapshotting():
        return False
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(before_snapshot, context)
    register_after_restore(after_restore, container, build_clients)
    return True


def before_snapshot(context: str) -> None:
    """Into the snapshot: the context's handlers, which the bus would import on the first message,
    and the tables it keeps apart (bootstrap.TABLES_APART: a read's first message needs its own)."""
    from trading_system.bootstrap import load_handlers

    load_handlers(context)


def after_restore(container: Container, build_clients: Callable[[], None]) -> None:
    """What must be fresh in each restored instance: the seeds, the session, the connections."""
    reseed()
    clients = sys.modules.get(_CLIENTS_MODULE)
    if clients is not None:  # only functions with AWS clients have loaded it
        clients.forget_session()
    container.forget_connections()
    build_clients()


def reseed() -> None:
    """New seeds from the OS for the generators a module-level draw would share across instances
    (`uuid4` and `secrets` read the OS each time, and need none)."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
