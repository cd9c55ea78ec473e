"""The state store of one process: one Redis connection pool, and the parts that use it.

Everything lives in Redis under the ``ae:`` prefix (see ``keys``). Each part is named after
what it keeps; a status change goes through ``transitions`` and a delivery attempt through
``deliveries``, each one script, so a change and its indexes are written together or not at all.
"""

from __future__ import annotations

import redis

from executor.core.constants import ADMISSION_MEMORY_FRACTION
from executor.core.settings import Settings
from executor.state.connection import connect, describe, reachable
from executor.state.dead_letters import DeadLetterStore
from executor.state.deliveries import DeliveryLedger
from executor.state.flows import Flows
from executor.state.headroom import Headroom
from executor.state.layout import Migrated, check_layout, migrate
from executor.state.leases import Leases
from executor.state.records import Records
from executor.state.retention import Retention
from executor.state.scans import Scans
from executor.state.schedule import DueIndex
from executor.state.series import Series
from executor.state.shared import Catalogue, Markers
from executor.state.transitions import Transitions


class Store:
    """The state store: ``records`` to read invocations, ``transitions`` to change them,
    ``deliveries`` for their events, ``due`` for delayed ones, ``retention`` to retire ended
    ones, ``scans`` and ``series`` across shards, and the ``catalogue``, ``markers``,
    ``leases``, ``dead_letters`` and ``flows`` every process shares."""

    def __init__(self, target: Settings | str, *, client: redis.Redis | None = None) -> None:
        """``target``: the settings (any mode), or the URL of one standalone server;
        ``client``, when given, is used instead of a new connection."""
        settings = target if isinstance(target, Settings) else None
        self.url = describe(settings) if settings is not None else str(target)
        self.redis: redis.Redis = client if client is not None else connect(target)
        fraction = settings.admission_memory_fraction if settings else ADMISSION_MEMORY_FRACTION
        self.headroom = Headroom(self.redis, fraction)
        self._layout_checked = False
        self.records = Records(self.redis, self._ready)
        self.transitions = Transitions(
            self.redis,
            self._ready,
            wait_replicas=settings.redis_wait_replicas if settings is not None else 0,
            wait_ms=int(settings.redis_wait_timeout * 1000) if settings is not None else 0,
        )
        self.deliveries = DeliveryLedger(self.redis)
        self.due = DueIndex(self.redis)
        self.retention = Retention(self.redis, self._ready)
        self.scans = Scans(self.redis, self._ready)
        self.series = Series(self.redis, self._ready)
        self.catalogue = Catalogue(self.redis)
        self.markers = Markers(self.redis)
        self.leases = Leases(self.redis)
        self.dead_letters = DeadLetterStore(self.redis)
        self.flows = Flows(self.redis, settings.config_cache_ttl if settings is not None else 2.0)

    def _ready(self) -> None:
        """Check the store's key layout once per process, before the first use."""
        if not self._layout_checked:
            self.check_layout()

    def check_layout(self) -> None:
        """Refuse (``StoreLayoutMismatch``) a store written with another key layout."""
        with reachable():
            check_layout(self.redis)
        self._layout_checked = True

    def migrate(self, retention: int) -> Migrated:
        """Bring a store of the previous key layout up to this one (see ``layout.migrate``)."""
        with reachable():
            migrated = migrate(self.redis, retention)
        self._layout_checked = True
        return migrated

    def reconnect(self) -> None:
        """Drop this process's connections: the next command opens new ones, to the server
        the configuration names now (after a Sentinel failover, the promoted master)."""
        self.redis.connection_pool.disconnect()

    def ping(self) -> bool:
        with reachable():
            return bool(self.redis.ping())
