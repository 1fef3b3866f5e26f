"""Whose strategies, backtests, sweeps and deployments a caller may see: the owner's, or any one
for an admin. One thing by id is kernel.principal.visible; here, a thing named inside a request
and pages of jobs. Another user's id answers as an unknown one, so none leaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from trading_system.kernel.principal import Owned, Principal

if TYPE_CHECKING:
    from trading_system.strategies.jobs import Job
    from trading_system.strategies.ports import Jobs


T = TypeVar("T", bound=Owned)
J = TypeVar("J", bound="Job")


def seen(principal: Principal, found: T | None) -> T | None:
    """`found` if the principal may see it, else None: for a thing named inside a request (a
    backtest's universe scanner), another user's is as absent as an unknown one."""
    return found if found is not None and principal.owns(found.owner) else None


def newest_visible(
    jobs: Jobs[J],
    principal: Principal,
    after: str | None,
    limit: int,
    keep: Callable[[J], bool] | None = None,
) -> list[J]:
    """The principal's jobs newest first (that `keep` keeps), starting after the id `after`.
    Filtered after reading, a page at a time: a user keeps hundreds of jobs, not millions (a
    store index by owner would spare reading other users' pages)."""
    if principal.sees_all and keep is None:
        return jobs.newest(after, limit)
    picked: list[J] = []
    while len(picked) < limit and (page := jobs.newest(after, 500)):
        picked += [job for job in page if principal.owns(job.owner) and (keep is None or keep(job))]
        after = page[-1].key
    return picked[:limit]
