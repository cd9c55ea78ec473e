"""The API's OpenAPI document: its description, error answers and security schemes, and the
bodies that are read by hand (so FastAPI cannot see their models) put back in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from executor.api.wire import (
    AsyncConfigBody,
    CancelRequest,
    ErrorBody,
    FlowConfigBody,
    MaxInstanceBody,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [
        (400, "a parameter or the body is invalid; error_msg names it"),
        (401, "no valid credential"),
        (403, "the credential does not own the project"),
        (404, "no such function, config or invocation"),
        (413, "the body is above the payload limit"),
        (503, "the state store or the broker cannot be reached; nothing was accepted"),
    ]
}
SECURITY = {
    "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
    "signature": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>, "
        "with an X-Sdk-Date header",
    },
}
REF = "#/components/schemas/{model}"
DESCRIPTION = (
    "FunctionGraph's asynchronous invocation endpoints: async configs, asynchronous invocations, "
    "their status and cancellation. Authenticate with X-Auth-Token or an SDK-HMAC-SHA256 "
    'signature. Errors are {"error_code": "FSS.xxxx", "error_msg": "..."}.'
)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def openapi(api: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the bodies that are read by hand and the security schemes."""

    def build() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
                separate_input_output_schemas=False,
            )
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for model in (AsyncConfigBody, CancelRequest, FlowConfigBody, MaxInstanceBody):
                schema = model.model_json_schema(ref_template=REF)
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas[model.__name__] = schema
            components["securitySchemes"] = SECURITY
            document["security"] = [{name: []} for name in SECURITY]
            document["paths"]["/health"]["get"]["security"] = []
            api.openapi_schema = document
        return api.openapi_schema

    return build
