"""Console sessions: a signed cookie that says who signed in, for which project, and the token
every form must send back.

The cookie is signed with ``EXECUTOR_CONSOLE_SECRET`` (random per process when unset, so then
sessions end when the process does and cannot be shared between API processes). It is
HttpOnly, SameSite=Lax and, over HTTPS, Secure. It never holds a credential: only a keyed digest
of the credential's identity, which is looked up among the credentials the server knows at each
request, so a credential taken out of the settings ends its sessions at the next restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from executor.api.auth import Authenticator, Principal
from executor.core.errors import ProjectDenied
from executor.core.settings import Settings

COOKIE = "executor_console"
PATH = "/console"
CSRF_FIELD = "csrf"


class Session(BaseModel):
    """What the cookie carries. Signed out, it holds the CSRF token of the sign-in form."""

    model_config = ConfigDict(frozen=True)

    csrf: str
    project: str | None = None
    credential: str = ""  # a keyed digest of the principal's identity
    who: str = ""
    since: float = 0.0
    notice: str = ""
    notice_is_error: bool = False

    @classmethod
    def fresh(cls) -> Session:
        return cls(csrf=secrets.token_urlsafe(24))

    def with_notice(self, text: str, *, error: bool = False) -> Session:
        return self.model_copy(update={"notice": text, "notice_is_error": error})


@dataclass(frozen=True)
class Visitor:
    """A signed-in session and the principal it stands for."""

    session: Session
    principal: Principal
    project: str


class SignInRequired(Exception):
    """The request has no valid signed-in session; the visitor is sent to the sign-in page."""


class CsrfRefused(Exception):
    """A form came without the session's CSRF token."""


class Sessions:
    """Reads, checks and writes session cookies."""

    def __init__(self, settings: Settings, authenticator: Authenticator) -> None:
        secret = settings.console_secret.get_secret_value() or secrets.token_urlsafe(32)
        self._key = hashlib.sha256(b"executor-console-credential:" + secret.encode()).digest()
        self._serializer = URLSafeTimedSerializer(secret, salt="executor-console-session")
        self.ttl = settings.console_session_ttl
        self.authenticator = authenticator
        self._principals = {self._mac(p.identity): p for p in authenticator.principals()}

    def _mac(self, identity: str) -> str:
        return hmac.new(self._key, identity.encode(), hashlib.sha256).hexdigest()

    # -- the cookie ------------------------------------------------------------------------------

    def read(self, request: Request) -> Session | None:
        """The request's session, None when it has none, or one that is forged or expired."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.ttl)
            session = Session.model_validate(data)
        except (BadSignature, ValidationError):
            return None
        if session.project is not None and time.time() - session.since > self.ttl:
            return None
        return session

    def write(self, response: Response, request: Request, session: Session | None) -> None:
        """Set the cookie to ``session``, or remove it for None."""
        if session is None:
            response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax")
            return
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(session.model_dump(mode="json")),
            max_age=self.ttl,
            path=PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    # -- signing in ------------------------------------------------------------------------------

    def sign_in(self, principal: Principal, project: str) -> Session:
        """The session of ``principal`` on ``project``, or ``ProjectDenied``; its CSRF token
        is new, not the sign-in form's."""
        principal.require(project)
        return Session(
            csrf=secrets.token_urlsafe(24),
            project=project,
            credential=self._mac(principal.identity),
            who=principal.name,
            since=time.time(),
        )

    def visitor(self, session: Session | None) -> Visitor:
        """The signed-in visitor of ``session``, or ``SignInRequired``."""
        if session is None or session.project is None:
            raise SignInRequired
        principal = self._principals.get(session.credential)
        if principal is None:
            raise SignInRequired
        try:
            principal.require(session.project)
        except ProjectDenied:
            raise SignInRequired from None
        return Visitor(session, principal, session.project)

    @staticmethod
    def check_csrf(session: Session | None, sent: object) -> None:
        """Refuse a form whose token is not the session's."""
        if (
            session is None
            or not isinstance(sent, str)
            or not hmac.compare_digest(session.csrf.encode(), sent.encode())
        ):
            raise CsrfRefused
