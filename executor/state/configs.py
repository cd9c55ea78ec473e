"""Reading and writing async configs, with the cache workers and producers read through."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

import redis
from pydantic import BaseModel, ConfigDict, ValidationError

from executor.core.config import DEFAULT_CONFIG, AsyncConfig, ParamInvalid, StoredAsyncConfig
from executor.core.errors import ConfigNotFound, CycleDetected, InvalidParameter
from executor.core.guard import refuse_cycle
from executor.core.params import FUNCTION_GRAPH
from executor.core.urn import FunctionURN, parse_urn
from executor.state.connection import reachable
from executor.state.keys import CONFIGS, config_key
from executor.state.leases import Leases


def invalid(exc: ValidationError, what: str) -> InvalidParameter:
    """An ``InvalidParameter`` naming every field that failed, for a user to fix; its
    ``fields`` holds each problem by field, those of a destination's param included."""
    problems = []
    fields: dict[str, str] = {}
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or what
        problems.append(f"{field}: {err['msg']}")
        cause = err.get("ctx", {}).get("error")
        found = (
            {f"{field}.param.{name}": text for name, text in cause.problems.items()}
            if isinstance(cause, ParamInvalid)
            else {field: err["msg"]}
        )
        for name, text in found.items():
            text = text.removeprefix("Value error, ")
            fields[name] = "; ".join(filter(None, (fields.get(name), text)))
    return InvalidParameter(f"invalid {what}: " + "; ".join(problems), fields=fields)


class ConfigPage(BaseModel):
    """A page of stored configs, in FunctionGraph's ``async-invoke-configs`` shape."""

    model_config = ConfigDict(frozen=True)

    async_invoke_configs: tuple[StoredAsyncConfig, ...]
    count: int
    page_info: dict[str, Any]


