"""The one-script paths: a FunctionGraph hop ends the source and starts the target together,
and the worker's held connection gives way to the normal client on any error."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
import redis

from destinations.functiongraph import target_request_id
from executor.core.constants import CONDITION_SUCCESS, DELIVERY_QUEUE, INVOCATION_QUEUE
from executor.core.events import build_event
from executor.core.invocation import ClaimState, Status
from executor.runtime.celery.app import FunctionApp
from executor.runtime.lifecycle import Ending
from executor.state.keys import OUTBOX, children_key, shard_of, sharded_for
from executor.state.writes import Finish
from tests.support.invocations import queued, route

pytestmark = pytest.mark.integration


def _app(settings: Any) -> FunctionApp:
    app = FunctionApp(settings)
    for name in ("first", "second", "third"):
        app.function(name)(lambda event, context: None)
    return app


def _urn(app: FunctionApp, request_id: str) -> str:
    return app.client.get_invocation(request_id).function_urn


def _end(app: FunctionApp, request_id: str) -> bool:
    """End ``first``'s invocation SUCCESS as its task would."""
    record = app.client.get_invocation(request_id)
    event = build_event(
        request_id=request_id,
        function_urn=record.function_urn,
        enqueued_at=record.enqueued_at,
        condition=CONDITION_SUCCESS,
        invoke_count=1,
        request_payload=record.payload,
        response_payload={"ok": 1},
    )
    return app.lifecycle.settle(
        Ending(
            request_id=request_id,
            urn=record.function_urn,
            status=Status.SUCCESS,
            condition=CONDITION_SUCCESS,
            chain=record.chain,
            event=lambda: event,
        )
    )


def _clear(rdb: redis.Redis) -> None:
    """Empty every invocation queue (the source's message is not part of what is checked)."""
    for queue in rdb.scan_iter(match=f"{INVOCATION_QUEUE}*", _type="list"):
        rdb.delete(queue)


def _queued(rdb: redis.Redis, queue: str) -> list[dict[str, Any]]:
    found = []
    for raw in rdb.lrange(queue, 0, -1):
        message = json.loads(raw)
        message["body"] = json.loads(base64.b64decode(message["body"]))
        found.append(message)
    return found


@pytest.mark.parametrize("ends", [1, 3])
def test_hop_ends_source_and_starts_target_once(settings, rdb, ends):
    app = _app(settings)
    route(app.client, "first", success="second")
    source = app.client.invoke_async("first", {"n": ends})
    _clear(rdb)
    assert app.lifecycle.claim(source, _urn(app, source), 0).state is ClaimState.RUN
    won = [_end(app, source) for _ in range(ends)]
    assert won == [True] + [False] * (ends - 1)

    target = target_request_id(f"{source}:success")
    assert queued(rdb) == 1
    [message] = _queued(rdb, app.client.lookup(app.client.resolve("second")).queue)
    assert message["headers"]["id"] == target
    assert message["body"][1]["origin"] == source
    assert message["body"][1]["chain"] == [app.client.resolve("first").function]
    record = app.client.get_invocation(target)
    assert record.status is Status.WAIT
    assert record.payload["response_payload"] == {"ok": 1}
    assert record.payload["request_context"]["request_id"] == source
    [delivery] = app.client.get_invocation(source).deliveries
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert rdb.zscore(sharded_for(OUTBOX, source), source) is None
    assert rdb.llen(DELIVERY_QUEUE) == 0
    # The target is the source's child, as any invocation it starts: a recursive cancel finds it.
    assert rdb.smembers(children_key(source, shard_of(target))) == {target}


def test_hop_to_a_target_that_exists_takes_the_usual_way(settings, rdb):
    app = _app(settings)
    route(app.client, "first", success="second")
    source = app.client.invoke_async("first", {"n": 1})
    target = target_request_id(f"{source}:success")
    # As if an earlier attempt had made the target already, another way.
    app.client.invoke_async("second", {"other": 1}, request_id=target)
    _clear(rdb)
    app.lifecycle.claim(source, _urn(app, source), 0)
    assert _end(app, source) is True
    assert app.client.get_invocation(source).status is Status.SUCCESS
    assert queued(rdb) == 0
    assert app.client.get_invocation(target).payload == {"other": 1}


def test_hop_to_an_unknown_function_takes_the_delivery_task(settings, rdb):
    app = _app(settings)
    app.client.put_async_config(
        "first",
        {
            "destination_config": {
                "on_success": {
                    "destination": "FunctionGraph",
                    "param": {"func_urn": str(app.client.resolve("nobody-has-this"))},
                }
            }
        },
    )
    source = app.client.invoke_async("first", {"n": 1})
    _clear(rdb)
    app.lifecycle.claim(source, _urn(app, source), 0)
    assert _end(app, source) is True
    assert queued(rdb) == 0
    [job] = _queued(rdb, DELIVERY_QUEUE)
    assert job["headers"]["id"] == f"{source}:success"


def test_a_hop_the_guard_refuses_is_left_to_the_delivery_task(settings, rdb):
    app = _app(settings.model_copy(update={"max_chain_depth": 1}))
    route(app.client, "first", success="second")
    source = app.client.invoke_async("first", {"n": 1}, chain=())
    _clear(rdb)
    app.lifecycle.claim(source, _urn(app, source), 0)
    assert _end(app, source) is True
    assert queued(rdb) == 0
    # The delivery task refuses the call (and records it dropped) as for any other route.
    [job] = _queued(rdb, DELIVERY_QUEUE)
    assert job["headers"]["id"] == f"{source}:success"
    [delivery] = app.client.get_invocation(source).deliveries
    assert delivery.state == "pending"


def test_held_connection_gives_way_to_the_normal_client(settings, rdb):
    app = _app(settings)
    store = app.engine.store
    first = app.client.invoke_async("first", {"n": 1})
    second = app.client.invoke_async("first", {"n": 2})
    assert (
        store.transitions.claim(first, _urn(app, first), 0, time.time(), 3).payload_json
        == '{"n":1}'
    )
    held = store.transitions._held._connection
    assert held is not None
    host, port = held._sock.getsockname()[:2]
    assert rdb.client_kill(f"{host}:{port}")
    claim = store.transitions.claim(second, _urn(app, second), 0, time.time(), 3)
    assert (claim.state, claim.attempts, claim.payload_json) == (ClaimState.RUN, 1, '{"n":2}')
    assert store.transitions._held._connection is None
    rdb.script_flush()
    assert store.transitions.finish(
        Finish(request_id=second, urn="u", status=Status.SUCCESS, now=time.time(), retention=60)
    )
    assert app.client.get_invocation(second).status is Status.SUCCESS


def test_threads_sharing_a_store_each_get_their_own_answer(settings):
    app = _app(settings)
    store = app.engine.store
    ids = [app.client.invoke_async("first", {"n": n}) for n in range(120)]
    urn = _urn(app, ids[0])
    answers: dict[str, str] = {}

    def claim(part: list[str]) -> None:
        for rid in part:
            answers[rid] = store.transitions.claim(rid, urn, 0, time.time(), 3).payload_json

    threads = [threading.Thread(target=claim, args=(ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {
        rid: json.dumps({"n": n}, separators=(",", ":")) for n, rid in enumerate(ids)
    }
