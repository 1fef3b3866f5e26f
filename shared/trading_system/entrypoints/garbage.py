"""How the platform's long-lived processes (a Lambda, `trading serve`) run the cyclic garbage
collector: off while the process starts, then on with what start-up made frozen and with young
objects collected less often.

Why (docs/BENCHMARKS.md, "Garbage collection"):
- Start-up makes hundreds of thousands of objects that live as long as the process (modules,
  classes, models, routes) and next to no garbage. Each full collection would walk them all
  again: frozen, they are never walked.
- A handler that works on thousands of records at once (an end of day: 5,000 listings, quotes and
  events) keeps tens of thousands of objects alive for a few hundred milliseconds. With CPython's
  default of a young collection every 700 allocations, they survive enough collections to be
  promoted, and the oldest generation's rule then triggers full collections: 3-4 of them per end
  of day, ~300 ms of pauses. Collecting the young generation every 10,000 allocations lets them
  die young: ~50 ms. Garbage in reference cycles waits a little longer to be freed; nothing else
  changes.
"""

from __future__ import annotations

import gc

# Allocations (net of deallocations) between two collections of the youngest generation; the
# older generations keep CPython's defaults (every 10 younger collections).
YOUNG_COLLECTION_EVERY = 10_000


def starting() -> None:
    """Before start-up's imports: no collections while it builds what lives as long as the process."""
    gc.disable()


def started() -> None:
    """Start-up is over: freeze what it made (never walked again), and turn the collector back on
    with the platform's thresholds. Once per process: a later call finds it on, and leaves it."""
    if gc.isenabled():
        return
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)
    gc.enable()