class Configs:
    """Async configs in the store, cached for ``ttl`` seconds per process."""

    def __init__(self, client: redis.Redis, leases: Leases, ttl: float) -> None:
        self.redis = client
        self._leases = leases
        self._ttl = ttl
        # The policy is kept beside the stored config, so a message does not validate it again.
        self._cache: dict[str, tuple[float, StoredAsyncConfig | None, AsyncConfig | None]] = {}

    def _read(self, urn: FunctionURN) -> tuple[float, StoredAsyncConfig | None, AsyncConfig | None]:
        key = str(urn)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit
        raw = self._raw(key)
        value = StoredAsyncConfig.model_validate_json(raw) if raw else None
        hit = self._cache[key] = (now, value, value.policy() if value else None)
        return hit

    def stored(self, urn: FunctionURN) -> StoredAsyncConfig | None:
        return self._read(urn)[1]

    def effective(self, urn: FunctionURN, default: AsyncConfig | None) -> AsyncConfig:
        """The stored config, else the decorator's default, else the spec's defaults."""
        return self._read(urn)[2] or default or DEFAULT_CONFIG

    def put(
        self, urn: FunctionURN, body: Any, defaults: dict[str, AsyncConfig | None]
    ) -> StoredAsyncConfig:
        """Validate and store; nothing is written if any check fails."""
        urn.require_version()
        if isinstance(body, AsyncConfig):
            config = body
        else:
            try:
                config = AsyncConfig.model_validate(body)
            except ValidationError as exc:
                raise invalid(exc, "async config") from None
        # The cycle check reads every stored destination; a write between that read and this
        # write could close a cycle neither writer saw, so both happen under one lock.
        with self._leases.locked("configs"):
            self._refuse_cycles(urn, config, defaults)
            now = timestamp()
            existing = self._raw(str(urn))
            created = (
                StoredAsyncConfig.model_validate_json(existing).created_time if existing else now
            )
            stored = StoredAsyncConfig(
                **config.model_dump(), func_urn=str(urn), created_time=created, last_modified=now
            )
            self._write(str(urn), stored.model_dump_json())
        self._cache.pop(str(urn), None)
        return stored

    def get(self, urn: FunctionURN) -> StoredAsyncConfig:
        urn.require_version()
        raw = self._raw(str(urn))
        if raw is None:
            raise ConfigNotFound(f"{urn} has no async configuration; set one with 'config put'")
        return StoredAsyncConfig.model_validate_json(raw)

    def delete(self, urn: FunctionURN) -> None:
        urn.require_version()
        self._cache.pop(str(urn), None)
        if not self._delete(str(urn)):
            raise ConfigNotFound(f"{urn} has no async configuration to delete")

    def list(self, urn: FunctionURN, marker: str | None = None, limit: int = 10) -> ConfigPage:
        """All versions' configs of the function, in URN order."""
        if not 1 <= limit <= 100:
            raise InvalidParameter("limit must be between 1 and 100")
        try:
            start = int(marker) if marker else 0
        except ValueError:
            raise InvalidParameter(
                f"marker must be a number returned by a previous page, not {marker!r}"
            ) from None
        if start < 0:
            raise InvalidParameter("marker must not be negative")
        prefix = urn.function + ":"
        mine = [config for key, config in self.all().items() if key.startswith(prefix)]
        page = mine[start : start + limit]
        following = start + len(page)
        return ConfigPage(
            async_invoke_configs=tuple(page),
            count=len(mine),
            page_info={
                "next_marker": following if following < len(mine) else None,
                "previous_marker": max(0, start - limit) if start else None,
                "current_count": len(page),
            },
        )

    def all(self) -> dict[str, StoredAsyncConfig]:
        """Every stored config, by URN, in URN order."""
        return {
            urn: StoredAsyncConfig.model_validate_json(body) for urn, body in self._all().items()
        }

    def _refuse_cycles(
        self, urn: FunctionURN, config: AsyncConfig, defaults: dict[str, AsyncConfig | None]
    ) -> None:
        configs: dict[str, AsyncConfig] = {k: v for k, v in defaults.items() if v is not None}
        for key, stored in self.all().items():
            configs[key] = stored.policy()
        configs[str(urn)] = config
        edges: dict[str, set[str]] = {}
        for key, cfg in configs.items():
            source = parse_urn(key, region="", project="").function
            for target in _targets(cfg).values():
                edges.setdefault(source, set()).add(target)
        try:
            refuse_cycle(edges, urn.function)
        except CycleDetected as exc:
            # The sides of this config that lead into the cycle are the fields at fault.
            sides = {o: t for o, t in _targets(config).items() if t == exc.cycle[1]}
            fields = {f"destination_config.on_{o}.param.func_urn": exc.message for o in sides}
            raise CycleDetected(exc.message, cycle=exc.cycle, fields=fields) from None

    # -- the keys ----------------------------------------------------------------------------

    def _raw(self, urn: str) -> str | None:
        with reachable():
            return cast("str | None", self.redis.get(config_key(urn)))

    def _write(self, urn: str, body: str) -> None:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.set(config_key(urn), body)
            pipe.sadd(CONFIGS, urn)
            pipe.execute()

    def _delete(self, urn: str) -> bool:
        with reachable():
            pipe = self.redis.pipeline()
            pipe.delete(config_key(urn))
            pipe.srem(CONFIGS, urn)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def _all(self) -> dict[str, str]:
        with reachable():
            urns = sorted(cast("set[str]", self.redis.smembers(CONFIGS)))
            if not urns:
                return {}
            bodies = cast("list[str | None]", self.redis.mget([config_key(u) for u in urns]))
        return {u: b for u, b in zip(urns, bodies, strict=True) if b}


def _targets(config: AsyncConfig) -> dict[str, str]:
    """The functions (without qualifier) that ``config``'s FunctionGraph destinations call,
    by outcome."""
    found = {}
    for outcome in ("success", "failure"):
        ref = config.destination_for(outcome)
        if ref is not None and ref.destination == FUNCTION_GRAPH:
            target = ref.decoded().model_dump()["func_urn"]
            found[outcome] = parse_urn(target, region="", project="").function
    return found


def timestamp() -> str:
    """The time now as the configs show it (ISO 8601, seconds, UTC)."""
    return datetime.now(tz=UTC).isoformat(timespec="seconds")
