"""The async configuration of a function, in FunctionGraph's wire shape."""

from __future__ import annotations

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
from executor.core.payload import PayloadRefused, read_json, shown

_FROZEN = ConfigDict(frozen=True, extra="forbid")

DestinationKind = Literal["FunctionGraph", "OBS", "DIS", "SMN", "SQS"]
# Which record a destination receives: FunctionGraph's event, or Lambda's record for a config
# set through the Lambda API.
RecordFormat = Literal["FunctionGraph", "Lambda"]


class ParamInvalid(ValueError):
    """A destination's ``param`` failed validation; ``problems`` maps each of its fields at
    fault to what is wrong, so a form can show them beside their fields."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


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
            raise ValueError(f"destination must be one of {', '.join(KINDS)}, not {shown(kind)}")
        if isinstance(raw, str):
            try:
                raw = read_json(raw, f"param of {kind}")
            except PayloadRefused as exc:
                raise ValueError(exc.message) from None
        if not isinstance(raw, dict):
            raise ValueError(f"param of {kind} must be a JSON object (or a string holding one)")
        try:
            parsed = param_model(kind).model_validate(raw)
        except ValidationError as exc:
            problems: dict[str, str] = {}
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "param"
                problems[field] = "; ".join(filter(None, (problems.get(field), err["msg"])))
            text = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
            raise ParamInvalid(f"param of {kind} is invalid: {text}", problems) from None
        # Any other key stays, for extra="forbid" to refuse by name as everywhere else.
        return {**data, "destination": kind, "param": parsed.model_dump_json()}

    def decoded(self) -> Param:
        return _decode(self.destination, self.param)


@lru_cache(maxsize=1024)
def _decode(kind: str, param: str) -> Param:
    """Params are frozen, and the same few are decoded for every message: decode each once."""
    return param_model(kind).model_validate_json(param)


class DestinationConfig(BaseModel):
    """Where successes and failures go; either side may be absent."""

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
    record_format: RecordFormat = "FunctionGraph"

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
