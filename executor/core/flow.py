"""The flow config of a function: how many of its invocations run at once, how fast they start,
whether it is paused, and whether its call chain may loop.

``max_instances`` follows FunctionGraph's ``max_instance_num``: -1 is unlimited, 0 holds every
invocation back (paused), N lets at most N run across the whole fleet. ``rate_per_second``
bounds how many start per second, fleet-wide. A pause keeps the value it replaced, so a resume
gives it back. ``recursive_loop`` is Lambda's setting: ``Terminate`` keeps the chain guard,
``Allow`` lets this function's chain re-enter it and pass ``EXECUTOR_MAX_CHAIN_DEPTH``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from executor.core.constants import MAX_INSTANCES, MAX_RATE, MIN_RATE, UNLIMITED_INSTANCES

RecursiveLoop = Literal["Terminate", "Allow"]


class FlowConfig(BaseModel):
    """A function's flow config; the default limits nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    max_instances: int = Field(
        default=UNLIMITED_INSTANCES, ge=UNLIMITED_INSTANCES, le=MAX_INSTANCES, strict=True
    )
    rate_per_second: float | None = Field(default=None, ge=MIN_RATE, le=MAX_RATE, strict=True)
    recursive_loop: RecursiveLoop = "Terminate"
    # The max_instances a pause replaced, given back by resume.
    paused_from: int | None = Field(
        default=None, ge=UNLIMITED_INSTANCES, le=MAX_INSTANCES, strict=True
    )

    @property
    def limited(self) -> bool:
        """Whether invocations wait for a slot or a token before they are queued."""
        return self.max_instances != UNLIMITED_INSTANCES or self.rate_per_second is not None

    @property
    def paused(self) -> bool:
        return self.max_instances == 0

    @property
    def allows_recursion(self) -> bool:
        return self.recursive_loop == "Allow"

    def pause(self) -> FlowConfig:
        if self.paused:
            return self
        return self.model_copy(update={"max_instances": 0, "paused_from": self.max_instances})

    def resume(self) -> FlowConfig:
        if not self.paused:
            return self
        restored = UNLIMITED_INSTANCES if self.paused_from is None else self.paused_from
        return self.model_copy(update={"max_instances": restored, "paused_from": None})


DEFAULT_FLOW = FlowConfig()


class StoredFlowConfig(BaseModel):
    """A flow config as the store keeps it: the function it belongs to and when it changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    func_urn: str
    flow: FlowConfig
    last_modified: str


class MaxInstanceConfig(BaseModel):
    """The answer of FunctionGraph's ``config-max-instance``: the function's config, with the
    fields this engine has."""

    model_config = ConfigDict(frozen=True)

    func_urn: str
    func_name: str
    namespace: str
    package: str
    version: str
    max_instance_num: int
    last_modified: str
