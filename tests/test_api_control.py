"""Invocation control over HTTP: Idempotency-Key, X-Executor-Delay and recursive cancel,
with requests signed by the official SDK's signer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from executor import Client, Settings
from executor.core.catalogue import CatalogueEntry, task_name
from executor.core.constants import INVOCATION_QUEUE
from executor.core.urn import parse_urn
from executor.state.keys import DUE, record_key, sharded_for
from tests.support.api_server import AUTH, HELLO, PROJECT, ApiServer, Signed, refused
from tests.support.invocations import queued
from tests.support.services import RedisServer

pytestmark = pytest.mark.integration


def invoke(api: ApiServer, event: Any, **headers: str) -> httpx.Response:
    body = json.dumps(event).encode()
    return Signed(api).send("POST", "invocations-async", body=body, headers=headers)


def test_idempotency_key_answers_the_same_id_and_409_for_another_payload(
    api: ApiServer, clean: None, rdb: Any
) -> None:
    first = invoke(api, {"name": "a"}, **{"Idempotency-Key": "invoice-2026-001"})
    assert first.status_code == 202, first.text
    assert first.json() == {"request_id": "invoice-2026-001"}
    # The structured-field form of the header (a quoted string) names the same id.
    again = invoke(api, {"name": "a"}, **{"Idempotency-Key": '"invoice-2026-001"'})
    assert (again.status_code, again.json()) == (202, {"request_id": "invoice-2026-001"})
    assert queued(rdb) == 1

    message = refused(
        invoke(api, {"name": "b"}, **{"Idempotency-Key": "invoice-2026-001"}),
        409,
        "FSS.1409",
        "invoice-2026-001",
    )
    assert f"{HELLO} (WAIT) with another payload" in message
    other_function = httpx.post(
        api.path("sink", "invocations-async"),
        headers={**AUTH, "Idempotency-Key": "invoice-2026-001"},
        json={"name": "a"},
    )
    message = refused(other_function, 409, "FSS.1409", "another function")
    assert "hello" not in message  # another function's name is not shown
    assert queued(rdb) == 1
    refused(invoke(api, {}, **{"Idempotency-Key": "no spaces"}), 400, "FSS.0400", "request id")


@pytest.mark.parametrize("delay", ["0", "2.5", "3600"])
def test_delay_header_records_the_due_time(
    api: ApiServer, clean: None, rdb: Any, delay: str
) -> None:
    accepted = invoke(api, {"name": "later"}, **{"X-Executor-Delay": delay})
    assert accepted.status_code == 202, accepted.text
    rid = accepted.json()["request_id"]
    record = rdb.hgetall(record_key(rid))
    assert record["status"] == "WAIT"
    if float(delay):
        due = float(record["due_at"])
        assert due == pytest.approx(float(record["enqueued_at"]) + float(delay))
        assert rdb.zscore(sharded_for(DUE, rid), rid) == pytest.approx(due)
        assert queued(rdb) == 0
    else:
        assert "due_at" not in record
        assert queued(rdb) == 1


@pytest.mark.parametrize("delay", ["-1", "3601", "soon", "nan"])
def test_a_bad_delay_is_400_and_nothing_is_written(
    api: ApiServer, clean: None, rdb: Any, delay: str
) -> None:
    refused(invoke(api, {}, **{"X-Executor-Delay": delay}), 400, "FSS.0400", "3600")
    assert rdb.dbsize() == 0


def test_cancel_types_plain_recursive_and_force(
    api: ApiServer, clean: None, redis_server: RedisServer
) -> None:
    producer = Client(Settings(broker_url=redis_server.url, project_id=PROJECT))
    entry = CatalogueEntry(
        urn=HELLO, task=task_name(parse_urn(HELLO, region="", project="")), queue=INVOCATION_QUEUE
    )
    producer.store.catalogue.publish({HELLO: entry.model_dump_json()})

    def tree() -> tuple[str, set[str]]:
        root = invoke(api, {"node": "root"}, **{"X-Executor-Delay": "600"}).json()["request_id"]
        child = producer.invoke_async(HELLO, {"node": "child"}, delay=600, origin=root)
        grandchild = producer.invoke_async(HELLO, {"node": "g"}, delay=600, origin=child)
        return root, {root, child, grandchild}

    def cancel(root: str, kind: str | None) -> httpx.Response:
        body = {"request_id": root} | ({"type": kind} if kind else {})
        return Signed(api).send("POST", "cancel", body=json.dumps(body).encode())

    root, _ = tree()
    plain = cancel(root, None)
    assert plain.status_code == 200, plain.text
    assert plain.json()["cancelled"] == [root]
    assert plain.json()["status"] == "DISCARD"
    for kind in ("recursive", "force"):
        root, everyone = tree()
        answer = cancel(root, kind)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cancelled"][0] == root
        assert set(answer.json()["cancelled"]) == everyone
        assert {producer.get_invocation(r).status.value for r in everyone} == {"DISCARD"}
    refused(cancel(root, "recursive"), 400, "FSS.0400", "nothing to cancel")
