"""The ``param`` of each destination kind: what a stored async config may say about it.

They live in the core so that validating a config needs no destination code (no boto3, no
Redis); each destination module reads its own model from here.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from executor.core.urn import parse_urn

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # matched whole
TOPIC_URN: Final = r"^urn:smn:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_-]{1,256}$"


class Param(BaseModel):
    """The decoded ``param`` of a destination; each kind subclasses it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class FunctionGraphParam(Param):
    """A FunctionGraph destination: the function to invoke with the event."""

    func_urn: str

    @field_validator("func_urn")
    @classmethod
    def _urn(cls, value: str) -> str:
        if not value.startswith("urn:"):
            raise ValueError("func_urn must be a full function URN (urn:fss:...)")
        parse_urn(value, region="", project="")
        return value


class OBSParam(Param):
    """An OBS destination: the bucket, the key prefix and how many days objects live."""

    bucket: str
    prefix: str = ""
    expires: int = Field(default=0, ge=0, le=365, description="days; 0 keeps objects")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value):
            raise ValueError("bucket must be 3-63 lowercase letters, digits, '.' or '-'")
        return value


class DISParam(Param):
    """A DIS destination: the stream the event is appended to."""

    stream_name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class SMNParam(Param):
    """An SMN destination: the topic the event is published on."""

    topic_urn: str = Field(pattern=TOPIC_URN)


class SQSParam(Param):
    """An SQS destination: the queue the event is sent to, by its ARN."""

    queue_arn: str = Field(
        pattern=r"^arn:aws[a-zA-Z-]*:sqs:[A-Za-z0-9-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_-]{1,75}(\.fifo)?$"
    )


# The kind whose target is another function of this fleet.
FUNCTION_GRAPH: Final = "FunctionGraph"

PARAMS: Final[dict[str, type[Param]]] = {
    FUNCTION_GRAPH: FunctionGraphParam,
    "OBS": OBSParam,
    "DIS": DISParam,
    "SMN": SMNParam,
    "SQS": SQSParam,
}
KINDS: Final[tuple[str, ...]] = tuple(PARAMS)


def param_model(kind: str) -> type[Param]:
    """The ``param`` model of a kind; ``KeyError`` for an unknown kind."""
    return PARAMS[kind]
