"""Settings read from ``EXECUTOR_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from executor.core.constants import (
    ADMISSION_MEMORY_FRACTION,
    API_READ_TIMEOUT,
    PAYLOAD_LIMIT,
    PAYLOAD_MAX_DEPTH,
)
from executor.core.errors import SettingsInvalid


class Settings(BaseSettings):
    """Every tunable of a producer, a worker and the API."""

    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", frozen=True, extra="ignore")

    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Celery broker: any Redis URL form Celery documents, or amqp://",
    )
    redis_url: str = Field(
        default="",
        description="state store (redis://, rediss://, unix://, redis+socket://; any node in "
        "cluster mode); default: the broker's Redis; required when the broker is not Redis",
    )
    redis_mode: Literal["standalone", "sentinel", "cluster"] = Field(
        default="standalone", description="how the state store is reached"
    )
    redis_sentinels: str = Field(default="", description="host:port[,host:port...] (sentinel)")
    redis_sentinel_master: str = Field(default="", description="the master's name (sentinel)")
    redis_password: SecretStr = Field(
        default=SecretStr(""), description="password of the Redis data nodes (sentinel, cluster)"
    )
    redis_sentinel_password: SecretStr = Field(
        default=SecretStr(""), description="password of the sentinels themselves"
    )
    redis_db: int | None = Field(
        default=None, ge=0, description="database number (sentinel); default: the broker's"
    )
    redis_wait_replicas: int = Field(
        default=0,
        ge=0,
        description="replicas that must have a new invocation before its id is returned",
    )
    redis_wait_timeout: float = Field(
        default=1.0, gt=0, description="seconds the create transition waits for those replicas"
    )
    redis_failover_seconds: float = Field(
        default=20.0, ge=0, description="how long a call keeps retrying through a failover"
    )
    admission_memory_fraction: float = Field(
        default=ADMISSION_MEMORY_FRACTION,
        gt=0,
        le=1,
        description="share of the state store's maxmemory past which new invocations are refused",
    )
    region: str = Field(default="local-1", description="region that short names expand with")
    project_id: str = Field(
        default="default", description="project id that short names expand with"
    )

    api_host: str = Field(default="127.0.0.1", description="address executor api listens on")
    api_port: int = Field(default=8000, ge=1, le=65_535, description="port executor api listens on")
    api_tokens: str = Field(default="", repr=False, description="token:project_id[,...]")
    api_access_keys: str = Field(default="", repr=False, description="AK:SK:project_id[,...]")
    api_tokens_file: str = Field(default="", description="a file of token:project_id lines")
    api_access_keys_file: str = Field(default="", description="a file of AK:SK:project_id lines")
    api_anonymous: bool = Field(default=False, description="serve the API without credentials")
    api_read_timeout: float = Field(
        default=API_READ_TIMEOUT,
        gt=0,
        le=3600,
        description="seconds a request's headers, then its whole body, may take to arrive; a "
        "body past it is answered 408 FSS.0408, and the connection is closed",
    )
    console_secret: SecretStr = Field(
        default=SecretStr(""),
        description="key that signs console sessions; random per process when empty",
    )
    console_session_ttl: int = Field(
        default=8 * 3600, ge=60, le=30 * 86_400, description="seconds a console sign-in lasts"
    )

    retry_backoff_base: float = Field(
        default=1.0,
        gt=0,
        description="seconds before the first retry (doubled per retry, jittered)",
    )
    retry_backoff_max: float = Field(
        default=300.0, gt=0, description="seconds a retry (or a delivery retry) waits at most"
    )
    max_chain_depth: int = Field(
        default=16, ge=1, description="deepest call chain an invocation may start"
    )
    fair_queues: bool = Field(
        default=True,
        description="a queue per function, consumed round-robin; false: one shared queue",
    )
    payload_limit: int = Field(
        default=PAYLOAD_LIMIT, ge=1, description="bytes of a payload, and of a result in an event"
    )
    payload_max_depth: int = Field(
        default=PAYLOAD_MAX_DEPTH, ge=1, le=200, description="levels of objects and arrays"
    )
    status_retention: int = Field(default=7 * 86_400, ge=60, description="seconds")

    config_cache_ttl: float = Field(
        default=2.0, ge=0, description="seconds a worker trusts a read config"
    )
    soft_time_limit: float = Field(
        default=300.0, gt=0, description="seconds before a handler gets SoftTimeLimitExceeded"
    )
    time_limit: float = Field(
        default=330.0, gt=0, description="seconds before the worker kills a handler (a 500)"
    )
    visibility_timeout: int = Field(
        default=7_200,
        ge=5,
        description="seconds before Redis hands an unacknowledged message to another worker; "
        "above twice the time limit and the backoff cap",
    )
    reconcile_interval: float = Field(
        default=10.0, gt=0, description="seconds between reconciler passes (one per fleet)"
    )
    reconcile_grace: float = Field(
        default=5.0, ge=0, description="seconds past its deadline before a waiting one is ended"
    )
    flow_interval: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="seconds between two looks of the fleet's one flow pass at what is due",
    )
    delivery_deadline: float = Field(
        default=6 * 3600.0, gt=0, description="seconds a delivery is retried before dead-letter"
    )
    outbox_grace: float = Field(
        default=300.0,
        gt=0,
        description="seconds an ended invocation's event may stay pending before it is checked",
    )
    orphan_grace: float = Field(
        default=60.0, gt=0, description="seconds a queued invocation may lack its message"
    )
    runner_lease: float = Field(
        default=30.0,
        ge=3,
        description="seconds a running claim stays held without its runner's heartbeat",
    )
    stall_window: float = Field(
        default=30.0,
        ge=0,
        description="seconds a worker may take nothing from queues holding messages before it "
        "stops with status 1; 0: never",
    )
    max_worker_lost: int = Field(
        default=3, ge=1, description="redeliveries after a crash before FAIL"
    )
    agency_file: str = Field(default="", description="TOML or JSON file that defines agencies")

    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line"
    )
    show_payloads: bool = Field(
        default=False, description="show payloads in task events (Flower) and Celery's logs"
    )
    metrics_port: int = Field(default=0, ge=0, le=65_535, description="0: no exporter in workers")
    metrics_address: str = Field(default="0.0.0.0", description="address the exporter binds")
    flower_basic_auth: SecretStr = Field(
        default=SecretStr(""), description="user:password[,user:password...]"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self._check_redis()
        ceiling = self.visibility_timeout / 2
        if self.time_limit >= ceiling or self.retry_backoff_max >= ceiling:
            raise ValueError(
                "EXECUTOR_TIME_LIMIT and EXECUTOR_RETRY_BACKOFF_MAX must stay below half of "
                "EXECUTOR_VISIBILITY_TIMEOUT, or Redis redelivers messages that are still running"
            )
        if self.soft_time_limit >= self.time_limit:
            raise ValueError("EXECUTOR_SOFT_TIME_LIMIT must be below EXECUTOR_TIME_LIMIT")
        return self

    def _check_redis(self) -> None:
        """What needs no URL read; the URLs themselves are read at start by the state layer
        (``executor.state.locations``), with kombu's and redis-py's parsers."""
        if self.redis_mode == "cluster":
            if self.redis_wait_replicas:
                raise ValueError(
                    "EXECUTOR_REDIS_WAIT_REPLICAS is not supported with "
                    "EXECUTOR_REDIS_MODE=cluster; set min-replicas-to-write on the cluster's "
                    "masters instead"
                )
            if not self.redis_url:
                raise ValueError(
                    "EXECUTOR_REDIS_MODE=cluster needs EXECUTOR_REDIS_URL naming any node of "
                    "the cluster"
                )


def load_settings() -> Settings:
    """Settings from the environment; ``SettingsInvalid`` names each variable to fix."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsInvalid(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Each problem as ``EXECUTOR_NAME=value is not allowed: what it accepts``."""
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            problems.append(message)
            continue
        name = str(error["loc"][0])
        variable = "EXECUTOR_" + name.upper()
        field = Settings.model_fields.get(name)
        unit = f" ({field.description})" if field is not None and field.description else ""
        allowed = message.replace("Input should be", "it should be", 1)
        problems.append(f"{variable}={error['input']!s} is not allowed: {allowed}{unit}")
    return "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()
