"""Analytics' domain: indicator requests and the table of values they produce. The indicator
library itself is `indicators.py` and `specs.py`, the snapshot `snapshot.py`, the signals
`signals.py`: each a concept of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trading_system.analytics.specs import IndicatorSpec, SpecError, parse_spec
from trading_system.kernel.errors import Problem, ValidationFailed
from trading_system.market_data.domain import Timeframe

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class IndicatorTable:
    symbol: str
    timeframe: Timeframe
    source_timeframe: Timeframe | None
    specs: list[str]
    ts_us: np.ndarray
    values: dict[str, np.ndarray]
    next_start: datetime | None

    def records(self) -> list[dict[str, Any]]:
        import numpy as np

        stamps = np.datetime_as_string(self.ts_us.astype("datetime64[us]").astype("datetime64[s]"))
        names = list(self.values)
        columns = [[None if v != v else v for v in self.values[n].tolist()] for n in names]  # NaN -> null
        return (
            [
                {"ts": f"{stamp}Z", **dict(zip(names, row, strict=True))}
                for stamp, row in zip(stamps.tolist(), zip(*columns, strict=True), strict=True)
            ]
            if names
            else [{"ts": f"{stamp}Z"} for stamp in stamps.tolist()]
        )


def parse_spec_list(texts: list[str], field: str = "specs") -> list[IndicatorSpec]:
    specs, problems = [], []
    for text in texts:
        for part in text.split(","):
            if not part.strip():
                continue
            try:
                specs.append(parse_spec(part))
            except SpecError as error:
                problems.append(Problem(str(error), field=field, value=part.strip()))
    if problems:
        raise ValidationFailed(problems[0].reason, problems)
    if not specs:
        raise ValidationFailed("no indicator given", [Problem("e.g. specs=sma:50,rsi:14", field=field)])
    return list(dict.fromkeys(specs))
