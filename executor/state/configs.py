"""Reading and writing async configs, with the cache workers and producers read through."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from executor.core.config import DEFAULT_CONFIG, AsyncConfig, StoredAsyncConfig
from executor.core.errors import ConfigNotFound, InvalidParameter
from executor.core.guard import refuse_cycle
from executor.core.urn import FunctionURN, parse_urn
from executor.state.store import Store


def invalid(exc: ValidationError, what: str) -> InvalidParameter:
    """An ``InvalidParameter`` naming every field that failed, for a user to fix."""
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or what
        problems.append(f"{field}: {err['msg']}")
    return InvalidParameter(f"invalid {what}: " + "; ".join(problems))


class ConfigPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    async_invoke_configs: tuple[StoredAsyncConfig, ...]
    count: int
    page_info: dict[str, Any]


class Configs:
    """Async configs in the store, cached for ``ttl`` seconds per process."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        # The policy is kept beside the stored config, so a message does not validate it again.
        self._cache: dict[str, tuple[float, StoredAsyncConfig | None, AsyncConfig | None]] = {}

    def _read(self, urn: FunctionURN) -> tuple[float, StoredAsyncConfig | None, AsyncConfig | None]:
        key = str(urn)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit
        raw = self._store.get_config(key)
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
        with self._store.leases.locked("configs"):
            self._refuse_cycles(urn, config, defaults)
            now = _now()
            existing = self._store.get_config(str(urn))
            created = (
                StoredAsyncConfig.model_validate_json(existing).created_time if existing else now
            )
            stored = StoredAsyncConfig(
                **config.model_dump(), func_urn=str(urn), created_time=created, last_modified=now
            )
            self._store.put_config(str(urn), stored.model_dump_json())
        self._cache.pop(str(urn), None)
        return stored

    def get(self, urn: FunctionURN) -> StoredAsyncConfig:
        urn.require_version()
        raw = self._store.get_config(str(urn))
        if raw is None:
            raise ConfigNotFound(f"{urn} has no async configuration; set one with 'config put'")
        return StoredAsyncConfig.model_validate_json(raw)

    def delete(self, urn: FunctionURN) -> None:
        urn.require_version()
        self._cache.pop(str(urn), None)
        if not self._store.delete_config(str(urn)):
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
        mine = [
            StoredAsyncConfig.model_validate_json(body)
            for key, body in self._store.all_configs().items()
            if key.startswith(prefix)
        ]
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

    def _refuse_cycles(
        self, urn: FunctionURN, config: AsyncConfig, defaults: dict[str, AsyncConfig | None]
    ) -> None:
        configs: dict[str, AsyncConfig] = {k: v for k, v in defaults.items() if v is not None}
        for key, body in self._store.all_configs().items():
            configs[key] = StoredAsyncConfig.model_validate_json(body).policy()
        configs[str(urn)] = config
        edges: dict[str, set[str]] = {}
        for key, cfg in configs.items():
            source = parse_urn(key, region="", project="").function
            for outcome in ("success", "failure"):
                ref = cfg.destination_for(outcome)
                if ref is not None and ref.destination == "FunctionGraph":
                    target = ref.decoded().model_dump()["func_urn"]
                    edges.setdefault(source, set()).add(
                        parse_urn(target, region="", project="").function
                    )
        refuse_cycle(edges, urn.function)


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")
