"""The raw-upload area: a folder locally, a bucket in AWS. Files dropped there are ingested;
each one gets a report (`_reports/<key>.json`) saying what happened. Locally an ingested file
moves to `_done/<key>`, a rejected one to `_rejected/<key>` with its problems beside it
(`_rejected/<key>.problems.json`), so what needs fixing is never mixed with what was taken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trading_system.config import Settings

REPORTS = "_reports"
DONE = "_done"
REJECTED = "_rejected"
PROBLEMS_SUFFIX = ".problems.json"


class RawFiles(Protocol):
    def uri(self, key: str) -> str:
        """What DuckDB reads: a local path or s3://bucket/key."""

    def report(self, key: str, report: dict[str, Any]) -> None: ...

    def pending(self) -> list[str]:
        """Keys waiting to be ingested (the local watcher polls this; S3 notifies instead)."""

    def archive(self, key: str) -> None:
        """Move an ingested file out of the way so it is not ingested twice."""

    def reject(self, key: str, report: dict[str, Any]) -> None:
        """Move a refused file out of the way, apart from ingested ones, with the report naming
        its problems beside it."""


class LocalRawFolder:
    def __init__(self, root: str):
        self.root = Path(root)

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def report(self, key: str, report: dict[str, Any]) -> None:
        _write_json(self.root / REPORTS / f"{key}.json", report)

    def pending(self) -> list[str]:
        if not self.root.exists():
            return []
        keys = []
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and not key.startswith(("_", ".")) and path.suffix in (".csv", ".parquet"):
                keys.append(key)
        return keys

    def archive(self, key: str) -> None:
        self._move(key, self.root / DONE / key)

    def reject(self, key: str, report: dict[str, Any]) -> None:
        target = self.root / REJECTED / key
        _write_json(target.with_name(target.name + PROBLEMS_SUFFIX), report)
        self._move(key, target)

    def _move(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.root / key), target)


class S3RawBucket:
    def __init__(self, root: str, settings: Settings):
        from trading_system.adapters.aws.clients import client

        self.bucket = root.removeprefix("s3://").split("/", 1)[0]
        self.s3 = client("s3", settings)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def report(self, key: str, report: dict[str, Any]) -> None:
        body = json.dumps(report, indent=2, default=str).encode()
        self.s3.put_object(
            Bucket=self.bucket, Key=f"{REPORTS}/{key}.json", Body=body, ContentType="application/json"
        )

    def pending(self) -> list[str]:
        return []  # S3 event notifications deliver each new object instead

    def archive(self, key: str) -> None:
        return None  # a versioned bucket keeps the upload; the report records it was processed

    def reject(self, key: str, report: dict[str, Any]) -> None:
        return None  # S3 notifies each upload once; its report under _reports/ names the problems


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Written aside, then renamed: a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str))
    tmp.replace(path)


def raw_files(settings: Settings) -> RawFiles:
    if settings.raw_root.startswith("s3://"):
        return S3RawBucket(settings.raw_root, settings)
    return LocalRawFolder(settings.raw_root)
