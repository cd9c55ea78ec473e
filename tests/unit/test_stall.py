"""When the stall watch takes a worker for stuck (runtime.stall.Stall): idle beside a backlog
for the whole window, and never on what one look cannot tell."""

from __future__ import annotations

from types import SimpleNamespace

from celery import Celery
from kombu import Queue

from executor.runtime.celery import hooks
from executor.runtime.stall import Stall, StallWatch


def test_an_idle_worker_beside_a_backlog_for_the_window_is_stuck():
    stall = Stall(window=30)
    assert not stall.look(10, busy=False, waiting=5)
    assert not stall.look(39, busy=False, waiting=5)
    assert stall.look(40, busy=False, waiting=5)


def test_a_message_received_starts_the_window_again():
    stall = Stall(window=30)
    assert not stall.look(5, busy=False, waiting=5)
    stall.received()
    assert not stall.look(25, busy=False, waiting=5)
    assert not stall.look(54, busy=False, waiting=5)
    assert stall.look(55, busy=False, waiting=5)


def test_a_busy_worker_or_an_empty_queue_starts_the_window_again():
    for kept in ({"busy": True, "waiting": 5}, {"busy": False, "waiting": 0}):
        stall = Stall(window=30)
        assert not stall.look(10, busy=False, waiting=5)
        assert not stall.look(20, **kept)
        assert not stall.look(45, busy=False, waiting=5)
        assert stall.look(75, busy=False, waiting=5)


def test_a_broker_that_could_not_be_asked_judges_nothing():
    stall = Stall(window=30)
    assert not stall.look(10, busy=False, waiting=5)
    assert not stall.look(50, busy=False, waiting=None)
    assert not stall.look(60, busy=False, waiting=5)
    assert stall.look(90, busy=False, waiting=5)


def test_the_watch_judges_the_queues_a_worker_is_set_to_consume_even_while_it_reconnects():
    celery = Celery("stall", broker="memory://", set_as_current=False)
    celery.conf.task_queues = [Queue("a"), Queue("b"), Queue("c")]
    celery.amqp.queues.select(["a", "b"])
    celery.amqp.queues.select_add("d")  # added at run time (``celery control add_consumer``)
    # Celery drops its task consumer while the broker connection is lost, and makes a new
    # one once it is back: one stuck on its way back has none.
    reconnecting = SimpleNamespace(app=celery, task_consumer=None)
    assert hooks.consumed(reconnecting) == ["a", "b", "d"]


def test_a_look_asks_about_a_batch_of_many_queues_and_every_one_holding_messages() -> None:
    queues = [f"executor.invocations.p.default.f{n}" for n in range(1000)]
    watch = StallWatch(None, lambda: queues, window=30, grace=5)  # type: ignore[arg-type]
    first = watch.looked_at()
    assert len(first) <= 10
    watch._held[queues[500]] = None  # seen holding messages at a look
    seen: set[str] = set(first)
    for _ in range(200):
        batch = watch.looked_at()
        assert queues[500] in batch and len(batch) <= 11
        seen.update(batch)
    assert seen == set(queues)  # every queue is asked about in turn
