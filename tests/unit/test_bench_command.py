"""The bench command refuses a report path it cannot write before it measures anything."""

from __future__ import annotations

from pathlib import Path

from executor.ops.bench.command import _report_folder
from tests.support.cli import invoke


def test_a_report_path_below_a_file_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    answer = invoke(["bench", "--json", str(tmp_path / "taken" / "r.json")])
    assert answer.exit_code == 2
    assert "--json" in answer.output
    assert "Traceback" not in answer.output


def test_the_folder_of_a_report_is_made_first(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "r.json"
    _report_folder(path)
    assert path.parent.is_dir()
    assert not path.exists()
