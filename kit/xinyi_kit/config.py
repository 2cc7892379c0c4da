"""Configuration from environment variables, validated once at start."""

from __future__ import annotations

import os
import sys
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# "demo": `make run`, whose demo city is generated on a clock that starts weeks in the past and
# catches up with the real one (an assembly needs its 15 days' notice); tests move it too.
Env = Literal["development", "demo", "test", "production"]
CLOCK_ENVS = ("test", "demo")


def _asyncpg_url(url: str) -> str:
    """Accepts postgresql:// or postgres:// URLs and names the asyncpg driver for SQLAlchemy."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("must be a postgresql:// URL")


class KitSettings(BaseSettings):
    """Settings every service reads. Service-specific settings subclass this."""

    model_config = SettingsConfigDict(env_prefix="XINYI_", extra="ignore", frozen=True)

    env: Env = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    database_url: str = Field(validation_alias=AliasChoices("DATABASE_URL", "XINYI_DATABASE_URL"))
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL", "XINYI_NATS_URL")
    )
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0 turns metrics off")
    identity_addr: str = "127.0.0.1:50051"
    data_dir: str = ".run"
    # A file holding a clock offset that tests (and the demo's generator) write; refused unless
    # XINYI_ENV is test or demo.
    test_clock_file: str | None = None
    stream_replicas: int = Field(default=1, ge=1, le=5)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        return _asyncpg_url(value)


S = TypeVar("S", bound=BaseSettings)


def load(settings_cls: type[S]) -> S:
    """Reads settings from the environment; on a bad or missing value, one clear line and exit 2."""
    try:
        settings = settings_cls()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = env_name(settings_cls, str(err["loc"][0])) if err["loc"] else "?"
            problems.append(f"{name}: {err['msg']}")
        print(f"configuration error: {'; '.join(problems)}", file=sys.stderr)
        raise SystemExit(2) from None
    clock_file = os.environ.get("XINYI_TEST_CLOCK_FILE")
    if clock_file and getattr(settings, "env", "development") not in CLOCK_ENVS:
        print(
            f"configuration error: XINYI_TEST_CLOCK_FILE is set but "
            f"XINYI_ENV={getattr(settings, 'env', 'development')}; "
            "only tests and the demo may move the clock, everything else runs on the real clock",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return settings


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from (the first alias, else prefix + name)."""
    info = settings_cls.model_fields.get(field)
    if info is None:
        # Validation errors name an aliased field by the alias it was looked up under.
        for candidate in settings_cls.model_fields.values():
            alias = candidate.validation_alias
            if isinstance(alias, AliasChoices) and field in alias.choices:
                return field
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return (prefix + field).upper()


def env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads: used to check deployment files."""
    return {env_name(settings_cls, field) for field in settings_cls.model_fields}
