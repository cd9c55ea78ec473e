"""The flow control endpoints: FunctionGraph's ``config-max-instance``, and ``flow-config``
with its pause and resume, over the same ``Client`` methods as Python and the CLI.

Every value is checked (by the body's model, then by the client) before anything is written,
so a refused request leaves the stored flow config as it was.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from executor.api.deps import ClientDep, Function, body_of
from executor.api.document import ERRORS, request_body
from executor.api.wire import FlowConfigBody, MaxInstanceBody
from executor.core.flow import MaxInstanceConfig, StoredFlowConfig
from executor.runtime.client import Client

# ``create_api`` includes it under the async routes' prefix, which lives in app.py: importing
# it from there would be a cycle.
flow_router = APIRouter(responses=ERRORS, tags=["flow"])


def max_instance_answer(client: Client, stored: StoredFlowConfig) -> MaxInstanceConfig:
    urn = client.resolve(stored.func_urn)
    return MaxInstanceConfig(
        func_urn=stored.func_urn,
        func_name=urn.name,
        namespace=urn.project,
        package=urn.package,
        version=urn.qualifier,
        max_instance_num=stored.flow.max_instances,
        last_modified=stored.last_modified,
    )


@flow_router.put(
    "/config-max-instance",
    response_model=MaxInstanceConfig,
    openapi_extra=request_body(MaxInstanceBody),
)
def put_max_instance(
    client: ClientDep,
    urn: Function,
    body: Annotated[MaxInstanceBody, Depends(body_of(MaxInstanceBody))],
) -> MaxInstanceConfig:
    """Set how many invocations of the function run at once: -1 unlimited, 0 paused."""
    stored = client.put_flow_config(urn, max_instances=body.max_instance_num)
    return max_instance_answer(client, stored)


@flow_router.get("/config-max-instance", response_model=MaxInstanceConfig)
def get_max_instance(client: ClientDep, urn: Function) -> MaxInstanceConfig:
    return max_instance_answer(client, client.get_flow_config(urn))


@flow_router.put(
    "/flow-config", response_model=StoredFlowConfig, openapi_extra=request_body(FlowConfigBody)
)
def put_flow_config(
    client: ClientDep,
    urn: Function,
    body: Annotated[FlowConfigBody, Depends(body_of(FlowConfigBody))],
) -> StoredFlowConfig:
    """Change the fields the body names; the others keep their values."""
    return client.put_flow_config(urn, **body.changes())


@flow_router.get("/flow-config", response_model=StoredFlowConfig)
def get_flow_config(client: ClientDep, urn: Function) -> StoredFlowConfig:
    return client.get_flow_config(urn)


@flow_router.post("/flow-config/pause", response_model=StoredFlowConfig)
def pause(client: ClientDep, urn: Function) -> StoredFlowConfig:
    """Hold every new invocation back until resume; they are accepted and wait."""
    return client.pause(urn)


@flow_router.post("/flow-config/resume", response_model=StoredFlowConfig)
def resume(client: ClientDep, urn: Function) -> StoredFlowConfig:
    """Give a paused function back the max instances it had."""
    return client.resume(urn)
