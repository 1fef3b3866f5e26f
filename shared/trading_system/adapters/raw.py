"""The raw-upload area: a folder locally, a bucket in AWS. Files dropped there are ingested;
each one gets a report next to it (`_reports/<key>.json`) saying what happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trading_system.config import Settings

REPORTS = "_reports"
DONE = "_done"


class RawFiles(Protocol):
    def uri(self, key: str) -> str:
        """What DuckDB reads: a local path or s3://bucket/key."""

    def report(self, key: str, report: dict[str, Any]) -> None: ...

    def pending(self) -> list[str]:
        """Keys waiting to be ingested (the local watcher polls this; S3 notifies instead)."""

    def archive(self, key: str) -> None:
        """Move a processed file out of the way so it is not ingested twice."""


class LocalRawFolder:
    def __init__(self, root: str):
        self.root = Path(root)

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def report(self, key: str, report: dict[str, Any]) -> None:
        path = self.root / REPORTS / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str))
        tmp.replace(path)

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
        target = self.root / DONE / key
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


def raw_files(settings: Settings) -> RawFiles:
    if settings.raw_root.startswith("s3://"):
        return S3RawBucket(settings.raw_root, settings)
    return LocalRawFolder(settings.raw_root)
