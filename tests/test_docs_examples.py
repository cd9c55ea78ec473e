"""The code blocks of the documentation run, so an example that drifts from the code fails here.

The convention (docs/contributing.md shows it to writers):

- It covers docs/getting-started.md and every page of docs/guides/.
- Every fenced block in ``python``, ``sh`` or ``bash`` runs. A page's blocks run in page order
  as one bash script (``set -euo pipefail``) in a fresh scratch directory: a ``sh``/``bash``
  block as it is, a ``python`` block as ``python - <<EOF``. So a later block sees the files,
  variables and background processes (``executor worker ... &``) of the earlier ones.
- A block with ``title="NAME"`` in its fence (``python title="orders.py"``, ``toml
  title="agencies.toml"``) is not run: its text is written to the file NAME, at its place in
  the page. Material shows the name above the block.
- A block marked ``{.skip}`` (```` ```sh {.skip} ````) is neither run nor written: use it for
  what needs something the test has not (a cloud account, a cluster, a placeholder such as
  ``<request_id>``, the repository's own make targets).
- Blocks in any other language (``json``, ``toml``, ``text``) are data or output and don't run.
- The script gets a private redis-server as ``EXECUTOR_BROKER_URL`` (pages never set it in a
  block that runs), the project's ``.venv/bin`` first on ``PATH``, ``EXECUTOR_RECONCILE_INTERVAL``
  of 1 s, and whatever it starts in the background is ended with its process group. Wait for an
  outcome with ``executor invocations watch ID --timeout N``, not with ``sleep``.
- A command meant to fail is written ``command || echo "..."``: the page shows the refusal and
  the script goes on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from executor.ops.servers import RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RUNS = {"python", "sh", "bash"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>.*)$")
END = "EXECUTOR_DOCS_BLOCK"


@dataclass(frozen=True)
class Block:
    language: str
    title: str | None
    skip: bool
    text: str
    line: int


def pages() -> list[Path]:
    return [DOCS / "getting-started.md", *sorted((DOCS / "guides").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the language, title and skip mark of each fence."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index].removeprefix(indent))
            index += 1
        index += 1
        language = info.split()[0].lstrip("{.") if info else ""
        language = language.rstrip("}")
        title = re.search(r'title="([^"]+)"', info)
        found.append(
            Block(
                language=language,
                title=title.group(1) if title else None,
                skip=bool(re.search(r"\{[^}]*\.skip\b", info)),
                text="\n".join(body),
                line=index - len(body) - 1,
            )
        )
    return found


def script(page: Path) -> str | None:
    """The page's bash script, or None when nothing on it runs."""
    parts = ["set -euo pipefail"]
    runs = False
    for block in blocks(page):
        if block.skip:
            continue
        where = f"# {page.relative_to(ROOT)}:{block.line}"
        if block.title:
            parts.append(f"{where}\ncat > '{block.title}' <<'{END}'\n{block.text}\n{END}")
        elif block.language == "python":
            parts.append(f"{where}\npython - <<'{END}'\n{block.text}\n{END}")
            runs = True
        elif block.language in RUNS:
            parts.append(f"{where}\n{block.text}")
            runs = True
    return "\n\n".join(parts) + "\n" if runs else None


RUNNABLE = [page for page in pages() if script(page) is not None]


def test_the_convention_is_read_as_documented() -> None:
    text = (
        '# T\n\n```python title="a.py"\nA = 1\n```\n\n```sh {.skip}\nmake demo\n```\n\n'
        "```json\n{}\n```\n\n- item\n\n    ```sh\n    echo indented\n    ```\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch, "page.md")
        page.write_text(text)
        found = blocks(page)
        assert [(b.language, b.title, b.skip) for b in found] == [
            ("python", "a.py", False),
            ("sh", None, True),
            ("json", None, False),
            ("sh", None, False),
        ]
        assert found[3].text == "echo indented"


def test_getting_started_and_guides_have_examples_that_run() -> None:
    names = {page.name for page in RUNNABLE}
    assert "getting-started.md" in names
    assert len(names) >= 3, names


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", RUNNABLE, ids=lambda page: page.stem)
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    code = script(page)
    assert code is not None
    (tmp_path / "page.sh").write_text(code)
    with RedisServer() as redis:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "EXECUTOR_BROKER_URL": redis.url,
            "EXECUTOR_RECONCILE_INTERVAL": "1",
            "PYTHONPATH": str(tmp_path),
        }
        env.pop("EXECUTOR_REDIS_URL", None)
        log = tmp_path / "page.log"
        with log.open("wb") as out:
            # A file, not a pipe: the workers a page leaves in the background keep it open.
            run = subprocess.Popen(
                ["bash", str(tmp_path / "page.sh")],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                run.wait(timeout=240)
            finally:
                end_group(run.pid)
    shown = log.read_text(errors="replace")[-6000:]
    assert run.returncode == 0, f"{page.relative_to(ROOT)} failed:\n{shown}"


def end_group(pgid: int) -> None:
    """Stop what the page left running (its workers): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            subprocess.run(["sleep", "0.1"], check=False)
