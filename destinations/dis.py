"""DIS destination: append each event to a data stream."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from destinations.base import Delivery, Param, PermanentDeliveryError


class DISParam(Param):
    stream_name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class DISDestination:
    kind: ClassVar[str] = "DIS"
    param_model: ClassVar[type[Param]] = DISParam

    def deliver(self, delivery: Delivery) -> None:
        raise PermanentDeliveryError("the DIS destination has no backend in this build")
