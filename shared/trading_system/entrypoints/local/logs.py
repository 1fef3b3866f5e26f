"""The local server's logging: uvicorn's own setup, with API keys taken out of every line, as
text or as JSON with the fields Lambda's lines have (`log_format`).

Browsers cannot set headers on a WebSocket, so the dashboard passes its key as `?api_key=...`;
uvicorn writes request paths with their query strings (the HTTP access log, and the WebSocket
handshake lines of its error log), which would leave keys in clear in any log kept or shared.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from trading_system.kernel import correlation

SERVICE = "trading"  # POWERTOOLS_SERVICE_NAME of the functions (infra/constructs/functions.py)

# The value runs to the next parameter, the end of the path, or a quote (access log lines
# quote the request line).
API_KEY_IN_QUERY = re.compile(r"(?i)(\bapi_key=)[^&\s\"'#]*")
REDACTED = "***"


def redact(text: str) -> str:
    return API_KEY_IN_QUERY.sub(rf"\g<1>{REDACTED}", text)


class RedactApiKeys(logging.Filter):
    """Redacts `api_key=<value>` in a record's message and arguments. The arguments are
    redacted one by one rather than merged into the message, because uvicorn's access
    formatter reads them by position."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        colored = getattr(record, "color_message", None)  # what uvicorn prints on a terminal instead
        if isinstance(colored, str):
            record.color_message = redact(colored)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line, with the keys Powertools' Logger writes in Lambda (level, location,
    message, timestamp, service, correlation_id), so one query reads both runtimes' logs."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "service": SERVICE,
            "logger": record.name,
        }
        correlation_id = correlation.current.get()
        if correlation_id is not None:
            line["correlation_id"] = correlation_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging configuration with the redaction on every handler, and the platform's
    own loggers (the root logger) written through uvicorn's default handler at `level`; in JSON
    lines when `log_format` is json."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_api_keys": {"()": RedactApiKeys}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_api_keys"]
    if log_format == "json":
        config["formatters"] = {name: {"()": JsonLines} for name in config["formatters"]}
    config["root"] = {"handlers": ["default"], "level": level.upper()}
    return config
