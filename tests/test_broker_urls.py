"""Every Redis broker URL form Celery documents, each on a real ``redis-server``: a worker, a
producer, the HTTP API and Flower all work with it, and the state store is the broker's own
database. (The ``sentinel://...;sentinel://...`` list is in tests/test_redis_sentinel.py.)"""

from __future__ import annotations

import datetime
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from api_server import AUTH, CREDENTIALS, ApiServer
from conftest import FAST, wait_status
from core_scenarios import settings_of
from fleet_services import Flower, http_get, run_executor
from services import RedisServer, free_port, wait_for

from executor import Client
from executor.state.keys import record_key

pytestmark = pytest.mark.integration

PASSWORD = "s3cret pw/with@signs"
FLOWER = ("ops", "flower-pw")


@dataclass
class Form:
    """A broker URL of one form, and a plain client of the database it names."""

    url: str
    rdb: redis.Redis
    fused: bool = True


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer, signer, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = certificate("executor test CA", ca_key, "executor test CA", ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, "executor test CA", ca_key, ca=False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module", params=["password-and-db", "tls", "socket"])
def form(request: pytest.FixtureRequest) -> Iterator[Form]:
    directory = Path(tempfile.mkdtemp(prefix="executor-urls-"))
    extra: tuple[str, ...] = ()
    if request.param == "tls":
        ca, cert, key = tls_files(directory)
        tls_port = free_port()
        extra = ("--tls-port", str(tls_port), "--tls-cert-file", str(cert))
        extra += ("--tls-key-file", str(key), "--tls-ca-cert-file", str(ca))
        extra += ("--tls-auth-clients", "no")
    elif request.param == "socket":
        socket = directory / "redis.sock"
        extra = ("--unixsocket", str(socket), "--unixsocketperm", "700")
    server = RedisServer(extra=extra).start()
    try:
        if request.param == "password-and-db":
            server.client.config_set("requirepass", PASSWORD)
            quoted = PASSWORD.replace(" ", "%20").replace("/", "%2F").replace("@", "%40")
            url = f"redis://:{quoted}@127.0.0.1:{server.port}/3"
            rdb = redis.Redis(port=server.port, db=3, password=PASSWORD, decode_responses=True)
            yield Form(url, rdb)
        elif request.param == "tls":
            url = f"rediss://127.0.0.1:{tls_port}/2?ssl_cert_reqs=CERT_REQUIRED&ssl_ca_certs={ca}"
            yield Form(url, redis.Redis(port=server.port, db=2, decode_responses=True))
        else:
            url = f"redis+socket://{socket}?virtual_host=5"
            yield Form(url, redis.Redis(port=server.port, db=5, decode_responses=True))
    finally:
        if request.param == "password-and-db":
            server.client = redis.Redis(port=server.port, password=PASSWORD)
        server.close()


@pytest.fixture
def env(form: Form) -> dict[str, str]:
    redis.Redis(connection_pool=form.rdb.connection_pool).flushall()
    return {"EXECUTOR_BROKER_URL": form.url, **FAST, **CREDENTIALS}


def fleet_on(env: dict[str, str], start_worker: Any) -> tuple[Client, list[str], str]:
    """A worker, a producer, the API and Flower on the settings ``env``: the producer and the
    API each invoke ``hello`` and it succeeds, Flower shows it and reads the broker's queues,
    and ``executor health`` passes. Returns the producer, both request ids and what health
    printed."""
    api = ApiServer(env).start()
    flower = Flower({**env, "EXECUTOR_FLOWER_BASIC_AUTH": ":".join(FLOWER)})
    try:
        worker = start_worker(pool="prefork", concurrency=2, env=env)
        # The ready hook published the catalogue: a producer that imports no handler finds it.
        client = Client(settings_of(env))
        produced = client.invoke_async("hello", {"name": "producer"})
        answer = httpx.post(api.path("hello", "invocations-async"), headers=AUTH, json={})
        assert answer.status_code == 202, answer.text
        ids = [produced, answer.json()["request_id"]]
        for request_id in ids:
            assert wait_status(client, request_id, "SUCCESS").attempts == 1
        flower.wait_ready()

        def shown() -> bool:
            status, body = http_get(f"{flower.url}/api/task/info/{ids[1]}", FLOWER)
            return status == 200 and json.loads(body).get("state") == "SUCCESS"

        wait_for(shown, 30, "flower to show the invocation", interval=0.3)
        status, body = http_get(f"{flower.url}/api/queues/length", FLOWER)
        assert status == 200, body
        assert "executor.invocations" in {q["name"] for q in json.loads(body)["active_queues"]}
        done = run_executor("health", "--node", worker.hostname, "--timeout", "5", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return client, ids, done.stdout + done.stderr + worker.output()
    finally:
        flower.stop()
        api.stop()


def test_worker_producer_api_and_flower_share_the_brokers_database(form, env, start_worker):
    _, ids, shown = fleet_on(env, start_worker)
    # The records are in the database the broker URL names, beside the broker's queues, and
    # written with their messages by one script.
    assert [form.rdb.hget(record_key(rid), "status") for rid in ids] == ["SUCCESS"] * 2
    assert form.rdb.exists("_kombu.binding.executor.invocations")
    assert "records and messages written together" in shown
    assert PASSWORD not in shown
