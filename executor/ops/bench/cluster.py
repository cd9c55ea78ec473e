"""A private Redis Cluster on loopback ports, for the benchmark and the tests.

Every node is the machine's ``redis-server`` with ``--cluster-enabled yes`` in a directory of
its own; ``redis-cli --cluster create`` joins them and hands out the 16384 slots.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import redis

from executor.ops.servers import free_port, wait_for


def _node_port() -> int:
    """A free port whose cluster bus port (10000 above) is free and valid too."""
    while True:
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port


class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each; ``url`` names the first node."""

    def __init__(self, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError(
                "redis-server and redis-cli are needed for a cluster; 'make install' installs them"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="executor-cluster-"))
        self.ports: list[int] = []
        while len(self.ports) < masters * (1 + replicas):
            port = _node_port()
            if port not in self.ports:
                self.ports.append(port)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.procs[port] = subprocess.Popen(
                [
                    server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(node_dir),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--logfile",
                    "redis.log",
                    # Replicas sync at once instead of waiting 5 s for company.
                    "--repl-diskless-sync-delay",
                    "0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for port in self.ports:
            wait_for(partial(self._answers, port), 10, f"cluster node on port {port}")
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(self.healthy, 30, "the cluster to cover every slot")
        self.url = f"redis://127.0.0.1:{self.ports[0]}"

    def _answers(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, decode_responses=True)

    def alive(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    def healthy(self) -> bool:
        """Every live node sees all slots served and agrees on the masters; every live replica
        is in sync with its master (only such a replica can take over)."""
        try:
            for port in self.alive():
                node = self._node(port)
                if node.cluster("info").get("cluster_state") != "ok":
                    return False
                role = node.info("replication")
                if role["role"] == "slave" and role.get("master_link_status") != "up":
                    return False
            return len({tuple(self.masters_seen_by(p)) for p in self.alive()}) == 1
        except redis.RedisError:
            return False

    def masters_seen_by(self, port: int) -> list[int]:
        nodes = self._node(port).cluster("nodes")
        return sorted(
            int(address.split("@")[0].rsplit(":", 1)[1])
            for address, node in nodes.items()
            if "master" in node["flags"] and "fail" not in node["flags"] and node["slots"]
        )

    def masters(self) -> list[int]:
        return self.masters_seen_by(self.alive()[0])

    def replicas_of(self, master: int) -> list[int]:
        nodes = self._node(master).cluster("nodes")
        mine = next(n["node_id"] for a, n in nodes.items() if a.startswith(f"127.0.0.1:{master}"))
        return [
            int(address.split("@")[0].rsplit(":", 1)[1])
            for address, node in nodes.items()
            if node.get("master_id") == mine
        ]

    def kill(self, port: int) -> None:
        """SIGKILL one node."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(10)

    def wait_promoted(self, dead: int, timeout: float = 30) -> float:
        """Wait until a replica replaced ``dead`` and the cluster is whole; returns seconds."""
        started = time.monotonic()
        wait_for(
            lambda: dead not in self.masters() and self.healthy(),
            timeout,
            f"a replica to replace master {dead}",
        )
        return time.monotonic() - started

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
