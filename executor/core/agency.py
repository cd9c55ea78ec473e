"""Agencies: named grants of destination kinds, with the endpoint and credentials for each.

A function names its agency (``@app.function("report", agency="writer")``). Putting an async
config whose destination kind that agency does not grant is refused with FSS.1121, and every
delivery checks again, so a grant taken away stops deliveries too. FunctionGraph destinations
stay inside the fleet and need no grant.

Agencies are defined in the file named by ``EXECUTOR_AGENCY_FILE``: TOML, or JSON when the name
ends in ``.json``. An agency grants a kind by having a section for it::

    [agencies.writer.obs]
    endpoint_url = "http://127.0.0.1:9000"
    access_key_id = "writer"
    secret_access_key_env = "WRITER_SECRET"   # read from the environment at load

    [agencies.writer.dis]                      # Redis Streams on the state store's Redis

Each secret field (``access_key_id``, ``secret_access_key``, ``session_token``, ``redis_url``,
a subscription's ``secret``) may be given as ``<field>_env``, the name of an environment variable
holding it. Secrets are kept as ``SecretStr``: they print as ``**********`` and are read only
where a client is built. The file is read once per process and checked whole; any problem is an
``AgencyFileInvalid`` naming the field to fix, never showing a value.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from executor.core.errors import AccessDenied, AgencyFileInvalid
from executor.core.params import TOPIC_URN

if TYPE_CHECKING:
    from executor.core.config import AsyncConfig

DENIED = "Access denied. Check whether the corresponding agency has been configured."
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Section(BaseModel):
    """Part of an agency file whose secrets may also come from environment variables."""

    model_config = _STRICT

    secrets: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_env(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        resolved = dict(data)
        for key, variable in data.items():
            field = key.removesuffix("_env")
            if field == key or field not in cls.secrets:
                continue
            if field in data:
                raise ValueError(f"give {field} or {key}, not both")
            if not isinstance(variable, str) or not variable:
                raise ValueError(f"{key} must name an environment variable")
            value = os.environ.get(variable)
            if value is None:
                raise ValueError(f"{key} names {variable}, which is not set in the environment")
            del resolved[key]
            resolved[field] = value
        return resolved


class Access(Section):
    """The part of an agency that grants one destination kind."""

    kind: ClassVar[str]


class ServiceAccess(Access):
    """Where and as whom a boto3 client reaches an S3-, SNS- or Kinesis-compatible service.

    Without keys, boto3's own chain applies (its environment variables, profile, instance role).
    """

    secrets: ClassVar[frozenset[str]] = frozenset(
        {"access_key_id", "secret_access_key", "session_token"}
    )

    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str = Field(default="us-east-1", min_length=1)
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds")
    read_timeout: float = Field(default=10.0, gt=0, description="seconds")

    @model_validator(mode="after")
    def _key_pair(self) -> ServiceAccess:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self


class OBSAccess(ServiceAccess):
    """Object storage; ``addressing_style = "path"`` suits MinIO, Ceph and local endpoints."""

    kind: ClassVar[str] = "OBS"

    addressing_style: Literal["auto", "path", "virtual"] = "auto"


class DISAccess(ServiceAccess):
    """A data stream: Redis Streams (default) or a Kinesis-compatible service."""

    kind: ClassVar[str] = "DIS"
    secrets: ClassVar[frozenset[str]] = ServiceAccess.secrets | {"redis_url"}

    backend: Literal["redis", "kinesis"] = "redis"
    redis_url: SecretStr | None = Field(default=None, description="default: the state store")
    maxlen: int = Field(default=100_000, ge=0, description="approximate cap per stream; 0: none")


class Subscription(Section):
    """An HTTP endpoint that receives every event published to one topic."""

    secrets: ClassVar[frozenset[str]] = frozenset({"secret"})

    topic_urn: str = Field(pattern=TOPIC_URN)
    url: str = Field(pattern=r"^https?://[^/\s]+")
    secret: SecretStr = Field(description="key of the X-Signature HMAC-SHA256")
    timeout: float = Field(default=5.0, gt=0, le=60, description="seconds")


class SMNAccess(ServiceAccess):
    """A notification topic: an SNS-compatible service, or webhook subscriptions."""

    kind: ClassVar[str] = "SMN"

    backend: Literal["sns", "webhook"] = "sns"
    account_id: str = Field(default="", pattern=r"^[0-9]*$", description="of the topic ARN")
    subscriptions: tuple[Subscription, ...] = ()

    @model_validator(mode="after")
    def _backend(self) -> SMNAccess:
        if self.backend == "sns" and not self.account_id:
            raise ValueError("backend 'sns' needs account_id (the account in the topic ARN)")
        if self.backend == "webhook" and not self.subscriptions:
            raise ValueError("backend 'webhook' needs at least one [[...smn.subscriptions]]")
        return self


class SQSAccess(ServiceAccess):
    """A message queue: an SQS-compatible service, reached at ``endpoint_url``."""

    kind: ClassVar[str] = "SQS"


A = TypeVar("A", bound=Access)
_SECTIONS: dict[str, str] = {"OBS": "obs", "DIS": "dis", "SMN": "smn", "SQS": "sqs"}
GRANTABLE: frozenset[str] = frozenset(_SECTIONS)


class Agency(BaseModel):
    """A named grant: one section per destination kind it allows."""

    model_config = _STRICT

    name: str = Field(pattern=_NAME)
    obs: OBSAccess | None = None
    dis: DISAccess | None = None
    smn: SMNAccess | None = None
    sqs: SQSAccess | None = None

    @property
    def grants(self) -> frozenset[str]:
        return frozenset(kind for kind, field in _SECTIONS.items() if getattr(self, field))


class AgencyFile(BaseModel):
    """The whole agency file: agencies by name."""

    model_config = _STRICT

    agencies: dict[str, Agency] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("agencies"), dict):
            agencies = {
                name: {**body, "name": name} if isinstance(body, dict) else body
                for name, body in data["agencies"].items()
            }
            return {**data, "agencies": agencies}
        return data


class Agencies:
    """The agencies of one file, and the checks made against them."""

    def __init__(self, agencies: Mapping[str, Agency] | None = None, source: str = "") -> None:
        self._agencies = dict(agencies or {})
        self.source = source

    @classmethod
    def read(cls, path: str) -> Agencies:
        """Load and validate a file; ``AgencyFileInvalid`` says what to fix."""
        where = Path(path)
        try:
            text = where.read_text(encoding="utf-8")
        except OSError as exc:
            raise AgencyFileInvalid(
                f"cannot read the agency file {path} ({exc.strerror}); "
                "fix EXECUTOR_AGENCY_FILE or create the file"
            ) from None
        try:
            data = json.loads(text) if where.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            kind = "JSON" if where.suffix == ".json" else "TOML"
            raise AgencyFileInvalid(f"the agency file {path} is not valid {kind}: {exc}") from None
        try:
            parsed = AgencyFile.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'] if p != 'name') or 'file'}: "
                f"{err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise AgencyFileInvalid(f"the agency file {path} is invalid: {problems}") from None
        return cls(parsed.agencies, path)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self._agencies.values())

    def __repr__(self) -> str:
        return f"Agencies({sorted(self._agencies)!r}, source={self.source!r})"

    def get(self, name: str) -> Agency | None:
        return self._agencies.get(name)

    def authorize(self, name: str | None, kind: str) -> Agency | None:
        """The agency that grants ``kind``, or ``AccessDenied`` saying what to configure.

        ``None`` for kinds that need no grant (FunctionGraph).
        """
        if kind not in GRANTABLE:
            return None
        section = _SECTIONS[kind]
        if name is None:
            raise AccessDenied(
                f"{DENIED} The function names no agency, and {kind} destinations need one: "
                'register it with @app.function(..., agency="<name>") and define that agency '
                f"with an [agencies.<name>.{section}] section in EXECUTOR_AGENCY_FILE."
            )
        agency = self._agencies.get(name)
        if agency is None:
            where = f"the agency file {self.source}" if self.source else "EXECUTOR_AGENCY_FILE"
            missing = "" if self.source else " (the setting is empty)"
            raise AccessDenied(
                f"{DENIED} Agency {name!r} is not defined in {where}{missing}: add an "
                f"[agencies.{name}.{section}] section and restart the workers."
            )
        if kind not in agency.grants:
            raise AccessDenied(
                f"{DENIED} Agency {name!r} does not grant {kind}: add an "
                f"[agencies.{name}.{section}] section to {self.source} and restart the workers."
            )
        return agency

    def access(self, name: str | None, section: type[A]) -> tuple[str, A]:
        """The agency's name and its section for ``section.kind``, or ``AccessDenied``."""
        agency = self.authorize(name, section.kind)
        found = getattr(agency, _SECTIONS[section.kind], None)
        if agency is None or not isinstance(found, section):
            raise AccessDenied(f"{DENIED} No grant for {section.kind}.")
        return agency.name, found

    def authorize_config(self, name: str | None, config: AsyncConfig) -> None:
        """Refuse a config whose destinations the agency does not grant."""
        for outcome in ("success", "failure"):
            ref = config.destination_for(outcome)
            if ref is None:
                continue
            try:
                self.authorize(name, ref.destination)
            except AccessDenied as exc:
                field = f"destination_config.on_{outcome}.destination"
                raise AccessDenied(exc.message, fields={field: exc.message}) from None


@lru_cache(maxsize=8)
def load_agencies(path: str) -> Agencies:
    """The agencies of a file, read once per process; none for an empty path."""
    return Agencies.read(path) if path else Agencies()
