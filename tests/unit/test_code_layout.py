"""Rules of the code's layout that import-linter cannot check: no module outside the Celery seam
names Celery, kombu or billiard (not even for type checking, which the contract leaves out), and
no product module grows past 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "executor", ROOT / "destinations"]
SEAM = ROOT / "executor" / "runtime" / "celery"
BROKER_CLIENT = {"celery", "kombu", "billiard"}
MAX_LINES = 300


def _modules() -> list[Path]:
    return sorted(path for root in PRODUCT for path in root.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_seam_imports_celery_kombu_or_billiard() -> None:
    outside = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & BROKER_CLIENT)
        for path in _modules()
        if SEAM not in path.parents
    }
    assert {name: found for name, found in outside.items() if found} == {}
    assert any(_imported(path) & BROKER_CLIENT for path in SEAM.glob("*.py"))


def test_no_product_module_is_over_300_lines() -> None:
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in _modules()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
