"""Settings: defaults < settings file < environment < parameter store (AWS only).

Every setting can be given as an environment variable `TRADING_<NAME>`; the settings file is
TOML (`trading.toml` in the working directory, or the path in TRADING_SETTINGS_FILE).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "TRADING_"


class SettingsError(Exception):
    """A setting has a bad value; the message names each one and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    runtime: Literal["local", "aws"] = "local"
    data_dir: Path = Field(default=Path(".data"), description="local runtime: where data lives")
    lake_root: str = Field(default="", description="Parquet lake: a folder or s3://bucket[/prefix]")
    raw_root: str = Field(default="", description="raw uploads: a folder or s3://bucket[/prefix]")
    sqlite_path: str = Field(default="", description="local write store file")
    table_name: str = "trading"
    event_bus_name: str = "trading"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = Field(default=None, description="only for moto in tests")
    parameters_path: str | None = Field(default=None, description="SSM path read last, in AWS")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_batch_rows: int = Field(default=100_000, ge=1)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_clock_skew_s: int = Field(
        default=300, ge=0, le=366 * 86_400, description="how far in the future an ingested bar may start"
    )
    min_bar_price: float = Field(
        default=1e-8, gt=0, allow_inf_nan=False, description="lowest price a bar may have"
    )
    max_bar_price: float = Field(
        default=1e9, gt=0, allow_inf_nan=False, description="highest price a bar may have"
    )
    lake_orphan_grace_s: int = Field(
        default=3_600,
        ge=0,
        description="how old the files of an ingestion that never committed must be before compaction "
        "deletes them (younger ones may belong to an ingestion still writing)",
    )
    max_json_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1, description="the largest JSON request body (a 413 beyond it)"
    )
    duckdb_memory_limit_mb: int | None = Field(default=None, ge=64)
    duckdb_threads: int | None = Field(default=None, ge=1)
    strategies_dir: str | None = Field(
        default=None,
        description="a folder of .py files whose Strategy classes can be backtested and deployed",
    )
    sweep_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="processes a sweep runs in (default: every core locally, 1 in Lambda, which has no "
        "shared memory for a process pool)",
    )
    sweep_block_backtests: int = Field(
        default=5_000,
        ge=1,
        le=100_000,
        description="backtests in one block of a sweep: one Lambda invocation in AWS, one step of "
        "its progress locally",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="the local server's log lines: text for a terminal, or JSON with the fields "
        "Lambda's lines have (level, location, message, timestamp, service, correlation_id)",
    )
    default_account: str = Field(
        default="paper",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the account orders use when they name none",
    )

    @model_validator(mode="after")
    def _fill_local_paths(self) -> Settings:
        derived = {
            "lake_root": str(self.data_dir / "lake"),
            "raw_root": str(self.data_dir / "raw"),
            "sqlite_path": str(self.data_dir / "trading.db"),
        }
        for name, default in derived.items():
            if not getattr(self, name):
                object.__setattr__(self, name, default)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(f"{ENV_PREFIX}SETTINGS_FILE", "trading.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings]
        if os.environ.get(f"{ENV_PREFIX}PARAMETERS_PATH"):
            sources.append(ParameterStoreSource(settings_cls))
        sources += [env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file)]
        return tuple(sources)


class ParameterStoreSource(PydanticBaseSettingsSource):
    """Settings kept in SSM Parameter Store under TRADING_PARAMETERS_PATH, one parameter per
    setting (`<path>/max_batch_rows`), read through Powertools (which caches them)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads them all at once

    def __call__(self) -> dict[str, Any]:
        from aws_lambda_powertools.utilities import parameters

        path = os.environ[f"{ENV_PREFIX}PARAMETERS_PATH"].rstrip("/")
        values = parameters.get_parameters(path, decrypt=True, max_age=300)
        known = set(self.settings_cls.model_fields)
        return {name: value for name, value in values.items() if name in known}


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for e in error.errors():
            name = ".".join(str(p) for p in e["loc"]) or "settings"
            where = f"{ENV_PREFIX}{name.upper()}" if name != "settings" else name
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
            lines.append(f"{where}: {e['msg']}{got}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
