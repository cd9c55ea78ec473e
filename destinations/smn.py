"""SMN destination: publish each event to a notification topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from destinations.base import Delivery, Param, PermanentDeliveryError


class SMNParam(Param):
    topic_urn: str = Field(
        pattern=r"^urn:smn:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_-]{1,256}$"
    )


class SMNDestination:
    kind: ClassVar[str] = "SMN"
    param_model: ClassVar[type[Param]] = SMNParam

    def deliver(self, delivery: Delivery) -> None:
        raise PermanentDeliveryError("the SMN destination has no backend in this build")
