"""OBS destination: one JSON object per event in S3-compatible object storage."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from destinations.base import Delivery, Param, PermanentDeliveryError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class OBSParam(Param):
    bucket: str
    prefix: str = ""
    expires: int = Field(default=0, ge=0, le=365, description="days; 0 keeps objects")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value):
            raise ValueError("bucket must be 3-63 lowercase letters, digits, '.' or '-'")
        return value


class OBSDestination:
    kind: ClassVar[str] = "OBS"
    param_model: ClassVar[type[Param]] = OBSParam

    def deliver(self, delivery: Delivery) -> None:
        raise PermanentDeliveryError("the OBS destination has no backend in this build")
