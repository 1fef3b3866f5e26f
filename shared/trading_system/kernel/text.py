"""Free text a user gives (names, labels, tags, reasons) is printable: a control character (NUL,
ESC, a newline) or an invisible formatting one (a right-to-left override, a zero-width space)
could corrupt a terminal, a log line or a CSV, or make a name read as another."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def printable(value: str) -> str:
    found = _HIDDEN.search(value)
    if found:
        code = f"U+{ord(found.group()):04X}"
        raise ValueError(f"contains the control or formatting character {code}: use printable text")
    return value


PlainText = Annotated[str, AfterValidator(printable)]
