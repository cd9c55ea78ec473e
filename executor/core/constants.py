"""Names and limits shared by producers, workers and the API, kept in one place."""

from __future__ import annotations

from typing import Final

INVOCATION_QUEUE: Final = "executor.invocations"
DELIVERY_QUEUE: Final = "executor.deliveries"

INVOKE_TASK_PREFIX: Final = "fn:"
DELIVER_TASK: Final = "executor.deliver"

DEFAULT_PACKAGE: Final = "default"
DEFAULT_QUALIFIER: Final = "latest"

MIN_EVENT_AGE: Final = 1
MAX_EVENT_AGE: Final = 86_400
DEFAULT_EVENT_AGE: Final = 3_600
MIN_RETRY_ATTEMPTS: Final = 0
MAX_RETRY_ATTEMPTS: Final = 3
DEFAULT_RETRY_ATTEMPTS: Final = 1

PAYLOAD_LIMIT: Final = 256 * 1024
PAYLOAD_MAX_DEPTH: Final = 64
# The request line and headers of an API request, as h11 bounds what it buffers before them.
HEADER_LIMIT: Final = 16 * 1024
API_READ_TIMEOUT: Final = 30.0

# New invocations are refused once the state store's used memory passes this share of its
# maxmemory, so that what was accepted keeps the room to finish.
ADMISSION_MEMORY_FRACTION: Final = 0.9

# Conditions written into a result event's request_context.
CONDITION_SUCCESS: Final = ""
CONDITION_RETRIES_EXHAUSTED: Final = "RetriesExhausted"
CONDITION_EVENT_AGE_EXCEEDED: Final = "EventAgeExceeded"
# The handler raised an exception its function's retry policy does not retry.
CONDITION_NOT_RETRYABLE: Final = "NotRetryable"
# Invoked through the Lambda API while its reserved concurrency (max instances) is 0.
CONDITION_ZERO_RESERVED: Final = "ZeroReservedConcurrency"

# A caller-chosen request id (an idempotency key) and the longest delayed start.
REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_DELAY: Final = 3_600

# The prefix of every key this project writes in the state store.
KEY_PREFIX: Final = "ae:"

# Flow control of a function: max instances (-1 unlimited, 0 paused), starts per second.
UNLIMITED_INSTANCES: Final = -1
MAX_INSTANCES: Final = 100_000
MIN_RATE: Final = 0.1
MAX_RATE: Final = 10_000.0
