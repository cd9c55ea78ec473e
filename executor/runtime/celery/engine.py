"""The engine of one process: its parts, each built once and handed to the ones that use it.

A producer's ``Client`` and a worker's ``FunctionApp`` both run on an ``Engine``; neither
reaches through the other. Who depends on whom reads top to bottom in ``Engine.assemble``.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from executor.core.agency import Agencies, load_agencies
from executor.core.policies import ChainLimit
from executor.core.registry import Registry
from executor.core.settings import Settings
from executor.runtime.admission import Admission
from executor.runtime.celery.celery_app import make_celery
from executor.runtime.celery.publisher import Publisher
from executor.runtime.delivery import Deliveries
from executor.runtime.hops import EngineRuntime
from executor.runtime.lifecycle import Lifecycle
from executor.state.configs import Configs
from executor.state.functions import Functions
from executor.state.store import Store


@dataclass(frozen=True)
class Engine:
    """The parts of one process: the state store and the broker, the functions it can reach,
    and the lifecycle of invocations over them."""

    settings: Settings
    celery: Celery
    registry: Registry
    store: Store
    agencies: Agencies
    configs: Configs
    functions: Functions
    publisher: Publisher
    admission: Admission
    deliveries: Deliveries
    lifecycle: Lifecycle

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        *,
        celery: Celery | None = None,
        registry: Registry | None = None,
        store: Store | None = None,
        agencies: Agencies | None = None,
    ) -> Engine:
        """Build every part, using the ones given instead of new ones."""
        celery = celery or make_celery(settings)
        registry = registry if registry is not None else Registry()
        store = store if store is not None else Store(settings)
        agencies = agencies or load_agencies(settings.agency_file)
        configs = Configs(store.redis, store.leases, settings.config_cache_ttl)
        functions = Functions(settings, registry, store.catalogue, configs, store.flows)
        publisher = Publisher(celery, settings)
        admission = Admission(
            settings, store, functions, publisher, [ChainLimit(settings.max_chain_depth)]
        )
        runtime = EngineRuntime(settings, agencies, store.markers, admission.invoke)
        deliveries = Deliveries(settings, store.deliveries, store.dead_letters, publisher, runtime)
        lifecycle = Lifecycle(settings, store, functions, admission, deliveries)
        return cls(
            settings=settings,
            celery=celery,
            registry=registry,
            store=store,
            agencies=agencies,
            configs=configs,
            functions=functions,
            publisher=publisher,
            admission=admission,
            deliveries=deliveries,
            lifecycle=lifecycle,
        )
