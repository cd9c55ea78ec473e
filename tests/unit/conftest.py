"""The unit layer: the real store, Lua scripts included, on fakeredis; no process is started.

The fixtures here shadow the integration fixtures of the same name (``settings``,
``redis_server``), so a unit test cannot reach a real redis-server by accident. The unit
layer's ``Client`` is ``fake_client``; ``client`` is the integration layer's (a producer on a
real redis-server), and a unit test that asks for it is refused at collection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import pytest

from executor import Client, Settings
from executor.core.agency import Agencies
from executor.core.config import AsyncConfig
from executor.core.policies import ChainLimit
from executor.core.registry import FunctionSpec, Registry
from executor.core.urn import parse_urn
from executor.runtime.admission import Admission
from executor.runtime.delivery import Deliveries
from executor.runtime.lifecycle import Lifecycle
from executor.state.configs import Configs
from executor.state.functions import Functions
from executor.state.store import Store
from tests.support.names import NOWHERE, PROJECT, REGION, urn
from tests.support.stubs import RecordingCelery, RecordingPublisher, StubRuntime


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """One ``Settings`` for the session: it is frozen, and reading the environment into it costs
    more than most unit tests (a test with other values takes ``settings.model_copy``)."""
    return Settings(
        broker_url=NOWHERE,
        region=REGION,
        project_id=PROJECT,
        retry_backoff_base=0.05,
        retry_backoff_max=0.4,
        config_cache_ttl=0,
        status_retention=3600,
        delivery_deadline=30,
    )


@pytest.fixture
def store(fake_redis: fakeredis.FakeRedis, settings: Settings) -> Store:
    return Store(settings, client=fake_redis)


@pytest.fixture
def registry() -> Registry:
    """Three functions, ``hello`` with an agency and ``strict`` with a decorator default."""
    found = Registry()
    for name, agency, default in [
        ("hello", "writer", None),
        ("next", None, None),
        ("strict", None, AsyncConfig(max_async_retry_attempts=0)),
    ]:
        found.add(
            FunctionSpec(
                urn=parse_urn(urn(name), region=REGION, project=PROJECT),
                handler=lambda payload, context: payload,
                queue=f"q-{name}",
                agency=agency,
                default_config=default,
            )
        )
    return found


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def runtime(settings: Settings) -> StubRuntime:
    return StubRuntime(settings)


@pytest.fixture
def configs(store: Store, settings: Settings) -> Configs:
    return Configs(store.redis, store.leases, settings.config_cache_ttl)


@pytest.fixture
def functions(settings: Settings, registry: Registry, store: Store, configs: Configs) -> Functions:
    return Functions(settings, registry, store.catalogue, configs, store.flows)


@pytest.fixture
def deliveries(
    settings: Settings, store: Store, publisher: RecordingPublisher, runtime: StubRuntime
) -> Deliveries:
    return Deliveries(settings, store.deliveries, store.dead_letters, publisher, runtime)  # type: ignore[arg-type]


@pytest.fixture
def admission(
    settings: Settings, store: Store, functions: Functions, publisher: RecordingPublisher
) -> Admission:
    return Admission(settings, store, functions, publisher, [ChainLimit(settings.max_chain_depth)])  # type: ignore[arg-type]


@pytest.fixture
def lifecycle(
    settings: Settings,
    store: Store,
    functions: Functions,
    admission: Admission,
    deliveries: Deliveries,
) -> Lifecycle:
    return Lifecycle(settings, store, functions, admission, deliveries)


@pytest.fixture
def celery() -> RecordingCelery:
    return RecordingCelery()


@pytest.fixture
def fake_client(
    settings: Settings, celery: RecordingCelery, registry: Registry, store: Store
) -> Client:
    """A real ``Client`` (and its real ``Publisher``) over fakeredis and a recording Celery."""
    return Client(settings, celery=celery, registry=registry, store=store, agencies=Agencies())  # type: ignore[arg-type]


@pytest.fixture
def make_client(
    settings: Settings, celery: RecordingCelery, registry: Registry, store: Store
) -> Callable[..., Client]:
    """A ``Client`` over the same store with other settings or agencies."""

    def make(**changes: Any) -> Client:
        agencies = changes.pop("agencies", None)
        return Client(
            settings.model_copy(update=changes),
            celery=celery,  # type: ignore[arg-type]
            registry=registry,
            store=store,
            agencies=agencies,
        )

    return make


@pytest.fixture
def redis_server() -> None:
    raise pytest.UsageError(
        "a unit test asked for a real redis-server: use the fakeredis fixtures here, or move "
        "the test to an integration file"
    )
