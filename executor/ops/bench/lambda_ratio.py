"""How much the Lambda API costs beside FunctionGraph's, in one run: ``python -m
executor.ops.bench.lambda_ratio [count]``.

A private redis-server and one ``executor api`` serve both; the same invocation of the demo's
``greet`` is accepted through Lambda's ``Invoke`` (``InvocationType: Event``, each request signed
with SigV4 by botocore and verified by the server) and through FunctionGraph's
``invocations-async`` (an ``X-Auth-Token``), over one keep-alive connection each, in alternating
rounds so that both see the same machine. No worker runs: what is measured is the path to a 202,
which is where the two APIs differ. Prints invocations per second of each and their ratio.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Callable
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from executor.ops.api_process import ApiProcess
from executor.ops.servers import RedisServer

PROJECT = "benchproject"
REGION = "local-1"
TOKEN = "bench-token"
AK, SK = "AKIDBENCH", "bench-secret"
BODY = json.dumps({"name": "bench"}).encode()
ROUNDS = 10


def lambda_call(connection: http.client.HTTPConnection, host: str) -> Callable[[], None]:
    path = "/2015-03-31/functions/greet/invocations"
    signer = SigV4Auth(Credentials(AK, SK), "lambda", REGION)

    def send() -> None:
        request = AWSRequest(
            method="POST",
            url=f"http://{host}{path}",
            data=BODY,
            headers={"X-Amz-Invocation-Type": "Event"},
        )
        signer.add_auth(request)
        _send(connection, "POST", path, dict(request.headers.items()), 202)

    return send


def functiongraph_call(connection: http.client.HTTPConnection) -> Callable[[], None]:
    urn = f"urn:fss:{REGION}:{PROJECT}:function:default:greet:latest"
    path = f"/v2/{PROJECT}/fgs/functions/{quote(urn, safe='')}/invocations-async"
    headers = {"X-Auth-Token": TOKEN, "Content-Type": "application/json"}

    def send() -> None:
        _send(connection, "POST", path, headers, 202)

    return send


def _send(
    connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], ok: int
) -> None:
    connection.request(method, path, body=BODY, headers=headers)
    response = connection.getresponse()
    text = response.read()
    if response.status != ok:
        raise RuntimeError(f"{path} answered {response.status}: {text[:300]!r}")


def measure(count: int) -> dict[str, float]:
    with RedisServer() as redis_server:
        env = {
            "EXECUTOR_BROKER_URL": redis_server.url,
            "EXECUTOR_REGION": REGION,
            "EXECUTOR_PROJECT_ID": PROJECT,
            "EXECUTOR_API_TOKENS": f"{TOKEN}:{PROJECT}",
            "EXECUTOR_API_ACCESS_KEYS": f"{AK}:{SK}:{PROJECT}",
        }
        api = ApiProcess(env, app="executor.demo.functions:app").start()
        try:
            host = f"127.0.0.1:{api.port}"
            calls = {
                "lambda": lambda_call(http.client.HTTPConnection(host), host),
                "functiongraph": functiongraph_call(http.client.HTTPConnection(host)),
            }
            spent = dict.fromkeys(calls, 0.0)
            for send in calls.values():
                send()  # warm: connection, caches
            per_round = max(1, count // ROUNDS)
            for _ in range(ROUNDS):
                for name, send in calls.items():
                    started = time.perf_counter()
                    for _ in range(per_round):
                        send()
                    spent[name] += time.perf_counter() - started
        finally:
            api.close()
    done = per_round * ROUNDS
    rates = {f"{name}_per_second": done / seconds for name, seconds in spent.items()}
    rates["lambda_over_functiongraph"] = (
        rates["lambda_per_second"] / rates["functiongraph_per_second"]
    )
    rates["invocations_each"] = done
    return rates


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(measure(count), indent=2))


if __name__ == "__main__":
    main()
