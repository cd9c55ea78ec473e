"""Settings read from ``EXECUTOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from executor.core.constants import PAYLOAD_LIMIT


class Settings(BaseSettings):
    """Every tunable of a producer, a worker and the API."""

    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", frozen=True, extra="ignore")

    broker_url: str = "redis://127.0.0.1:6379/0"
    redis_url: str = ""
    region: str = "local-1"
    project_id: str = "default"

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65_535)
    api_tokens: str = Field(default="", repr=False, description="token:project_id[,...]")
    api_access_keys: str = Field(default="", repr=False, description="AK:SK:project_id[,...]")
    api_tokens_file: str = Field(default="", description="a file of token:project_id lines")
    api_access_keys_file: str = Field(default="", description="a file of AK:SK:project_id lines")
    api_anonymous: bool = Field(default=False, description="serve the API without credentials")

    retry_backoff_base: float = Field(default=1.0, gt=0)
    retry_backoff_max: float = Field(default=300.0, gt=0)
    max_chain_depth: int = Field(default=16, ge=1)
    payload_limit: int = Field(default=PAYLOAD_LIMIT, ge=1)
    status_retention: int = Field(default=7 * 86_400, ge=60, description="seconds")

    config_cache_ttl: float = Field(
        default=2.0, ge=0, description="seconds a worker trusts a read config"
    )
    soft_time_limit: float = Field(default=300.0, gt=0)
    time_limit: float = Field(default=330.0, gt=0)
    visibility_timeout: int = Field(default=7_200, ge=5)
    reconcile_interval: float = Field(default=10.0, gt=0)
    reconcile_grace: float = Field(default=5.0, ge=0)
    delivery_deadline: float = Field(default=6 * 3600.0, gt=0, description="seconds")
    outbox_grace: float = Field(default=300.0, gt=0, description="seconds before a re-publish")
    orphan_grace: float = Field(
        default=60.0, gt=0, description="seconds a queued invocation may lack its message"
    )
    max_worker_lost: int = Field(
        default=3, ge=1, description="redeliveries after a crash before FAIL"
    )
    agency_file: str = Field(default="", description="TOML or JSON file that defines agencies")

    log_format: Literal["text", "json"] = "text"
    show_payloads: bool = Field(
        default=False, description="show payloads in task events (Flower) and Celery's logs"
    )
    metrics_port: int = Field(default=0, ge=0, le=65_535, description="0: no exporter in workers")
    metrics_address: str = "0.0.0.0"
    flower_basic_auth: SecretStr = Field(
        default=SecretStr(""), description="user:password[,user:password...]"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.redis_url:
            if not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(
                    "EXECUTOR_REDIS_URL is required when the broker is not Redis "
                    f"(broker is {self.broker_url.split('://', 1)[0]}://)"
                )
            object.__setattr__(self, "redis_url", self.broker_url)
        ceiling = self.visibility_timeout / 2
        if self.time_limit >= ceiling or self.retry_backoff_max >= ceiling:
            raise ValueError(
                "EXECUTOR_TIME_LIMIT and EXECUTOR_RETRY_BACKOFF_MAX must stay below half of "
                "EXECUTOR_VISIBILITY_TIMEOUT, or Redis redelivers messages that are still running"
            )
        if self.soft_time_limit >= self.time_limit:
            raise ValueError("EXECUTOR_SOFT_TIME_LIMIT must be below EXECUTOR_TIME_LIMIT")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
