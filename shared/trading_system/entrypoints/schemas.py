"""Writes the JSON Schema of every domain event (with its envelope) to a folder.

`make schemas` regenerates events/schemas/; tests/unit/test_event_schemas.py fails when the
checked-in files differ from what the code says.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from trading_system.bootstrap import all_handlers
from trading_system.kernel.messages import Envelope, Event


def domain_events() -> dict[str, type[Event]]:
    """The platform's event types on the bus (not bookkeeping kept in event streams only, nor
    ones a test or plug-in defined on the side)."""
    all_handlers()  # imports every context, and so every event class
    return {
        name: cls
        for name, cls in sorted(Event.registry.items())
        if cls.__module__.startswith("trading_system.") and cls.published
    }


def event_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for name, cls in domain_events().items():
        envelope = Envelope.model_json_schema()
        envelope["title"] = name
        envelope["description"] = (cls.__doc__ or name).strip()
        envelope["properties"]["event_type"] = {"const": name, "type": "string"}
        envelope["properties"]["version"] = {"const": cls.version, "type": "integer"}
        payload = cls.model_json_schema(ref_template="#/$defs/{model}")
        definitions = payload.pop("$defs", {})
        envelope["properties"]["payload"] = payload
        if definitions:
            envelope["$defs"] = {**envelope.get("$defs", {}), **definitions}
        envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        envelope["x-eventbridge"] = {"source": cls.bus_source(), "detail-type": name}
        schemas[name] = envelope
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in event_schemas().items():
        path = folder / f"{name}.json"
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "events/schemas")):
        print(path)
