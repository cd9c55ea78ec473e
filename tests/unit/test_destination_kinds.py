"""Each destination kind is found by its name, imported on its first delivery."""

from __future__ import annotations

import pytest

import destinations
from executor.core.params import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_loads_the_class_of_that_kind(kind: str) -> None:
    found = destinations.get(kind)
    assert found.kind == kind
    assert destinations.get(kind) is found
