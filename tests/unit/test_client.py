"""The producer API over fakeredis: refusals write nothing, the guard counts drops, cancel, pages."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable

import pytest

from executor import Client
from executor.core.agency import Agencies
from executor.core.constants import INVOKE_TASK_PREFIX
from executor.core.errors import (
    AccessDenied,
    AgencyFileInvalid,
    ConfigNotFound,
    CycleDetected,
    FunctionNotFound,
    InvalidParameter,
    InvocationNotFound,
    PayloadTooLarge,
)
from executor.core.guard import ChainBroken
from executor.core.invocation import Status
from executor.state import keys
from tests.support.names import fg, urn
from tests.support.stubs import RecordingCelery


def function(name: str) -> str:
    """How a call chain names a function: its URN without the qualifier."""
    return urn(name).rsplit(":", 1)[0]


def publish(fake_client: Client, *urns: str) -> None:
    """Catalogue entries, as workers publish them, for functions this process does not define."""
    fake_client.store.catalogue.publish(
        {u: json.dumps({"urn": u, "task": f"t.{u}", "queue": "q"}) for u in urns}
    )


def test_invoke_records_and_sends_one_task_message(
    fake_client: Client, celery: RecordingCelery
) -> None:
    rid = fake_client.invoke_async("hello", {"n": 1}, request_id="given-id")
    assert rid == "given-id"
    [(task, options)] = celery.sent
    assert task == f"{INVOKE_TASK_PREFIX}default:hello:latest"
    assert (options["task_id"], options["queue"], options["retries"]) == (rid, "q-hello", 0)
    # The record keeps the payload; the message goes without it.
    assert "payload" not in options["kwargs"]
    assert options["kwargs"]["in_record"] is True
    assert fake_client.get_invocation(rid).payload == {"n": 1}
    assert options["kwargs"]["urn"] == urn("hello")
    assert fake_client.get_invocation(rid).status is Status.WAIT


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        ({"x": {1, 2}}, InvalidParameter, "must be JSON"),
        (float("nan"), InvalidParameter, "must be JSON"),
        ("x" * 2000, PayloadTooLarge, "above the limit of 1000"),
        ({"n": [10**5000]}, InvalidParameter, r"number at n\[0\] has more than 4300 digits"),
    ],
    ids=["set", "nan", "too-large", "5000-digit-int"],
)
def test_refused_payloads_write_and_send_nothing(
    make_client: Callable[..., Client],
    celery: RecordingCelery,
    fake_redis,
    payload: object,
    error: type[Exception],
    words: str,
) -> None:
    fake_client = make_client(payload_limit=1000)
    with pytest.raises(error, match=words):
        fake_client.invoke_async("hello", payload)
    assert celery.sent == []
    assert fake_redis.keys("*") == []


def test_a_payload_at_the_limit_is_accepted(make_client: Callable[..., Client]) -> None:
    payload = "x" * 998  # two quotes make it 1000 bytes of JSON
    assert make_client(payload_limit=1000).invoke_async("hello", payload)


def test_an_unknown_function_is_refused_with_what_to_do(fake_client: Client, fake_redis) -> None:
    with pytest.raises(FunctionNotFound, match="start a worker that imports"):
        fake_client.invoke_async("nobody", {})
    assert fake_redis.keys("*") == []


def test_a_function_a_worker_published_is_routed_by_its_catalogue_entry(
    fake_client: Client, celery: RecordingCelery
) -> None:
    entry = {"urn": urn("remote"), "task": "t.remote", "queue": "q-remote"}
    fake_client.store.catalogue.publish({urn("remote"): json.dumps(entry)})
    fake_client.invoke_async("remote", 1)
    [(task, options)] = celery.sent
    assert (task, options["queue"]) == ("t.remote", "q-remote")


@pytest.mark.parametrize(
    ("chain", "depth", "words"),
    [
        ((function("hello"),), 16, "re-enters " + function("hello")),
        (
            (function("a"), function("hello"), function("b")),
            16,
            " -> ".join(function(n) for n in ("a", "hello", "b", "hello")),
        ),
        ((function("a"), function("b"), function("c")), 3, "4 calls deep, over the maximum of 3"),
    ],
)
def test_a_call_the_guard_refuses_is_counted_on_its_origin(
    make_client: Callable[..., Client],
    celery: RecordingCelery,
    chain: tuple[str, ...],
    depth: int,
    words: str,
) -> None:
    fake_client = make_client(max_chain_depth=depth)
    parent = fake_client.invoke_async("next", {})
    with pytest.raises(ChainBroken, match=re.escape(words)):
        fake_client.invoke_async("hello", {}, chain=chain, origin=parent)
    assert len(celery.sent) == 1
    record = fake_client.get_invocation(parent)
    assert record.cycle_drops == 1
    assert record.history[-1].note.startswith(f"dropped call to {urn('hello')}: call dropped")
    assert fake_client.store.scans.stats()["cycle_drops"] == 1


def test_a_chain_within_the_depth_passes(make_client: Callable[..., Client]) -> None:
    fake_client = make_client(max_chain_depth=3)
    rid = fake_client.invoke_async("hello", {}, chain=("a", "b"))
    assert fake_client.get_invocation(rid).chain == ("a", "b")


# -- status and cancel ---------------------------------------------------------------------------


def test_an_unknown_request_id_is_not_found(fake_client: Client) -> None:
    with pytest.raises(InvocationNotFound, match="passed its retention"):
        fake_client.get_invocation("nope")


def test_cancel_discards_a_waiting_invocation_and_revokes_it(
    fake_client: Client, celery: RecordingCelery
) -> None:
    rid = fake_client.invoke_async("hello", {})
    ended = fake_client.cancel(rid)
    assert (ended.status, ended.error_code) == (Status.DISCARD, "Cancelled")
    [(revoked, options)] = celery.revoked
    assert (revoked, options["terminate"]) == ([rid], False)
    with pytest.raises(InvalidParameter, match="already ended with status DISCARD"):
        fake_client.cancel(rid)


def test_cancel_of_a_running_invocation_needs_force(
    fake_client: Client, celery: RecordingCelery
) -> None:
    rid = fake_client.invoke_async("hello", {})
    fake_client.engine.lifecycle.claim(rid, urn("hello"), 0)
    with pytest.raises(InvalidParameter, match="cancel with force"):
        fake_client.cancel(rid)
    assert fake_client.get_invocation(rid).status is Status.RUNNING
    assert fake_client.cancel(rid, force=True).error_message == "cancelled by request (forced)"
    assert celery.revoked[-1][1]["terminate"] is True


def test_listing_pages_newest_first_and_filters_by_status(fake_client: Client) -> None:
    ids = [fake_client.invoke_async("hello", n, request_id=f"r{n}") for n in range(7)]
    for rid in ids[::2]:
        fake_client.cancel(rid)
    first = fake_client.list_invocations("hello", limit=3)
    assert [i.request_id for i in first.invocations] == ["r6", "r5", "r4"]
    second = fake_client.list_invocations("hello", limit=3, marker=first.next_marker)
    third = fake_client.list_invocations("hello", limit=3, marker=second.next_marker)
    assert [i.request_id for i in second.invocations + third.invocations] == [
        "r3",
        "r2",
        "r1",
        "r0",
    ]
    assert third.next_marker is None
    waiting = fake_client.list_invocations("hello", status="wait")
    assert [i.request_id for i in waiting.invocations] == ["r5", "r3", "r1"]
    discarded = fake_client.list_invocations("hello", status=Status.DISCARD, limit=2)
    assert [i.request_id for i in discarded.invocations] == ["r6", "r4"]
    assert discarded.next_marker is not None


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"limit": 0}, "between 1 and 500"),
        ({"limit": 501}, "between 1 and 500"),
        ({"marker": "abc"}, "marker must be the next_marker of a previous page"),
        ({"marker": "-1"}, "marker must be the next_marker of a previous page"),
        ({"status": "DONE"}, "status must be one of WAIT, RUNNING"),
    ],
)
def test_listing_refuses_bad_arguments(fake_client: Client, kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidParameter, match=words):
        fake_client.list_invocations("hello", **kwargs)


# -- async configs -------------------------------------------------------------------------------


def test_configs_round_trip_through_the_client(fake_client: Client, fake_redis) -> None:
    publish(fake_client, urn("hello", "v1"))
    stored = fake_client.put_async_config("hello:v1", {"max_async_retry_attempts": 0})
    assert (stored.func_urn, stored.max_async_retry_attempts) == (urn("hello", "v1"), 0)
    again = fake_client.put_async_config("hello:v1", {"max_async_retry_attempts": 2})
    assert again.created_time == stored.created_time
    assert fake_client.get_async_config("hello:v1").max_async_retry_attempts == 2
    assert fake_redis.sismember(keys.CONFIGS, urn("hello", "v1"))
    fake_client.delete_async_config("hello:v1")
    with pytest.raises(ConfigNotFound, match="config put"):
        fake_client.get_async_config("hello:v1")
    with pytest.raises(ConfigNotFound):
        fake_client.delete_async_config("hello:v1")


def test_a_config_naming_every_bad_field_is_refused_and_not_stored(fake_client: Client) -> None:
    with pytest.raises(InvalidParameter) as refused:
        fake_client.put_async_config(
            "hello", {"max_async_retry_attempts": 9, "max_async_event_age_in_seconds": 0}
        )
    assert "max_async_retry_attempts" in refused.value.message
    assert "max_async_event_age_in_seconds" in refused.value.message
    assert refused.value.fields == {
        "max_async_retry_attempts": "Input should be less than or equal to 3",
        "max_async_event_age_in_seconds": "Input should be greater than or equal to 1",
    }
    assert fake_client.configs.all() == {}


def test_a_bad_param_is_named_by_its_own_field(fake_client: Client) -> None:
    bad = {"destination": "OBS", "param": {"bucket": "No", "expires": 400}}
    ok = {"destination": "DIS", "param": {"stream_name": "s"}}
    with pytest.raises(InvalidParameter) as refused:
        fake_client.put_async_config(
            "next", {"destination_config": {"on_success": ok, "on_failure": bad}}
        )
    assert "param of OBS is invalid: bucket: Value error, bucket must be" in refused.value.message
    assert refused.value.fields == {
        "destination_config.on_failure.param.bucket": "bucket must be 3-63 lowercase letters, "
        "digits, '.' or '-'",
        "destination_config.on_failure.param.expires": "Input should be less than or equal to 365",
    }


@pytest.mark.parametrize("length", [1, 2, 3, 5])
def test_a_destination_that_closes_a_cycle_is_refused(fake_client: Client, length: int) -> None:
    names = [f"f{i}" for i in range(length)]
    publish(fake_client, *(urn(n) for n in names))
    for source, target in itertools.pairwise(names):
        fake_client.put_async_config(source, {"destination_config": {"on_success": fg(target)}})
    cycle = " -> ".join(function(n) for n in [names[-1], *names])
    elsewhere = fg("outside")
    with pytest.raises(CycleDetected, match=re.escape(cycle)) as refused:
        fake_client.put_async_config(
            names[-1],
            {"destination_config": {"on_success": elsewhere, "on_failure": fg(names[0])}},
        )
    assert refused.value.fields == {
        "destination_config.on_failure.param.func_urn": refused.value.message
    }
    assert refused.value.cycle == tuple(function(n) for n in [names[-1], *names])
    assert urn(names[-1]) not in fake_client.configs.all()


def test_config_listing_pages_every_version(fake_client: Client) -> None:
    publish(fake_client, *(urn("hello", v) for v in ("v1", "v2", "v3")))
    for version in ("v1", "v2", "v3"):
        fake_client.put_async_config(f"hello:{version}", {})
    page = fake_client.list_async_configs("hello", limit=2)
    assert [c.func_urn for c in page.async_invoke_configs] == [
        urn("hello", "v1"),
        urn("hello", "v2"),
    ]
    assert page.count == 3
    assert page.page_info == {"next_marker": 2, "previous_marker": None, "current_count": 2}
    rest = fake_client.list_async_configs("hello", marker="2", limit=2)
    assert rest.page_info == {"next_marker": None, "previous_marker": 0, "current_count": 1}
    for bad in ({"limit": 0}, {"marker": "x"}, {"marker": "-2"}):
        with pytest.raises(InvalidParameter):
            fake_client.list_async_configs("hello", **bad)  # type: ignore[arg-type]


def test_an_alias_cannot_carry_a_config(fake_client: Client) -> None:
    with pytest.raises(InvalidParameter, match="alias"):
        fake_client.put_async_config("hello:!prod", {})


# -- agencies ------------------------------------------------------------------------------------

OBS = {"destination": "OBS", "param": {"bucket": "results"}}


def test_a_destination_the_agency_does_not_grant_is_refused(
    make_client: Callable[..., Client], tmp_path
) -> None:
    path = tmp_path / "agencies.toml"
    path.write_text("[agencies.writer.dis]\n")
    fake_client = make_client(agencies=Agencies.read(str(path)))
    with pytest.raises(AccessDenied, match="Agency 'writer' does not grant OBS") as refused:
        fake_client.put_async_config("hello", {"destination_config": {"on_success": OBS}})
    assert refused.value.fields == {
        "destination_config.on_success.destination": refused.value.message
    }
    with pytest.raises(AccessDenied, match="The function names no agency"):
        fake_client.put_async_config("next", {"destination_config": {"on_success": OBS}})
    assert fake_client.configs.all() == {}
    dis = {"destination": "DIS", "param": {"stream_name": "s"}}
    assert fake_client.put_async_config("hello", {"destination_config": {"on_success": dis}})


def test_an_agency_missing_from_the_file_is_refused(
    make_client: Callable[..., Client], tmp_path
) -> None:
    path = tmp_path / "agencies.toml"
    path.write_text("[agencies.other.obs]\n")
    fake_client = make_client(agencies=Agencies.read(str(path)))
    with pytest.raises(
        AccessDenied, match=f"Agency 'writer' is not defined in the agency file {path}"
    ):
        fake_client.put_async_config("hello", {"destination_config": {"on_success": OBS}})


def test_a_missing_agency_file_is_refused_at_start(make_client: Callable[..., Client]) -> None:
    with pytest.raises(AgencyFileInvalid, match=r"cannot read the agency file /nonexistent\.toml"):
        make_client(agency_file="/nonexistent.toml")
