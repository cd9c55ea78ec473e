"""The async configuration of a function, in FunctionGraph's wire shape."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from executor.core.constants import (
    DEFAULT_EVENT_AGE,
    DEFAULT_RETRY_ATTEMPTS,
    MAX_EVENT_AGE,
    MAX_RETRY_ATTEMPTS,
    MIN_EVENT_AGE,
    MIN_RETRY_ATTEMPTS,
)
from executor.core.params import KINDS, Param, param_model

_FROZEN = ConfigDict(frozen=True, extra="forbid")

DestinationKind = Literal["FunctionGraph", "OBS", "DIS", "SMN"]


class DestinationRef(BaseModel):
    """One side of ``destination_config``: a kind and its JSON-encoded ``param``."""

    model_config = _FROZEN

    destination: DestinationKind
    param: str

    @model_validator(mode="before")
    @classmethod
    def _decode(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind, raw = data.get("destination"), data.get("param")
        if kind not in KINDS:
            raise ValueError(f"destination must be one of {', '.join(KINDS)}, not {kind!r}")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"param of {kind} is not valid JSON: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"param of {kind} must be a JSON object (or a string holding one)")
        try:
            parsed = param_model(kind).model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'param'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"param of {kind} is invalid: {problems}") from None
        return {"destination": kind, "param": parsed.model_dump_json()}

    def decoded(self) -> Param:
        return _decode(self.destination, self.param)


@lru_cache(maxsize=1024)
def _decode(kind: str, param: str) -> Param:
    """Params are frozen, and the same few are decoded for every message: decode each once."""
    return param_model(kind).model_validate_json(param)


class DestinationConfig(BaseModel):
    model_config = _FROZEN

    on_success: DestinationRef | None = None
    on_failure: DestinationRef | None = None


class AsyncConfig(BaseModel):
    """What a caller sets: the retry and age policy and the destinations."""

    model_config = _FROZEN

    max_async_event_age_in_seconds: int = Field(
        default=DEFAULT_EVENT_AGE, ge=MIN_EVENT_AGE, le=MAX_EVENT_AGE, strict=True
    )
    max_async_retry_attempts: int = Field(
        default=DEFAULT_RETRY_ATTEMPTS, ge=MIN_RETRY_ATTEMPTS, le=MAX_RETRY_ATTEMPTS, strict=True
    )
    destination_config: DestinationConfig = Field(default_factory=DestinationConfig)
    enable_async_status_log: bool = Field(default=False, strict=True)

    @field_validator("destination_config", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def destination_for(self, outcome: str) -> DestinationRef | None:
        """The destination of ``"success"`` or ``"failure"``."""
        side = self.destination_config
        return side.on_success if outcome == "success" else side.on_failure


class StoredAsyncConfig(AsyncConfig):
    """A stored configuration as the API returns it."""

    func_urn: str
    created_time: str
    last_modified: str

    def policy(self) -> AsyncConfig:
        return AsyncConfig.model_validate(self.model_dump(include=set(AsyncConfig.model_fields)))


DEFAULT_CONFIG = AsyncConfig()
