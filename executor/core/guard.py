"""The call-chain guard: no invocation may re-enter a function already in its chain.

Two checks share one idea. At configuration time, a FunctionGraph destination that closes a
loop in the graph of stored destinations is refused. At run time, every invocation carries the
functions that led to it; a call that would revisit one of them, or go deeper than the maximum,
is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from executor.core.errors import CycleDetected, InvalidParameter


class ChainBroken(InvalidParameter):
    """A call was dropped because it would loop or pass the maximum chain depth."""


def hop(chain: Sequence[str], function: str) -> tuple[str, ...]:
    """The chain of a call made by an invocation of ``function`` whose own chain is ``chain``.

    Every hop (a FunctionGraph destination, ``context.invoke_async``) extends the chain here and
    nowhere else, by the calling function without its qualifier, so each hop counts once.
    """
    return (*chain, function)


def check_call(chain: Sequence[str], target: str, max_depth: int) -> None:
    """Raise ``ChainBroken`` if ``target`` (a function without qualifier) may not run next."""
    if target in chain:
        path = " -> ".join([*chain, target])
        raise ChainBroken(
            f"call dropped: {path} re-enters {target}, which is already running in this chain"
        )
    if len(chain) + 1 > max_depth:
        raise ChainBroken(
            f"call dropped: the chain would be {len(chain) + 1} calls deep, over the maximum "
            f"of {max_depth} (EXECUTOR_MAX_CHAIN_DEPTH)"
        )


def find_cycle(edges: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """A path ``start -> ... -> start`` through ``edges``, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def refuse_cycle(edges: Mapping[str, Iterable[str]], start: str) -> None:
    cycle = find_cycle(edges, start)
    if cycle is not None:
        raise CycleDetected(
            "this FunctionGraph destination closes a cycle: "
            + " -> ".join(cycle)
            + "; an asynchronous call would loop forever. Point the destination elsewhere "
            "or remove the destination that leads back.",
            cycle=cycle,
        )
