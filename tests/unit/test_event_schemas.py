"""events/schemas/ is generated from the code (`make schemas`); a stale file fails here."""

from __future__ import annotations

from pathlib import Path

from trading_system.entrypoints.schemas import event_schemas, render

SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schemas"


def test_checked_in_schemas_match_the_code() -> None:
    expected = {f"{name}.json": render(schema) for name, schema in event_schemas().items()}
    actual = {path.name: path.read_text() for path in SCHEMAS.glob("*.json")}
    assert set(actual) == set(expected), "run `make schemas`"
    for name, text in expected.items():
        assert actual[name] == text, f"{name} is stale: run `make schemas`"


def test_schemas_describe_the_envelope_and_the_payload() -> None:
    schema = event_schemas()["BarsIngested"]
    assert schema["properties"]["event_type"] == {"const": "BarsIngested", "type": "string"}
    assert {"event_id", "occurred_at", "correlation_id", "causation_id", "producer", "payload"} <= set(
        schema["properties"]
    )
    assert {"ingest_id", "timeframe", "rows", "symbols"} <= set(schema["properties"]["payload"]["properties"])
    assert schema["x-eventbridge"] == {"source": "trading.market_data", "detail-type": "BarsIngested"}
