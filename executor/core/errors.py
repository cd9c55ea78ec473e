"""The exceptions this package raises.

All of them derive from ``ExecutorError`` and carry the FunctionGraph error code that the HTTP
API answers with::

    ExecutorError
    ├── InvalidParameter          FSS.0400  a value is malformed or out of range
    │   ├── InvalidURN            FSS.1309  a function URN cannot be parsed
    │   ├── AliasNotAllowed       FSS.1014  an alias URN where a version is required
    │   ├── PayloadTooLarge       FSS.0413  a payload above the limit
    │   ├── CycleDetected         FSS.0400  a FunctionGraph destination closes a loop
    │   ├── PayloadRefused        FSS.0400  a payload not JSON, too deep, a number past limits
    │   ├── SettingsInvalid       FSS.0400  an EXECUTOR_* variable holds a value not allowed
    │   └── AgencyFileInvalid     FSS.0400  the agency file cannot be read or is invalid
    ├── NotFound                  FSS.0404
    │   ├── FunctionNotFound      FSS.1051  no worker or registry knows the function
    │   ├── ConfigNotFound        FSS.0404  the function has no async configuration
    │   ├── InvocationNotFound    FSS.0404  no record for a request id
    │   └── DeadLetterNotFound    FSS.0404  no dead-lettered event with that identity
    ├── RequestIdConflict         FSS.1409  a request id reused for another function or payload
    ├── AccessDenied              FSS.1121  the function's agency does not grant a destination
    ├── Unauthenticated           FSS.0401  no valid credential came with an API request
    ├── ProjectDenied             FSS.0403  the credential does not own the project in the path
    ├── RequestTimeout            FSS.0408  a request's body did not arrive within the read timeout
    ├── HeadersTooLarge           FSS.0431  a request's line and headers are above 16 KiB
    └── Unavailable               FSS.0500  the store or broker cannot be reached, or is full
        └── StoreLayoutMismatch   FSS.0500  the state store was written with another key layout
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ExecutorError(Exception):
    """Root of every error raised by async-executor.

    ``fields`` maps each field of the caller's input that is at fault (a dotted path such as
    ``destination_config.on_success.param.bucket``) to what is wrong with it, so a form can show
    each problem beside its field; ``message`` says it all in one sentence.
    """

    code = "FSS.0500"
    http_status = 500

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: Mapping[str, str] = dict(fields or {})


class InvalidParameter(ExecutorError):
    """A value given by the caller is malformed or out of range; fix the value and retry."""

    code = "FSS.0400"
    http_status = 400


class InvalidURN(InvalidParameter):
    """A function URN does not follow urn:fss:region:project:function:package:name[:qualifier]."""

    code = "FSS.1309"


class AliasNotAllowed(InvalidParameter):
    """An alias (``!name``) cannot carry an async configuration; use a version or ``latest``."""

    code = "FSS.1014"


class PayloadTooLarge(InvalidParameter):
    """The payload is above the async invocation limit."""

    code = "FSS.0413"
    http_status = 413


class CycleDetected(InvalidParameter):
    """A FunctionGraph destination would let an invocation loop back to its own function;
    ``cycle`` is the loop, from that function back to it."""

    def __init__(
        self,
        message: str,
        *,
        cycle: Sequence[str] = (),
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, fields=fields)
        self.cycle = tuple(cycle)


class SettingsInvalid(InvalidParameter):
    """An ``EXECUTOR_*`` environment variable holds a value that is not allowed; the message
    names the variable and what it accepts."""


class AgencyFileInvalid(InvalidParameter):
    """EXECUTOR_AGENCY_FILE is missing, unreadable or invalid; fix the file and restart."""


class NotFound(ExecutorError):
    """Something named by the caller does not exist."""

    code = "FSS.0404"
    http_status = 404


class FunctionNotFound(NotFound):
    """No local registration and no running worker knows the function."""

    code = "FSS.1051"


class ConfigNotFound(NotFound):
    """The function has no async configuration stored."""


class InvocationNotFound(NotFound):
    """No invocation record exists for the request id (it may have passed its retention)."""


class DeadLetterNotFound(NotFound):
    """No dead-lettered event has that identity (it was redriven or purged)."""


class RequestIdConflict(ExecutorError):
    """A caller-chosen request id names an invocation of another function or payload; send the
    same call again to get its id back, or choose a new id."""

    code = "FSS.1409"
    http_status = 409


class AccessDenied(ExecutorError):
    """The function's agency does not grant the destination kind."""

    code = "FSS.1121"
    http_status = 403


class Unavailable(ExecutorError):
    """The state store or the broker cannot be reached or refused the call (a full Redis
    included); nothing was accepted, retry later."""

    code = "FSS.0500"
    http_status = 503


class StoreLayoutMismatch(Unavailable):
    """The state store holds keys of another layout; migrate or empty it, then start again."""


class Unauthenticated(ExecutorError):
    """No valid credential came with the request."""

    code = "FSS.0401"
    http_status = 401


class ProjectDenied(ExecutorError):
    """The credential is valid but does not own the project named in the path."""

    code = "FSS.0403"
    http_status = 403


class RequestTimeout(ExecutorError):
    """A request's body did not arrive in full within ``EXECUTOR_API_READ_TIMEOUT``."""

    code = "FSS.0408"
    http_status = 408


class HeadersTooLarge(ExecutorError):
    """A request's line and headers are above the limit the HTTP server reads."""

    code = "FSS.0431"
    http_status = 431
