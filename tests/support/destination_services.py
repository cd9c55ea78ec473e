"""Real services for the destination tests: an S3/SNS/SQS/Kinesis-compatible HTTP server
(moto in server mode), a TCP proxy that can be stopped to cut a destination off, a webhook
receiver, and the agency file that points workers at them."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from executor import Client, Invocation, Settings
from tests.support.services import free_port, wait_for

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
TOPIC_URN = "urn:smn:local-1:default:orders"

# Values that must never show up anywhere a user can see; each test that uses them searches.
ACCESS_KEY = "AKIDLEAKCHECK7Q2Z"
SECRET_KEY = "sk-must-never-leak-5b1e9c"
HOOK_SECRET = "hook-secret-must-never-leak-93ad"
SECRETS = (ACCESS_KEY, SECRET_KEY, HOOK_SECRET)
SECRET_ENV = {"TEST_AK": ACCESS_KEY, "TEST_SK": SECRET_KEY, "TEST_HOOK_SECRET": HOOK_SECRET}


class MotoServer:
    """``moto.server`` in a subprocess on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the process)
            prefix="executor-moto-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1) as reply:
                    return bool(reply.status == 200)
            except OSError:
                return False

        wait_for(up, 20, f"moto server on port {self.port}")
        return self

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        Path(self.log.name).unlink(missing_ok=True)


class TcpProxy:
    """Forwards a free loopback port to a target port; ``stop`` cuts every connection and
    refuses new ones until ``start``, like a destination that went down and came back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                downstream.close()
                continue
            downstream.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._open |= {downstream, upstream}
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookServer:
    """An HTTP receiver in a thread; ``answers[path]`` lists statuses to give first (then 200)."""

    received: list[Received] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)

    def start(self) -> WebhookServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.received.append(Received(self.path, dict(self.headers.items()), body))
                planned = owner.answers.get(self.path)
                status = planned.pop(0) if planned else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # ``close`` waits for the serving loop's next look, every half second by default.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def agency_toml(
    aws_url: str, webhook_url: str = "http://127.0.0.1:9", stream_redis: str = ""
) -> str:
    """The agencies the test functions name (see ``destination_functions``)."""
    stream = f'redis_url = "{stream_redis}"' if stream_redis else ""
    keys = 'access_key_id_env = "TEST_AK"\nsecret_access_key_env = "TEST_SK"'
    return f"""
[agencies.writer.obs]
endpoint_url = "{aws_url}"
region = "{REGION}"
addressing_style = "path"
{keys}

[agencies.writer.dis]
maxlen = 1000
{stream}

[agencies.writer.smn]
endpoint_url = "{aws_url}"
region = "{REGION}"
account_id = "{ACCOUNT}"
{keys}

[agencies.kinesis.dis]
backend = "kinesis"
endpoint_url = "{aws_url}"
region = "{REGION}"
{keys}

[agencies.hooks.smn]
backend = "webhook"

[[agencies.hooks.smn.subscriptions]]
topic_urn = "{TOPIC_URN}"
url = "{webhook_url}/first"
secret_env = "TEST_HOOK_SECRET"
timeout = 2

[[agencies.hooks.smn.subscriptions]]
topic_urn = "{TOPIC_URN}"
url = "{webhook_url}/second"
secret_env = "TEST_HOOK_SECRET"
timeout = 2

[agencies.streams-only.dis]
"""


def topic_copied_to_a_queue(aws: MotoServer) -> str:
    """The SNS topic ``orders``, its messages copied raw to an SQS queue; returns the queue's
    URL."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    queue = sqs.create_queue(QueueName="orders-copy")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=attributes["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(queue)


def wait_delivery(
    client: Client, request_id: str, states: set[str], timeout: float = 30
) -> Invocation:
    """The invocation once its delivery reached one of ``states``."""
    found: list[Invocation] = []

    def reached() -> bool:
        record = client.store.records.get(request_id)
        if record is not None and any(d.state in states for d in record.deliveries):
            found.append(record)
            return True
        return False

    wait_for(reached, timeout, f"delivery of {request_id} to become {sorted(states)}", 0.1)
    return found[-1]


def recorded_event(client: Client, request_id: str) -> dict[str, Any]:
    """The event as the status record kept it when the invocation ended."""
    record = client.store.records.record(request_id)
    assert record is not None
    event = record.event()
    assert event is not None
    return event


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.close()


@pytest.fixture
def aws(moto: MotoServer) -> MotoServer:
    """The moto server, emptied for this test."""
    moto.reset()
    return moto


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.close()


@pytest.fixture
def write_agencies(tmp_path: Path) -> Callable[[str], str]:
    def write(text: str, name: str = "agencies.toml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def dest_env(
    env: dict[str, str],
    aws: MotoServer,
    webhook: WebhookServer,
    write_agencies: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Worker environment with the standard agency file and its secrets."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    path = write_agencies(agency_toml(aws.url, webhook.url))
    return {**env, **SECRET_ENV, "EXECUTOR_AGENCY_FILE": path}


@pytest.fixture
def dest_client(settings: Settings, dest_env: dict[str, str]) -> Client:
    """A producer that knows the test functions (and their agencies) locally."""
    from tests.apps.destination_functions import app

    configured = settings.model_copy(update={"agency_file": dest_env["EXECUTOR_AGENCY_FILE"]})
    return Client(configured, registry=app.registry)
