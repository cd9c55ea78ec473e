"""Redis beyond one server, for the integration tests: a Sentinel group and a Redis Cluster.

Every process is the machine's ``redis-server`` binary on a free loopback port in a private
directory; the cluster is joined with ``redis-cli --cluster create``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.services import RedisServer, free_port, wait_for

MASTER_NAME = "executor-test"


class Sentinel:
    """``redis-server <conf> --sentinel`` watching one master."""

    def __init__(self, master_port: int, quorum: int) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="executor-sentinel-")
        self.conf = Path(self.dir) / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 3000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)
        wait_for(self._up, 10, f"sentinel on port {self.port}")

    def _up(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def master_port(self) -> int:
        _, port = self.client.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelGroup:
    """One master, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority)."""

    def __init__(self, *, replicas: int = 1, sentinels: int = 3) -> None:
        self.master = RedisServer(extra=("--repl-diskless-sync-delay", "0")).start()
        self.replicas = [
            RedisServer(
                extra=(
                    "--replicaof",
                    "127.0.0.1",
                    str(self.master.port),
                    "--repl-diskless-sync-delay",
                    "0",
                )
            ).start()
            for _ in range(replicas)
        ]
        self.sentinels = [Sentinel(self.master.port, sentinels // 2 + 1) for _ in range(sentinels)]
        wait_for(self._replicated, 20, "the replicas to sync and the sentinels to see them")

    def _replicated(self) -> bool:
        info = redis.Redis(port=self.master.port).info("replication")
        online = sum(
            1 for key, value in info.items() if key.startswith("slave") and "online" in str(value)
        )
        if online < len(self.replicas):
            return False
        return all(
            int(s.client.sentinel_master(MASTER_NAME)["num-other-sentinels"])
            == len(self.sentinels) - 1
            and int(s.client.sentinel_master(MASTER_NAME)["num-slaves"]) == len(self.replicas)
            for s in self.sentinels
        )

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def broker_url(self) -> str:
        """Celery's documented form: every sentinel, no database."""
        return ";".join(f"sentinel://127.0.0.1:{s.port}" for s in self.sentinels)

    def env(self, *, explicit: bool = True) -> dict[str, str]:
        """Settings that put both the broker and the state store on this group; without
        ``explicit``, the mode and the sentinels are left to be read from the broker URL."""
        named = {"EXECUTOR_REDIS_MODE": "sentinel", "EXECUTOR_REDIS_SENTINELS": self.addresses}
        return {
            "EXECUTOR_BROKER_URL": self.broker_url,
            "EXECUTOR_REDIS_SENTINEL_MASTER": MASTER_NAME,
            **(named if explicit else {}),
        }

    def current_master(self) -> RedisServer:
        port = self.sentinels[0].master_port()
        return next(s for s in [self.master, *self.replicas] if s.port == port)

    def master_client(self) -> redis.Redis:
        return redis.Redis(port=self.current_master().port, decode_responses=True)

    def flush(self) -> None:
        self.master_client().flushall()

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        master = self.current_master()
        master.kill()
        return master.port

    def restart(self, port: int, timeout: float = 60) -> bool:
        """Start a killed server again, as a supervisor would; the sentinels make it a replica
        of the promoted master. Whether they did within ``timeout``: on a loaded machine they
        sometimes take longer, which says nothing about the engine a drill is about."""
        server = next(s for s in [self.master, *self.replicas] if s.port == port)
        server.start()
        try:
            wait_for(
                lambda: (
                    redis.Redis(port=port).info("replication").get("master_link_status") == "up"
                ),
                timeout,
                "the restarted server to replicate the promoted master",
                interval=0.1,
            )
        except TimeoutError:
            return False
        return True

    def wait_failover(self, old_port: int, timeout: float = 30) -> int:
        """Wait until every sentinel names a promoted replica; returns its port."""
        wait_for(
            lambda: all(s.master_port() != old_port for s in self.sentinels),
            timeout,
            "the sentinels to promote a replica",
            interval=0.1,
        )
        return self.sentinels[0].master_port()

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
        for server in [self.master, *self.replicas]:
            server.close()
