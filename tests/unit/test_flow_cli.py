"""``executor flow`` in-process on fakeredis: put, get, pause and resume print the stored flow
config as JSON; a bad value exits non-zero with a message saying what to do."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result

from executor import Client
from executor.cli import flow
from executor.state.keys import FLOWS
from tests.support.cli import invoke as cli_invoke
from tests.support.names import urn

HELLO = urn("hello")


@pytest.fixture
def run(fake_client: Client, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``executor flow ...`` with the fakeredis client in place of one from the settings."""
    monkeypatch.setattr(flow, "client_for", lambda app: fake_client)

    def invoke(*args: str, ok: bool = True) -> Result:
        result = cli_invoke(["flow", *args])
        assert (result.exit_code == 0) == ok, (result.stdout, result.stderr)
        return result

    return invoke


def test_put_get_pause_and_resume_print_the_stored_flow_config(
    run: Callable[..., Result], fake_client: Client
) -> None:
    put = json.loads(
        run(
            "put", "hello", "--max-instances", "5", "--rate", "2.5", "--recursive-loop", "Allow"
        ).stdout
    )
    assert put["func_urn"] == HELLO
    assert put["flow"] == {
        "max_instances": 5,
        "rate_per_second": 2.5,
        "recursive_loop": "Allow",
        "paused_from": None,
    }
    assert put["last_modified"]
    assert json.loads(run("get", "hello").stdout) == put
    assert fake_client.get_flow_config(HELLO).model_dump(mode="json") == put

    paused = json.loads(run("pause", "hello").stdout)
    assert (paused["flow"]["max_instances"], paused["flow"]["paused_from"]) == (0, 5)
    resumed = json.loads(run("resume", "hello").stdout)
    assert resumed["flow"] == put["flow"]


def test_put_changes_only_the_options_given_and_no_rate_removes_the_rate(
    run: Callable[..., Result],
) -> None:
    run("put", "hello", "--max-instances", "3", "--rate", "7")
    kept = json.loads(run("put", "hello", "--recursive-loop", "Allow").stdout)["flow"]
    assert (kept["max_instances"], kept["rate_per_second"], kept["recursive_loop"]) == (
        3,
        7.0,
        "Allow",
    )
    removed = json.loads(run("put", "hello", "--no-rate").stdout)["flow"]
    assert removed["rate_per_second"] is None
    assert removed["max_instances"] == 3
    unlimited = json.loads(run("put", "hello", "--max-instances", "-1").stdout)["flow"]
    assert unlimited["max_instances"] == -1


def test_get_of_a_function_without_a_stored_config_prints_the_defaults(
    run: Callable[..., Result], fake_client: Client
) -> None:
    shown = json.loads(run("get", "next").stdout)
    assert shown["flow"]["max_instances"] == -1
    assert shown["last_modified"] == ""
    assert fake_client.store.redis.hlen(FLOWS) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("put", "hello", "--max-instances", "-2"), "max_instances: Input should be greater"),
        (("put", "hello", "--rate", "0"), "rate_per_second: Input should be greater"),
        (("put", "hello", "--rate", "nan"), "rate_per_second: Input should be a finite number"),
        (("put", "hello", "--rate", "20000"), "rate_per_second: Input should be less"),
        (("put", "hello", "--rate", "3", "--no-rate"), "give --rate or --no-rate, not both"),
        (("put", "hello"), "give --max-instances, --rate, --no-rate or --recursive-loop"),
        (("put", "hello:!prod", "--max-instances", "2"), "use 'latest' or a version"),
        (("put", "ghost", "--max-instances", "2"), "start a worker that imports the module"),
        (("pause", "ghost"), "FSS.1051"),
    ],
)
def test_a_bad_value_exits_1_with_what_to_do_and_changes_nothing(
    run: Callable[..., Result], fake_client: Client, args: tuple[str, ...], words: str
) -> None:
    fake_client.put_flow_config(HELLO, max_instances=4)
    before = fake_client.get_flow_config(HELLO)
    refused = run(*args, ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error FSS.")
    assert words in refused.stderr
    assert refused.stdout == ""
    assert fake_client.get_flow_config(HELLO) == before
    assert fake_client.store.redis.hlen(FLOWS) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("put", "hello", "--max-instances", "many"), "'--max-instances': Input should be"),
        (("put", "hello", "--recursive-loop", "Forbid"), "is not one of 'Terminate', 'Allow'"),
    ],
)
def test_a_value_of_the_wrong_kind_is_a_usage_error(
    run: Callable[..., Result], fake_client: Client, args: tuple[str, ...], words: str
) -> None:
    refused = run(*args, ok=False)
    assert refused.exit_code == 2
    # The message is drawn in a box: read it without the borders and the line breaks.
    assert words in " ".join(refused.stderr.replace("│", " ").split())
    assert fake_client.store.redis.hlen(FLOWS) == 0
