"""DuckDB connections set up for the lake: local folder or S3, laptop or Lambda.

httpfs comes from the PyPI package duckdb-extension-httpfs (pinned to the duckdb version) and is
loaded by file path, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlparse

import duckdb

if TYPE_CHECKING:
    from trading_system.config import Settings

T = TypeVar("T")
P = ParamSpec("P")

# DuckDB's errors for a listed file that is gone: a local one (when the query is bound, or when
# its scan opens the file later), an S3 object.
_VANISHED = ("No files found", "No such file or directory", "(HTTP 404")
_LISTINGS = 3  # a read's attempts, each with a fresh listing of its files


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    in_lambda = "AWS_LAMBDA_FUNCTION_NAME" in os.environ
    if in_lambda:  # only /tmp is writable in Lambda
        for setting, folder in (
            ("home_directory", "/tmp/duckdb"),
            ("extension_directory", "/tmp/duckdb/extensions"),
            ("temp_directory", "/tmp/duckdb/spill"),
        ):
            Path(folder).mkdir(parents=True, exist_ok=True)
            config[setting] = folder
    if settings.duckdb_memory_limit_mb:
        config["memory_limit"] = f"{settings.duckdb_memory_limit_mb}MB"
    if settings.duckdb_threads:
        config["threads"] = str(settings.duckdb_threads)
    conn = duckdb.connect(config=config)
    conn.execute("SET TimeZone = 'UTC'")
    if settings.lake_root.startswith("s3://") or settings.raw_root.startswith("s3://"):
        _enable_s3(conn, settings)
    return conn


def httpfs_extension_path() -> Path:
    import duckdb_extension_httpfs

    package = Path(duckdb_extension_httpfs.__file__).parent
    found = sorted(package.glob(f"extensions/v{duckdb.__version__}/httpfs.duckdb_extension"))
    if not found:
        raise RuntimeError(
            f"duckdb-extension-httpfs has no build for duckdb {duckdb.__version__}: pin both to one version"
        )
    return found[0]


def _enable_s3(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    conn.execute(f"LOAD '{httpfs_extension_path()}'")
    key_id, secret, session_token = s3_credentials()
    options = {
        "KEY_ID": key_id,
        "SECRET": secret,
        "SESSION_TOKEN": session_token,
        "REGION": settings.aws_region,
    }
    if settings.aws_endpoint_url:  # moto's server in tests
        endpoint = urlparse(settings.aws_endpoint_url)
        options["ENDPOINT"] = endpoint.netloc
        options["URL_STYLE"] = "path"
        options["USE_SSL"] = "true" if endpoint.scheme == "https" else "false"
    clauses = ", ".join(
        f"{name} {value}" if name == "USE_SSL" else f"{name} '{literal(value)}'"
        for name, value in options.items()
    )
    conn.execute(f"CREATE OR REPLACE SECRET lake (TYPE s3, {clauses})")


def s3_credentials() -> tuple[str, str, str]:
    """The Lambda role's session for the S3 secret: from the function's environment, so no `aws`
    extension is needed; a SnapStart function has no keys there (Lambda serves them from its
    credentials endpoint, which botocore's chain reads), and reads them when the lake is built,
    after a restore too (entrypoints/snapstart.py)."""
    key_id = os.environ.get("AWS_ACCESS_KEY_ID")
    if key_id:
        return key_id, os.environ.get("AWS_SECRET_ACCESS_KEY", ""), os.environ.get("AWS_SESSION_TOKEN", "")
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        return "", "", ""
    frozen = found.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token or ""


def literal(value: str) -> str:
    """A string's text inside a single-quoted SQL literal."""
    return value.replace("'", "''")


def identifier(name: str) -> str:
    """A column name quoted for SQL, whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def contiguous(values: Any, dtype: Any) -> Any:
    """A DuckDB result column as a contiguous numpy array of the given type."""
    import numpy as np

    return np.ascontiguousarray(np.asarray(values), dtype=dtype)


def vanished(error: duckdb.IOException) -> bool:
    """Whether a query failed because a file it was given is gone (a compaction deleted it)."""
    return any(sign in str(error) for sign in _VANISHED)


def listed_again_if_compacted(read: Callable[P, T]) -> Callable[P, T]:
    """Decorates a read that lists its files and then opens them: a compaction may delete some in
    between, once what replaces them is in place, which a new listing finds. Three listings in a
    row losing a file would take three compactions of the same files: then the error is raised,
    never an answer with files missing."""

    @functools.wraps(read)
    def listing_again(*args: P.args, **kwargs: P.kwargs) -> T:
        for _ in range(_LISTINGS - 1):
            try:
                return read(*args, **kwargs)
            except duckdb.IOException as error:
                if not vanished(error):
                    raise
        return read(*args, **kwargs)

    return listing_again
