"""The bodies of the Lambda API, in Lambda's field names, and its answers built from the
engine's stored configs.

Lambda's limits are checked here (retries 0-2, event age 60-21600 s); the stored config is the
engine's, shared with the FunctionGraph API, whose limits are wider (retries 0-3, age 1-86400
s). An answer shows the stored value as it is, so a config set through the FunctionGraph API
may show 3 retries or an age outside 60-21600.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from executor.api.lambda_errors import LambdaError, invalid
from executor.core.arn import destination_arn, destination_ref, urn_arn
from executor.core.config import AsyncConfig, DestinationConfig, StoredAsyncConfig
from executor.core.payload import read_json
from executor.core.urn import FunctionURN

MIN_RETRIES, MAX_RETRIES, DEFAULT_RETRIES = 0, 2, 2
MIN_AGE, MAX_AGE, DEFAULT_AGE = 60, 21_600, 21_600
_BODY = ConfigDict(frozen=True, extra="ignore")


class OnDestination(BaseModel):
    model_config = _BODY

    Destination: str | None = Field(default=None, min_length=0, max_length=350)


class DestinationConfigBody(BaseModel):
    model_config = _BODY

    OnSuccess: OnDestination | None = None
    OnFailure: OnDestination | None = None


class EventInvokeConfigBody(BaseModel):
    """``PutFunctionEventInvokeConfig`` and ``UpdateFunctionEventInvokeConfig``."""

    model_config = _BODY

    MaximumRetryAttempts: int | None = Field(
        default=None, ge=MIN_RETRIES, le=MAX_RETRIES, strict=True
    )
    MaximumEventAgeInSeconds: int | None = Field(default=None, ge=MIN_AGE, le=MAX_AGE, strict=True)
    DestinationConfig: DestinationConfigBody | None = None


class ConcurrencyBody(BaseModel):
    model_config = _BODY

    ReservedConcurrentExecutions: int = Field(ge=0, strict=True)


class RecursionBody(BaseModel):
    model_config = _BODY

    RecursiveLoop: Literal["Allow", "Terminate"]


def parse_body(raw: bytes, model: type[Any]) -> Any:
    """A JSON body as ``model``, refused in Lambda's words."""
    try:
        data = read_json(raw, "the body") if raw.strip() else {}
    except Exception as exc:  # PayloadRefused, whatever the JSON reader found
        raise LambdaError(
            "InvalidRequestContentException", 400, f"Could not parse request body into json: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise LambdaError("InvalidRequestContentException", 400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"Value {_shown(err.get('input'))} at '{_field(err['loc'])}' failed to satisfy "
            f"constraint: {_constraint(err)}"
            for err in exc.errors()
        ]
        count = len(problems)
        raise invalid(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)
        ) from None


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part)[:1].lower() + str(part)[1:] for part in loc)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"'{text[:100]}'"


def _constraint(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if "le" in ctx:
        return f"Member must have value less than or equal to {ctx['le']}"
    if "ge" in ctx:
        return f"Member must have value greater than or equal to {ctx['ge']}"
    return f"Member {err.get('msg', 'is invalid')}"


def updated(
    current: AsyncConfig | None, body: EventInvokeConfigBody, *, region: str, project: str
) -> AsyncConfig:
    """The config a PUT (``current`` None: every field not given takes Lambda's default) or a
    POST (the fields not given keep their values) stores; it sends Lambda's record."""
    given = body.model_fields_set
    base: dict[str, Any] = {
        "max_async_retry_attempts": DEFAULT_RETRIES,
        "max_async_event_age_in_seconds": DEFAULT_AGE,
        "destination_config": DestinationConfig(),
    }
    if current is not None:
        base = current.model_dump(include=set(base)) | {
            "destination_config": current.destination_config
        }
    if "MaximumRetryAttempts" in given and body.MaximumRetryAttempts is not None:
        base["max_async_retry_attempts"] = body.MaximumRetryAttempts
    if "MaximumEventAgeInSeconds" in given and body.MaximumEventAgeInSeconds is not None:
        base["max_async_event_age_in_seconds"] = body.MaximumEventAgeInSeconds
    sides = body.DestinationConfig
    if sides is not None:
        destinations = base["destination_config"]
        changes: dict[str, Any] = {}
        for field, outcome, attribute in (
            ("OnSuccess", "success", "on_success"),
            ("OnFailure", "failure", "on_failure"),
        ):
            if field not in sides.model_fields_set:
                continue
            side = getattr(sides, field)
            arn = side.Destination if side is not None else None
            changes[attribute] = (
                destination_ref(arn, outcome, region=region, project=project) if arn else None
            )
        base["destination_config"] = destinations.model_copy(update=changes)
    return AsyncConfig(
        max_async_retry_attempts=base["max_async_retry_attempts"],
        max_async_event_age_in_seconds=base["max_async_event_age_in_seconds"],
        destination_config=base["destination_config"],
        record_format="Lambda",
    )


def config_answer(stored: StoredAsyncConfig, *, region: str) -> dict[str, Any]:
    """``FunctionEventInvokeConfig``: the stored values as they are, ``LastModified`` in epoch
    seconds."""
    urn_project = stored.func_urn.split(":")[3]
    sides: dict[str, Any] = {}
    for field, ref in (
        ("OnSuccess", stored.destination_config.on_success),
        ("OnFailure", stored.destination_config.on_failure),
    ):
        if ref is not None:
            sides[field] = {"Destination": destination_arn(ref, region=region, project=urn_project)}
    return {
        "LastModified": datetime.fromisoformat(stored.last_modified).timestamp(),
        "FunctionArn": urn_arn(stored.func_urn),
        "MaximumRetryAttempts": stored.max_async_retry_attempts,
        "MaximumEventAgeInSeconds": stored.max_async_event_age_in_seconds,
        "DestinationConfig": sides,
    }


def function_configuration(urn: FunctionURN, queue: str, updated_at: float) -> dict[str, Any]:
    """``FunctionConfiguration`` with the fields this engine has."""
    moment = datetime.fromtimestamp(updated_at) if updated_at else datetime.fromtimestamp(0)
    return {
        "FunctionName": urn.name,
        "FunctionArn": urn_arn(str(urn), qualified=urn.qualifier != "latest"),
        "Version": "$LATEST" if urn.qualifier == "latest" else urn.qualifier,
        "LastModified": moment.astimezone().strftime("%Y-%m-%dT%H:%M:%S.000%z"),
        "State": "Active",
        "PackageType": "Zip",
        "Description": f"served from the queue {queue}",
    }
