"""Every Redis broker URL form Celery documents, each on a real ``redis-server``: a worker, a
producer, the HTTP API and Flower all work with it, and the state store is the broker's own
database. (The ``sentinel://...;sentinel://...`` list is in tests/test_redis_sentinel.py.)"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from executor.state.keys import record_key
from tests.support.api_server import CREDENTIALS
from tests.support.core_scenarios import fleet_on
from tests.support.invocations import FAST
from tests.support.services import RedisServer, free_port

pytestmark = pytest.mark.integration

PASSWORD = "s3cret pw/with@signs"


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


def test_worker_producer_api_and_flower_share_the_brokers_database(form, env, start_worker):
    _, ids, shown = fleet_on(env, start_worker)
    # The records are in the database the broker URL names, beside the broker's queues, and
    # written with their messages by one script.
    assert [form.rdb.hget(record_key(rid), "status") for rid in ids] == ["SUCCESS"] * 2
    assert form.rdb.exists("_kombu.binding.executor.invocations")
    assert "records and messages written together" in shown
    assert PASSWORD not in shown
