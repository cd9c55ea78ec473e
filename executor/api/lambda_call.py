"""What every route of the Lambda API shares: the route class that answers every failure in
Lambda's shape, and the verified call (SigV4, then the function within the signer's projects)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from executor.api.lambda_errors import SERVICE, LambdaError, invalid, lambda_error
from executor.api.signing import HttpRequest
from executor.api.sigv4 import Signer, SigV4Verifier
from executor.core.arn import function_urn
from executor.core.errors import ExecutorError
from executor.core.settings import Settings
from executor.core.urn import FunctionURN
from executor.runtime.celery.errors import BrokerUnreachable
from executor.runtime.client import Client
from executor.state.connection import STORE_DOWN

log = logging.getLogger("executor.api.lambda")


_UNREACHABLE: Final[tuple[type[Exception], ...]] = (*STORE_DOWN, BrokerUnreachable)


class LambdaRoute(APIRoute):
    """A route whose every failure is answered in Lambda's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LambdaError as exc:
                return exc.response()
            except ExecutorError as exc:
                return lambda_error(exc).response()
            except RequestValidationError as exc:
                return invalid(_validation(exc)).response()
            except _UNREACHABLE as exc:
                message = f"a backing service cannot be reached ({exc}); nothing was accepted"
                return LambdaError(SERVICE, 500, message).response()
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return LambdaError(SERVICE, 500, "internal error; see the server log").response()

        return answer


def _validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc") or ("request",))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


@dataclass(frozen=True)
class Call:
    """A verified call: the client, the settings, who signed it and its body."""

    client: Client
    settings: Settings
    signer: Signer
    body: bytes

    def urn(self, name: str, qualifier: str | None = None) -> FunctionURN:
        """The function named, which must exist and belong to the signer's projects."""
        urn = function_urn(
            name, qualifier, region=self.settings.region, projects=self.signer.projects
        )
        if urn.project not in self.signer.projects:
            raise LambdaError(
                "AccessDeniedException",
                403,
                f"the access key {self.signer.access_key!r} is not bound to the account "
                f"{urn.project!r}",
            )
        self.client.lookup(urn)  # refuses an unknown function
        return urn


async def verified(request: Request) -> Call:
    body = await request.body()
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "replace"))
    wire = HttpRequest(
        method=request.method,
        raw_path=raw_path.decode("utf-8", "replace"),
        query=request.scope.get("query_string", b"").decode("utf-8", "replace"),
        headers=headers,
        body=body,
    )
    settings: Settings = request.app.state.settings
    verifier: SigV4Verifier = request.app.state.sigv4
    return Call(request.app.state.client, settings, verifier.verify(wire), body)


Verified = Annotated[Call, Depends(verified)]
Qualifier = Annotated[str | None, Query(alias="Qualifier", min_length=1, max_length=128)]
FUNCTION = "/functions/{FunctionName}"
