"""``FunctionApp``: where functions are registered and the Celery app lives."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celery import Celery
from pydantic import ValidationError

from executor.core.catalogue import function_queue
from executor.core.config import AsyncConfig
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.context import Handler
from executor.core.errors import InvalidParameter
from executor.core.flow import FlowConfig
from executor.core.registry import FunctionSpec, Registry
from executor.core.retry import RetryPolicy, exception_types
from executor.core.settings import Settings, get_settings
from executor.core.urn import FunctionURN
from executor.runtime.celery import hooks, logs
from executor.runtime.celery.celery_app import check_adoptable, make_celery, task_options
from executor.runtime.celery.engine import Engine
from executor.runtime.celery.intake import Consumer, InvocationRequest
from executor.runtime.celery.task import (
    DeliveryTask,
    InvocationTask,
    make_runner,
    register_delivery,
)
from executor.runtime.client import Client
from executor.runtime.dispatcher import Dispatcher
from executor.runtime.orphans import Orphans
from executor.runtime.rebound import Rebound
from executor.runtime.reconciler import Reconciler
from executor.state.configs import invalid

log = logging.getLogger("executor.app")


class FunctionApp:
    """Register handlers with ``@app.function(name)``; run them with ``executor worker``.

    ``app.celery`` is a plain Celery app, so ``celery -A module:app.celery worker`` and Flower
    work on it as on any other. ``FunctionApp(celery=existing)`` adopts an app of the user's
    instead: its broker, routes and defaults stay as they are, and what the engine needs
    (late acks, JSON, time limits) is set on the engine's own tasks alone.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        name: str = "executor",
        celery: Celery | None = None,
    ) -> None:
        self.settings = settings = settings or get_settings()
        self.registry = Registry()
        adopted = celery is not None
        if celery is None:
            celery = make_celery(settings, main=name)
        else:
            check_adoptable(celery, settings)
        self.celery = celery
        self.engine = engine = Engine.assemble(settings, celery=celery, registry=self.registry)
        self.client = Client(engine=engine)
        self.lifecycle = engine.lifecycle
        self.reconciler = Reconciler(
            settings,
            engine.store,
            self.lifecycle,
            Orphans(celery, settings, engine.store, engine.admission),
            self.publish_catalogue,
        )
        self.dispatcher = Dispatcher(settings, engine.store, engine.functions, engine.admission)
        self.rebound = Rebound(celery, settings, engine.store, engine.functions, self.lifecycle)
        # The task classes of this app: they know how to end an invocation the worker refuses
        # and whether payloads are shown.
        shown = {"show_payloads": settings.show_payloads}
        request = InvocationRequest.bound(self._refuse, settings.payload_max_depth)
        self._task_base = type("InvocationTask", (InvocationTask,), {"Request": request, **shown})
        if not adopted:
            celery.conf.worker_consumer = Consumer.bound(self._refuse, self.rebound.handle)
        delivery_base = type("DeliveryTask", (DeliveryTask,), shown)
        register_delivery(celery, engine.deliveries, delivery_base, task_options(settings))
        hooks.connect(self)
        logs.connect(settings, f"executor-{id(self)}")

    def function(
        self,
        name: str,
        *,
        version: str | None = None,
        queue: str | None = None,
        agency: str | None = None,
        config: AsyncConfig | Mapping[str, Any] | None = None,
        retry_on: Iterable[type[BaseException]] | None = None,
        no_retry_on: Iterable[type[BaseException]] | None = None,
        max_instances: int | None = None,
        rate_per_second: float | None = None,
        recursive_loop: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(event, context)`` as a function.

        ``config`` is the default async configuration, used while none is stored.
        ``retry_on`` / ``no_retry_on`` choose which exceptions spend retries; any other
        exception ends the invocation at once as FAIL with condition ``NotRetryable``.
        ``max_instances``, ``rate_per_second`` and ``recursive_loop`` are the default flow
        config (see ``executor.core.flow``), used while none is stored.
        """
        flow = default_flow(max_instances, rate_per_second, recursive_loop)
        policy = RetryPolicy(
            retry_on=exception_types(retry_on, "retry_on"),
            no_retry_on=exception_types(no_retry_on, "no_retry_on"),
        )
        urn = self.client.resolve(name)
        if version is not None:
            if ":" in name:
                raise InvalidParameter(
                    f"give the version either in {name!r} or as version=, not both"
                )
            urn = urn.with_qualifier(version)
        urn.require_version()
        default = None
        if config is not None:
            default = (
                config if isinstance(config, AsyncConfig) else AsyncConfig.model_validate(config)
            )

        def decorate(handler: Handler) -> Handler:
            spec = FunctionSpec(
                urn=urn,
                handler=handler,
                queue=queue or self._default_queue(urn),
                agency=agency,
                default_config=default,
                retry_policy=policy,
                flow=flow,
            )
            self.registry.add(spec)
            self.celery.task(
                name=spec.task_name,
                bind=True,
                base=self._task_base,
                shared=False,
                **task_options(self.settings),
            )(make_runner(self.lifecycle, spec))
            return handler

        return decorate

    def _default_queue(self, urn: FunctionURN) -> str:
        # Kombu's Redis transport rotates the queues it waits on after each message, so with a
        # queue per function one function's backlog takes every other message at most.
        return function_queue(urn) if self.settings.fair_queues else INVOCATION_QUEUE

    def invoke_async(
        self,
        function: str,
        payload: Any = None,
        *,
        request_id: str | None = None,
        delay: float = 0,
    ) -> str:
        return self.client.invoke_async(function, payload, request_id=request_id, delay=delay)

    def queues(self) -> list[str]:
        """Every queue a worker of this app consumes by default."""
        return sorted(self.registry.queues() | {INVOCATION_QUEUE, DELIVERY_QUEUE})

    def publish_catalogue(self) -> None:
        self.engine.store.catalogue.publish(self.registry.catalogue())

    def _refuse(self, request_id: str, reason: str) -> None:
        self.lifecycle.fail_platform(request_id, reason, note="refused by the worker")

    def on_worker_ready(self) -> None:
        self.engine.publisher.routes.available()  # logs which way messages go, and why
        self.publish_catalogue()
        self.reconciler.start()
        self.dispatcher.start()
        log.info(
            "worker ready with %d functions: %s",
            len(self.registry),
            ", ".join(str(s.urn) for s in self.registry),
        )

    def on_worker_shutdown(self) -> None:
        self.reconciler.stop()
        self.dispatcher.stop()


def default_flow(
    max_instances: int | None, rate_per_second: float | None, recursive_loop: str | None
) -> FlowConfig | None:
    """The decorator's flow config from the fields given; None when none is."""
    given = {
        "max_instances": max_instances,
        "rate_per_second": rate_per_second,
        "recursive_loop": recursive_loop,
    }
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return None
    try:
        return FlowConfig.model_validate(given)
    except ValidationError as exc:
        raise invalid(exc, "flow config") from None
