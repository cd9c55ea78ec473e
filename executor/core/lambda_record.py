"""Lambda's destination record, made from the engine's result event.

A config set through the Lambda API sends this record instead of FunctionGraph's event::

    {"version": "1.0", "timestamp": ..., "requestContext": {"requestId", "functionArn",
     "condition", "approximateInvokeCount"}, "requestPayload": ..., "responseContext":
     {"statusCode", "executedVersion", "functionError"}, "responsePayload": ...}

``condition`` is ``Success`` for a success; the failure conditions keep their names
(``RetriesExhausted``, ``EventAgeExceeded``, ``ZeroReservedConcurrency``, and the engine's
``NotRetryable``). ``timestamp``
is when the invocation was accepted, so every delivery of one outcome carries the same record.
A handler that raised shows ``functionError`` ``Unhandled`` and a ``responsePayload`` of
``errorType`` and ``errorMessage``; an invocation that never ran has no response.
"""

from __future__ import annotations

import json
from typing import Any

from executor.core.arn import to_qualifier, urn_arn
from executor.core.config import RecordFormat
from executor.core.constants import CONDITION_SUCCESS
from executor.core.events import ResultEvent
from executor.core.urn import parse_urn

SUCCESS = "Success"


def lambda_record(event: ResultEvent) -> dict[str, Any]:
    context, response = event.request_context, event.response_context
    condition = SUCCESS if context.condition == CONDITION_SUCCESS else context.condition
    urn = parse_urn(context.function_urn, region="", project="")
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": event.timestamp,
        "requestContext": {
            "requestId": context.request_id,
            "functionArn": urn_arn(context.function_urn),
            "condition": condition,
            "approximateInvokeCount": context.approximate_invoke_count,
        },
        "requestPayload": event.request_payload,
    }
    if context.approximate_invoke_count == 0:
        return record
    response_context: dict[str, Any] = {
        "statusCode": response.status_code,
        "executedVersion": to_qualifier(urn.qualifier),
    }
    payload = event.response_payload
    if response.function_error:
        error_type, _, message = response.function_error.partition(": ")
        response_context["functionError"] = "Unhandled"
        payload = {"errorType": error_type, "errorMessage": message}
    record["responseContext"] = response_context
    record["responsePayload"] = payload
    return record


def rendered(event: ResultEvent, record_format: RecordFormat) -> str:
    """The JSON a destination receives: FunctionGraph's event as it always was, or Lambda's
    record."""
    if record_format == "Lambda":
        return json.dumps(lambda_record(event), separators=(",", ":"), ensure_ascii=False)
    return event.model_dump_json()
