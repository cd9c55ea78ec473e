"""How fast each console page answers over a large store (``executor bench --console``).

A private redis-server is filled straight through the store's transitions: ``n`` invocations
of one function accepted over the last day, a share of them run to SUCCESS, FAIL or DISCARD,
plus a few other functions and dead letters. Then ``executor api`` serves the console, a
session signs in, and every page is fetched ``samples`` times in a row after two unmeasured
ones; each page's first answer (charts: drawn, not kept), p50, p95 and max are reported.
Nothing here starts a worker: the records are what the pages read.
"""

from __future__ import annotations

import json
import random
import secrets
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Final

from executor.core.catalogue import CatalogueEntry, task_name
from executor.core.constants import INVOCATION_QUEUE
from executor.core.invocation import Status
from executor.core.urn import parse_urn
from executor.ops.api_process import ApiProcess
from executor.ops.bench.report import percentile
from executor.ops.servers import RedisServer
from executor.state.store import Store
from executor.state.writes import Finish, NewInvocation

PROJECT: Final = "bench"
REGION: Final = "local-1"
DAY: Final = 86_400
# Of the invocations stored, these shares end; the rest wait.
ENDS: Final = ((Status.SUCCESS, 0.2), (Status.FAIL, 0.07), (Status.DISCARD, 0.03))
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PageTiming:
    page: str
    path: str
    samples: int
    first_ms: float  # the first request, before anything of the page was cached
    p50_ms: float
    p95_ms: float
    max_ms: float
    bytes: int


def urn(name: str) -> str:
    return f"urn:fss:{REGION}:{PROJECT}:function:default:{name}:latest"


def fill(store: Store, n: int, progress: Progress) -> dict[str, str]:
    """Store ``n`` invocations of ``busy`` (and a few of three others); the ids the pages
    open, by kind."""
    names = ["busy", "quiet", "audit", "report"]
    entries = {
        urn(name): CatalogueEntry(
            urn=urn(name),
            task=task_name(parse_urn(urn(name), region=REGION, project=PROJECT)),
            queue=INVOCATION_QUEUE,
        ).model_dump_json()
        for name in names
    }
    store.catalogue.publish(entries)
    now = time.time()
    rng = random.Random(7)
    plan = [(urn("busy"), now - rng.random() * DAY) for _ in range(n)]
    plan += [(urn(name), now - rng.random() * 3600) for name in names[1:] for _ in range(50)]

    def accept(item: tuple[int, tuple[str, float]]) -> tuple[str, str, float]:
        number, (function, at) = item
        rid = f"bench-{number:07d}"
        store.transitions.accept(
            NewInvocation(
                request_id=rid,
                urn=function,
                enqueued_at=at,
                deadline=at + 3600,
                chain=(),
                payload_json=json.dumps({"order": number, "card": "4242"}),
            )
        )
        return rid, function, at

    with ThreadPoolExecutor(8) as pool:
        accepted = []
        for done in pool.map(accept, enumerate(plan), chunksize=500):
            accepted.append(done)
            if len(accepted) % 10_000 == 0:
                progress(f"accepted {len(accepted)} of {len(plan)}")

    def end(item: tuple[tuple[str, str, float], Status]) -> None:
        (rid, function, at), status = item
        started = at + rng.random()
        if status is not Status.DISCARD:
            store.transitions.claim(rid, function, 0, started, 3)
        store.transitions.finish(
            Finish(
                request_id=rid,
                urn=function,
                status=status,
                now=started + 0.05,
                retention=7 * DAY,
                condition="RetriesExhausted" if status is Status.FAIL else "",
                error_message="RuntimeError: gateway refused" if status is Status.FAIL else "",
            )
        )

    endings = []
    for record in accepted:
        draw = rng.random()
        for status, share in ENDS:
            if draw < share:
                endings.append((record, status))
                break
            draw -= share
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(end, endings, chunksize=500))
    progress(f"ended {len(endings)}")
    for number in range(20):
        rid = accepted[number][0]
        letter = {
            "request_id": rid,
            "outcome": "success",
            "destination": {"destination": "OBS", "param": '{"bucket":"gone"}'},
            "event": {"request_context": {"request_id": rid}, "request_payload": {"n": number}},
            "function_urn": accepted[number][1],
            "reason": "OBS bucket gone: NoSuchBucket",
            "attempts": 1,
            "at": now - number,
        }
        store.dead_letters.add(f"{rid}:success", json.dumps(letter), now - number)
    failed = next(rid for (rid, _, _), status in endings if status is Status.FAIL)
    return {"invocation": accepted[-1][0], "failed": failed, "letter": f"{accepted[0][0]}:success"}


