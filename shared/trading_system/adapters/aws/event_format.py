"""How envelopes look inside EventBridge events. No boto3 here: subscriber Lambdas import it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trading_system.kernel.messages import Envelope


def envelope_from_eventbridge(event: Mapping[str, Any]) -> Envelope:
    """The envelope inside an EventBridge event, as a Lambda target (or an SQS queue) receives it.

    `detail` is the envelope as a JSON object; a string is accepted too, for events that went
    through a transformer that serialised it.
    """
    detail = event["detail"]
    envelope = (
        Envelope.model_validate_json(detail) if isinstance(detail, str) else Envelope.model_validate(detail)
    )
    detail_type = event.get("detail-type")
    if detail_type is not None and detail_type != envelope.event_type:
        raise ValueError(
            f"EventBridge detail-type {detail_type!r} does not match the envelope's event type "
            f"{envelope.event_type!r} (event {envelope.event_id})"
        )
    return envelope
