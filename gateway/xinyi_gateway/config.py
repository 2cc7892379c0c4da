"""Gateway settings, from environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYI_", extra="ignore", frozen=True)

    env: str = "development"
    log_level: str = "INFO"
    http_port: int = Field(default=8080, ge=1, le=65535)
    identity_addr: str = "127.0.0.1:50051"
    ledger_addr: str = "127.0.0.1:50052"
    voting_addr: str = "127.0.0.1:50053"
    disclosure_addr: str = "127.0.0.1:50054"
    notifications_addr: str = "127.0.0.1:50055"
    # Requests larger than this are refused with 413 before they are read whole.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Sign-in attempts per client address and minute (with a burst of twice that).
    login_rate_per_minute: int = Field(default=20, ge=1, le=10_000)
    # Deadline of each call to a service; past it the gateway answers 504.
    call_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