class Session:
    """A signed-in console session over plain urllib (cookies kept, redirects followed)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> tuple[int, bytes]:
        with self.opener.open(self.base + path, timeout=30) as answer:
            return int(answer.status), answer.read()

    def sign_in(self, token: str) -> None:
        _, page = self.get("/console/signin")
        csrf = page.decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
        body = urllib.parse.urlencode({"csrf": csrf, "token": token}).encode()
        with self.opener.open(self.base + "/console/signin", data=body, timeout=30) as answer:
            if not answer.geturl().endswith("/console/functions"):
                raise RuntimeError(f"the bench could not sign in: landed on {answer.geturl()}")


def pages(ids: dict[str, str], marker: str) -> dict[str, str]:
    busy = "/console/functions/" + urn("busy")
    return {
        "functions": "/console/functions",
        "config tab": f"{busy}/config",
        "invocations (24 h)": f"{busy}/invocations",
        "invocations, FAIL, any time": f"{busy}/invocations?status=FAIL&window=all",
        "invocations, page 2": f"{busy}/invocations?window=all&marker={marker}",
        "invocations, live rows": f"{busy}/invocations/rows",
        "invocation": f"/console/invocations/{ids['invocation']}",
        "failed invocation": f"/console/invocations/{ids['failed']}",
        "charts tab": f"{busy}/charts",
        "outcomes chart, hour": f"{busy}/charts/outcomes.svg?window=hour",
        "outcomes chart, day": f"{busy}/charts/outcomes.svg?window=day",
        "ages chart, day": f"{busy}/charts/ages.svg?window=day",
        "dead letters": "/console/dead-letters",
        "dead letter": f"/console/dead-letters/{urllib.parse.quote(ids['letter'])}",
    }


def measure_console(n: int, samples: int, progress: Progress) -> list[PageTiming]:
    """Fill a private store with ``n`` invocations, serve the console, time every page."""
    token = secrets.token_urlsafe(16)
    with RedisServer(prefix="executor-bench-console-") as server:
        store = Store(server.url)
        started = time.monotonic()
        ids = fill(store, n, progress)
        progress(f"stored {n} invocations in {time.monotonic() - started:.0f} s")
        env = {
            "EXECUTOR_BROKER_URL": server.url,
            "EXECUTOR_PROJECT_ID": PROJECT,
            "EXECUTOR_API_TOKENS": f"{token}:{PROJECT}",
        }
        api = ApiProcess(env).start()
        try:
            session = Session(api.url)
            session.sign_in(token)
            first = store.records.page(urn("busy"), status=None, since=None, until=None, limit=50)
            timings = []
            for name, path in pages(ids, first.next_marker or "").items():
                at = time.perf_counter()
                session.get(path)
                cold = (time.perf_counter() - at) * 1000
                for _ in range(2):
                    session.get(path)
                took = []
                size = 0
                for _ in range(samples):
                    at = time.perf_counter()
                    status, body = session.get(path)
                    took.append((time.perf_counter() - at) * 1000)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}")
                    size = len(body)
                timings.append(
                    PageTiming(
                        page=name,
                        path=path,
                        samples=samples,
                        first_ms=round(cold, 1),
                        p50_ms=round(statistics.median(took), 1),
                        p95_ms=round(percentile(took, 95), 1),
                        max_ms=round(max(took), 1),
                        bytes=size,
                    )
                )
                progress(f"{name}: p95 {timings[-1].p95_ms} ms")
        finally:
            api.close()
    return timings


def console_table(n: int, timings: list[PageTiming]) -> str:
    lines = [f"console pages over {n} stored invocations of one function", ""]
    head = ("page", "first ms", "p50 ms", "p95 ms", "max ms", "bytes")
    lines.append(f"{head[0]:30}" + "".join(f"{h:>10}" for h in head[1:]))
    for t in timings:
        figures = (t.first_ms, t.p50_ms, t.p95_ms, t.max_ms)
        lines.append(f"{t.page:30}" + "".join(f"{f:10.1f}" for f in figures) + f"{t.bytes:10}")
    return "\n".join(lines)


def write_console(path: Path, n: int, timings: list[PageTiming]) -> None:
    path.write_text(json.dumps({"n": n, "pages": [asdict(t) for t in timings]}, indent=2))
