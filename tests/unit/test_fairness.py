"""The queue order of fair dispatch: projects take turns, then their functions."""

from __future__ import annotations

import itertools

from executor.cli.main import worker_queues
from executor.core.catalogue import function_queue, queue_project
from executor.core.constants import DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.registry import FunctionSpec, Registry
from executor.core.settings import Settings
from executor.core.urn import parse_urn
from executor.runtime.celery.celery_app import PROJECT_CYCLE, make_celery
from executor.runtime.celery.fairness import ProjectCycle
from executor.state.functions import Functions
from executor.state.store import Store
from tests.support.names import PROJECT, REGION, urn


def q(project: str, name: str) -> str:
    return function_queue(parse_urn(name, region="r", project=project))


def served(cycle: ProjectCycle, busy: set[str], turns: int) -> list[str]:
    """The queues a BRPOP over ``cycle``'s order answers from, ``turns`` times over, when the
    ``busy`` ones always hold a message."""
    order = []
    for _ in range(turns):
        queue = next(q for q in cycle.consume(len(cycle.items)) if q in busy)
        cycle.rotate(queue)
        order.append(queue)
    return order


def test_a_project_with_many_busy_functions_gets_one_turn_in_two() -> None:
    big = [q("big", f"f{n}") for n in range(3)]
    small = q("small", "only")
    cycle = ProjectCycle()
    cycle.update([*big, small, DELIVERY_QUEUE])
    order = served(cycle, {*big, small}, 12)
    assert [queue_project(o) for o in order].count("small") == 6
    assert all(queue_project(a) != queue_project(b) for a, b in itertools.pairwise(order))
    # Within the big project its functions take turns too.
    assert sorted(o for o in order if o in big) == sorted(big * 2)


def test_other_queues_are_groups_of_their_own() -> None:
    assert queue_project(q("p1", "f")) == "p1"
    assert queue_project(INVOCATION_QUEUE) == INVOCATION_QUEUE
    assert queue_project(DELIVERY_QUEUE) == DELIVERY_QUEUE


def test_an_unknown_queue_leaves_the_order_alone() -> None:
    cycle = ProjectCycle()
    cycle.update(["a", "b"])
    cycle.rotate("c")
    assert cycle.items == ["a", "b"]


def test_fair_queues_set_the_cycle_on_the_transport_by_default() -> None:
    fair = make_celery(Settings(broker_url="redis://127.0.0.1:1/0"))
    assert fair.conf.broker_transport_options["queue_order_strategy"] == PROJECT_CYCLE
    plain = make_celery(Settings(broker_url="redis://127.0.0.1:1/0", fair_queues=False))
    assert "queue_order_strategy" not in plain.conf.broker_transport_options


def test_a_producer_that_registered_a_function_routes_to_the_queue_the_workers_publish(
    functions: Functions, registry: Registry, store: Store
) -> None:
    hello = parse_urn(urn("hello"), region=REGION, project=PROJECT)
    assert functions.lookup(hello).queue == "q-hello"  # no worker published it yet
    spec = registry.get(hello)
    assert spec is not None
    own = FunctionSpec(urn=hello, handler=spec.handler, queue=function_queue(hello))
    store.catalogue.publish({str(hello): own.entry().model_dump_json()})
    assert functions.lookup(hello).queue == function_queue(hello)


def test_the_invocations_alias_names_the_shared_queue_and_every_function_queue() -> None:
    own = "executor.invocations.p.default.a"
    default = ["executor.deliveries", "executor.invocations", own, "heavy"]
    assert worker_queues("invocations,deliveries", default) == (
        f"executor.invocations,{own},executor.deliveries"
    )
    assert worker_queues("heavy, invocations", default) == f"heavy,executor.invocations,{own}"
    assert worker_queues("executor.invocations", default) == "executor.invocations"
    assert worker_queues(None, default) == ",".join(default)
