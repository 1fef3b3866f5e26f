"""Settings: defaults < settings file < environment < parameter store (AWS only).

Every setting can be given as an environment variable `TRADING_<NAME>`; the settings file is
TOML (`trading.toml` in the working directory, or the path in TRADING_SETTINGS_FILE).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "TRADING_"

# Public-key algorithms only: a JWKS holds public keys, and an HMAC "key" made of one is the
# algorithm-confusion attack.
JwtAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
DEFAULT_JWT_ALGORITHMS: tuple[JwtAlgorithm, ...] = ("RS256", "ES256")  # Cognito signs with RS256


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
    # The context's run-time schedules in AWS (catalog: Timetabled), set by the stack on the
    # functions that write them: the EventBridge Scheduler group, the function each schedule
    # invokes, the role Scheduler invokes it with, and where Scheduler puts what it could not deliver.
    timetable_group: str = "trading-scanners"
    timetable_target_arn: str | None = None
    timetable_role_arn: str | None = None
    timetable_dead_letter_arn: str | None = None
    # The WebSocket API's management endpoint (`https://<api id>.execute-api.<region>.amazonaws.com/
    # <stage>`), set by the stack on the stream's fan-out, which posts to connections through it.
    websocket_endpoint: str | None = None
    # Alerts out (alerts/): the SNS topic e-mail alerts go through (set by the stack on the
    # functions that use it), and whether alerts may reach private addresses.
    alerts_topic_arn: str | None = Field(
        default=None, description="the SNS topic of e-mail alerts (AWS; e-mail alerts are refused without)"
    )
    alerts_private_targets: bool | None = Field(
        default=None,
        description="whether alert URLs may point at loopback, private or link-local addresses (default: "
        "yes locally, where they are the user's own; no in AWS, where one would reach the cloud's insides)",
    )
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
    # Bearer JWTs. The platform's own tokens (`trading tokens issue`) are always accepted where its
    # signing key is known; an outside OIDC issuer (a Cognito user pool) only when named here.
    jwt_issuer: str | None = Field(
        default=None,
        description="an OIDC issuer whose tokens are accepted, exactly as its `iss` claim reads "
        "(Cognito: https://cognito-idp.<region>.amazonaws.com/<user pool id>)",
    )
    jwt_audience: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="the `aud` values (for Cognito access tokens, `client_id`) the issuer's tokens must "
        "carry, comma-separated; required with jwt_issuer",
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="the issuer's signing keys (default: <jwt_issuer>/.well-known/jwks.json)"
    )
    jwt_roles_claim: str = Field(
        default="cognito:groups",
        min_length=1,
        description="the claim naming the roles (viewer, trader, admin): Cognito's groups, or e.g. `roles`",
    )
    jwt_algorithms: Annotated[list[JwtAlgorithm], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_JWT_ALGORITHMS),
        min_length=1,
        description="the signature algorithms accepted from jwt_issuer, comma-separated (public-key ones "
        "only: `none` and HMAC are refused)",
    )
    jwt_jwks_ttl_s: int = Field(
        default=300, ge=1, le=86_400, description="how long fetched signing keys are trusted before a refetch"
    )
    jwt_leeway_s: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp and nbf")
    jwt_signing_key: SecretStr | None = Field(
        default=None,
        description="the PEM private key of the platform's own tokens (in AWS: an SSM SecureString); "
        "locally, when unset, one is generated in <data_dir>/jwt-signing-key.pem on first use",
    )

    # Market-data providers. Keys come from the settings file, the environment or (in AWS) the
    # parameter store, never from code; a secret is a SecretStr so no log or error shows it.
    alpaca_key_id: str | None = Field(default=None, description="Alpaca API key id (APCA-API-KEY-ID)")
    alpaca_secret_key: SecretStr | None = Field(default=None, description="Alpaca API secret key")
    alpaca_feed: Literal["iex", "sip", "delayed_sip", "otc"] = Field(
        default="iex", description="Alpaca's stock data feed: iex on the free plan, sip with a subscription"
    )
    alpaca_requests_per_minute: int = Field(
        default=200,
        ge=0,
        le=100_000,
        description="requests a minute the Alpaca adapter spaces its calls to (200 on the free plan, "
        "1,000 with a subscription; 0: no spacing, 429s are still backed off)",
    )
    provider_urls: dict[str, str] = Field(
        default_factory=dict,
        description="a provider's API base URL instead of its public one, by provider name "
        '(e.g. {"alpaca": "https://..."}): a sandbox, a proxy, or the fake server of the tests',
    )
    provider_timeout_s: float = Field(default=30.0, gt=0, le=300, description="one provider request")
    backfill_job_budget_s: float = Field(
        default=600,
        ge=0,
        le=840,
        description="seconds a backfill job runs before it saves its progress and continues in a "
        "fresh invocation (below Lambda's 15-minute limit, leaving time for the page in flight)",
    )
    provider_attempts: int = Field(
        default=5, ge=1, le=20, description="tries of a provider request on a 429 or 5xx before giving up"
    )

    @field_validator("provider_urls")
    @classmethod
    def _provider_urls_are_https(cls, urls: dict[str, str]) -> dict[str, str]:
        # A provider's keys travel with every request: never in clear text, except to loopback.
        for name, url in urls.items():
            parts = urlsplit(url)
            local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
            if not (parts.scheme == "https" and parts.hostname) and not local:
                raise ValueError(
                    f"provider_urls[{name!r}] must be an https URL (or http on loopback), got {url!r}"
                )
        return urls

    @field_validator("jwt_audience", "jwt_algorithms", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        # An environment variable or a parameter reads "a,b" more naturally than JSON; take both.
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]

    @model_validator(mode="after")
    def _check_jwt_issuer(self) -> Settings:
        if self.jwt_issuer is None:
            return self
        if not self.jwt_audience:
            # Without one, any app client of the same user pool could call the API.
            raise ValueError("jwt_audience is required with jwt_issuer")
        url = urlsplit(self.jwks_url or "")
        loopback = url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost")
        if url.scheme != "https" and not loopback:
            raise ValueError(f"jwt_jwks_url must be https (or http on loopback), got {self.jwks_url!r}")
        return self

    @property
    def jwks_url(self) -> str | None:
        if self.jwt_jwks_url:
            return self.jwt_jwks_url
        return f"{self.jwt_issuer.rstrip('/')}/.well-known/jwks.json" if self.jwt_issuer else None

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
