"""`trading data backfill` brings a symbol's splits from Alpaca (the fake provider server), and
`trading bars --adjustment split` reads across them without the overnight drop."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.fakes.provider_server import ProviderServer
from tests.integration.test_backfill_cli import run, server

__all__ = ["server"]  # the fixture these tests use

START = datetime(2024, 6, 3, tzinfo=UTC)


def test_a_backfilled_split_adjusts_the_bars_read_with_adjustment_split(server: ProviderServer) -> None:
    server.state.add("SPLT", START, 8, step_s=86_400, price=400.0)
    server.state.add_split("SPLT", "2024-06-07", 4)
    report = json.loads(
        run(
            "data", "backfill", "--provider", "alpaca", "--symbols", "SPLT", "--timeframe", "1d",
            "--start", "2024-06-03", "--end", "2024-06-10", "--format", "json",
        ).stdout
    )  # fmt: skip
    assert report["bars"] == 8 and report["symbols"][0]["corporate_actions"] == 1

    def closes(*extra: str) -> list[float]:
        out = json.loads(run("bars", "SPLT", "--start", "2024-06-03", "--format", "json", *extra).stdout)
        return [bar["close"] for bar in out["bars"]]

    raw, adjusted = closes(), closes("--adjustment", "split")
    assert closes("--adjustment", "raw") == raw
    assert adjusted[:4] == [c / 4 for c in raw[:4]] and adjusted[4:] == raw[4:]
    bad = run("bars", "SPLT", "--adjustment", "total", code=2)
    assert "adjustment" in bad.output
