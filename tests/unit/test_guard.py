"""The call-chain guard: one hop per call, the depth limit, re-entry, and cycles of any length."""

from __future__ import annotations

import pytest

from executor.core.errors import CycleDetected, InvalidParameter
from executor.core.guard import ChainBroken, check_call, find_cycle, hop, refuse_cycle


def test_hop_appends_the_caller_once_and_leaves_the_chain_alone() -> None:
    chain = ("a", "b")
    assert hop(chain, "c") == ("a", "b", "c")
    assert hop((), "a") == ("a",)
    assert chain == ("a", "b")
    assert hop(["x"], "y") == ("x", "y")


@pytest.mark.parametrize("depth", [1, 2, 5, 16])
def test_a_chain_may_grow_to_exactly_the_maximum_depth(depth: int) -> None:
    chain: tuple[str, ...] = ()
    for n in range(depth - 1):
        check_call(chain, f"f{n + 1}", depth)
        chain = hop(chain, f"f{n}")
    assert len(chain) == depth - 1
    check_call(chain, "last", depth)
    with pytest.raises(
        ChainBroken, match=f"would be {depth + 1} calls deep, over the maximum of {depth}"
    ):
        check_call((*chain, "last"), "beyond", depth)


@pytest.mark.parametrize(
    ("chain", "target"),
    [(("a",), "a"), (("a", "b"), "a"), (("a", "b", "c"), "b"), (("x", "y", "z"), "z")],
)
def test_re_entering_any_function_of_the_chain_is_refused(
    chain: tuple[str, ...], target: str
) -> None:
    with pytest.raises(ChainBroken) as refused:
        check_call(chain, target, 100)
    assert " -> ".join([*chain, target]) in refused.value.message
    assert f"re-enters {target}" in refused.value.message


def test_re_entry_is_named_before_depth() -> None:
    with pytest.raises(ChainBroken, match="re-enters a"):
        check_call(("a", "b"), "a", 1)


def test_a_broken_chain_is_an_invalid_parameter() -> None:
    assert issubclass(ChainBroken, InvalidParameter)
    assert ChainBroken("x").http_status == 400


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7])
def test_a_cycle_of_any_length_is_found_and_named(length: int) -> None:
    names = [f"n{i}" for i in range(length)]
    edges = {names[i]: {names[(i + 1) % length]} for i in range(length)}
    edges["outside"] = {names[0]}
    assert find_cycle(edges, names[0]) == [*names, names[0]]
    assert find_cycle(edges, "outside") is None
    with pytest.raises(CycleDetected, match=" -> ".join([*names, names[0]])):
        refuse_cycle(edges, names[0])


def test_branches_and_shared_descendants_are_not_cycles() -> None:
    edges = {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": {"e"}}
    for start in edges:
        assert find_cycle(edges, start) is None
        refuse_cycle(edges, start)


def test_a_cycle_that_does_not_pass_the_start_is_not_its_problem() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"b"}}
    assert find_cycle(edges, "a") is None
    assert find_cycle(edges, "b") == ["b", "c", "b"]


def test_the_cycle_is_found_through_a_branch() -> None:
    edges = {"a": {"x", "b"}, "x": set(), "b": {"c"}, "c": {"a"}}
    assert find_cycle(edges, "a") == ["a", "b", "c", "a"]
