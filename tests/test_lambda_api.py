"""Compatibility proof: the real boto3 ``lambda`` client and the AWS CLI drive ``executor api``
with a real worker, redis-server and an SQS/S3 service (moto's server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from executor import Client, Settings
from executor.core.urn import parse_urn
from tests.apps.lambda_functions import SEEN
from tests.support.api_server import PROJECT, ApiServer
from tests.support.destination_services import (
    ACCOUNT,
    REGION,
    SECRET_ENV,
    MotoServer,
    topic_copied_to_a_queue,
)
from tests.support.invocations import FAST
from tests.support.services import RedisServer, Worker, wait_for

pytestmark = pytest.mark.integration

AK, SK = "AKIDLAMBDATEST01", "lambda-secret-0123456789"
ENGINE_REGION = "local-1"
ARN = f"arn:aws:lambda:{ENGINE_REGION}:{PROJECT}:function"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"
AWS_CLI = Path(sys.executable).parent / "aws"


def agency_file(path: Path, aws_url: str) -> str:
    keys = 'access_key_id_env = "TEST_AK"\nsecret_access_key_env = "TEST_SK"'
    where = f'endpoint_url = "{aws_url}"\nregion = "{REGION}"\n{keys}'
    path.write_text(
        f"[agencies.writer.sqs]\n{where}\n\n[agencies.writer.obs]\n{where}\n"
        'addressing_style = "path"\n\n'
        f'[agencies.writer.smn]\n{where}\naccount_id = "{ACCOUNT}"\n',
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(scope="module")
def lambda_env(
    redis_server: RedisServer, moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    agencies = agency_file(tmp_path_factory.mktemp("lambda") / "agencies.toml", moto.url)
    with pytest.MonkeyPatch.context() as patch:
        # The agency file names its secrets by variable: this process reads it too.
        for name, value in SECRET_ENV.items():
            patch.setenv(name, value)
        yield {
            "EXECUTOR_BROKER_URL": redis_server.url,
            **FAST,
            **SECRET_ENV,
            "EXECUTOR_PROJECT_ID": PROJECT,
            "EXECUTOR_API_ACCESS_KEYS": f"{AK}:{SK}:{PROJECT}",
            "EXECUTOR_AGENCY_FILE": agencies,
        }


@pytest.fixture(scope="module")
def lambda_api(lambda_env: dict[str, str]) -> Iterator[ApiServer]:
    server = ApiServer(lambda_env, app="tests.apps.lambda_functions:app").start()
    yield server
    server.stop()


@pytest.fixture
def fresh(lambda_env: dict[str, str], moto: MotoServer, rdb: Any) -> Client:
    """An empty state store and moto, and a reader of the engine's records."""
    rdb.flushall()
    moto.reset()
    settings = Settings(
        **{
            k.removeprefix("EXECUTOR_").lower(): v
            for k, v in lambda_env.items()
            if k.startswith("EXECUTOR_")
        }  # type: ignore[arg-type]
    )
    return Client(settings)


@pytest.fixture
def worker(
    lambda_env: dict[str, str], start_worker: Callable[..., Worker], fresh: Client
) -> Callable[..., Worker]:
    def start(**env: str) -> Worker:
        return start_worker("tests.apps.lambda_functions:app", env={**lambda_env, **env})

    return start


def boto(api: ApiServer, secret: str = SK) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=api.url,
        region_name=ENGINE_REGION,
        aws_access_key_id=AK,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def seen(rdb: Any, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    wait_for(lambda: rdb.llen(SEEN) >= count, timeout, f"{count} handler runs")
    return [json.loads(row) for row in rdb.lrange(SEEN, 0, -1)]


def wait_delivered(client: Client, request_id: str) -> None:
    def delivered() -> bool:
        return any(d.state == "delivered" for d in client.get_invocation(request_id).deliveries)

    wait_for(delivered, 60, f"the record of {request_id} to be delivered")


def sqs_messages(moto: MotoServer, url: str) -> list[dict[str, Any]]:
    sqs = moto.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]


def test_invoke_event_runs_the_handler(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, rdb: Any
) -> None:
    worker()
    answer = boto(lambda_api).invoke(
        FunctionName="greet", InvocationType="Event", Payload=json.dumps({"name": "aws"})
    )
    assert answer["StatusCode"] == 202
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    [row] = seen(rdb, 1)
    assert row == {"function": "greet", "event": {"name": "aws"}, "request_id": request_id}
    dry = boto(lambda_api).invoke(FunctionName=f"{ARN}:greet", InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_two_retries_then_one_lambda_record_on_the_sqs_queue(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, moto: MotoServer
) -> None:
    queue = moto.client("sqs").create_queue(QueueName="failures")["QueueUrl"]
    lam = boto(lambda_api)
    put = lam.put_function_event_invoke_config(
        FunctionName="fails",
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": QUEUE_ARN}},
    )
    assert put["DestinationConfig"] == {"OnFailure": {"Destination": QUEUE_ARN}}
    worker()
    answer = lam.invoke(FunctionName="fails", InvocationType="Event", Payload=b'{"k": 1}')
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    wait_delivered(fresh, request_id)
    [record] = sqs_messages(moto, queue)
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:fails:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"k": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"] == {"errorType": "ValueError", "errorMessage": "always fails"}
    assert fresh.get_invocation(request_id).status.value == "FAIL"


def test_an_aged_out_event_sends_event_age_exceeded_to_the_s3_bucket(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, moto: MotoServer
) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="aged-events")
    lam = boto(lambda_api)
    lam.put_function_event_invoke_config(
        FunctionName="greet",
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::aged-events"}},
    )
    answer = lam.invoke(FunctionName="greet", InvocationType="Event", Payload=b"{}")
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    # The worker's clock runs 61 s ahead: to it the invocation is older than its 60 s.
    worker(LAMBDA_TEST_CLOCK_AHEAD="61")

    def listed() -> list[str]:
        got = s3.list_objects_v2(Bucket="aged-events", Prefix="aws/lambda/async/greet/")
        return [o["Key"] for o in got.get("Contents", [])]

    wait_for(listed, 60, "the aged-out record in the bucket")
    [key] = listed()
    record = json.loads(s3.get_object(Bucket="aged-events", Key=key)["Body"].read())
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestContext"]["requestId"] == request_id
    day = record["timestamp"][:10].replace("-", "/")
    stamp = record["timestamp"][:19].replace(":", ".")
    assert key.startswith(f"aws/lambda/async/greet/{day}/{stamp}-")
    assert fresh.get_invocation(request_id).status.value == "DISCARD"


def test_on_success_lambda_arn_runs_the_next_function_with_the_record(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, rdb: Any
) -> None:
    lam = boto(lambda_api)
    lam.put_function_event_invoke_config(
        FunctionName=f"{ARN}:greet",
        Qualifier="$LATEST",
        DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:chained"}},
    )
    worker()
    answer = lam.invoke(FunctionName="greet", InvocationType="Event", Payload=b'{"name": "x"}')
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    rows = seen(rdb, 2)
    assert [r["function"] for r in rows] == ["greet", "chained"]
    record = rows[1]["event"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == request_id
    assert record["responsePayload"] == {"greeting": "hello x"}


def test_refused_signatures_change_nothing(
    lambda_api: ApiServer, fresh: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = boto(lambda_api, secret="not-the-secret")
    with pytest.raises(ClientError) as caught:
        wrong.invoke(FunctionName="greet", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as caught:
        wrong.put_function_event_invoke_config(FunctionName="greet", MaximumRetryAttempts=0)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"

    tampering = boto(lambda_api)

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b'"n": 1', b'"n": 2')

    tampering.meta.events.register("before-send.lambda.Invoke", tamper)
    with pytest.raises(ClientError) as caught:
        tampering.invoke(FunctionName="greet", InvocationType="Event", Payload=b'{"n": 1}')
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"

    now = botocore.auth.get_current_datetime()
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now - timedelta(minutes=6))
    with pytest.raises(ClientError) as caught:
        boto(lambda_api).invoke(FunctionName="greet", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    monkeypatch.undo()

    assert sum(fresh.count_invocations("greet").values()) == 0
    with pytest.raises(ClientError) as caught:
        boto(lambda_api).get_function_event_invoke_config(FunctionName="greet")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_botocore_raises_the_modelled_error_classes(lambda_api: ApiServer, fresh: Client) -> None:
    lam = boto(lambda_api)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(FunctionName="greet", MaximumRetryAttempts=3)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nobody", InvocationType="Event", Payload=b"{}")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.invoke(FunctionName="greet", Payload=b"{}")  # RequestResponse
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(
            FunctionName="greet",
            DestinationConfig={
                "OnFailure": {
                    "Destination": f"arn:aws:events:{ENGINE_REGION}:{PROJECT}:event-bus/x"
                }
            },
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName="greet")


def test_concurrency_recursion_and_functions_through_boto3(
    lambda_api: ApiServer, fresh: Client
) -> None:
    lam = boto(lambda_api)
    put = lam.put_function_concurrency(FunctionName="chained", ReservedConcurrentExecutions=3)
    assert put["ReservedConcurrentExecutions"] == 3
    got = lam.get_function_concurrency(FunctionName="chained")
    assert got["ReservedConcurrentExecutions"] == 3
    chained = parse_urn("chained", region=ENGINE_REGION, project=PROJECT)
    assert fresh.store.flows.get(chained, None).flow.max_instances == 3
    lam.delete_function_concurrency(FunctionName="chained")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName="chained"
    )
    assert (
        lam.put_function_recursion_config(FunctionName="chained", RecursiveLoop="Allow")[
            "RecursiveLoop"
        ]
        == "Allow"
    )
    assert lam.get_function_recursion_config(FunctionName="chained")["RecursiveLoop"] == "Allow"
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert names == ["chained", "fails", "greet"]
    config = lam.get_function(FunctionName="greet")["Configuration"]
    assert config["FunctionArn"] == f"{ARN}:greet"
    paginated = lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
    assert [f["FunctionName"] for page in paginated for f in page["Functions"]] == names


def test_the_aws_cli_invokes_and_is_refused_a_fourth_retry(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, rdb: Any, tmp_path: Path
) -> None:
    worker()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": AK,
        "AWS_SECRET_ACCESS_KEY": SK,
        "AWS_DEFAULT_REGION": ENGINE_REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    base = [str(AWS_CLI), "--endpoint-url", lambda_api.url, "lambda"]

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=60)

    out = tmp_path / "out.json"
    done = aws(
        "invoke",
        "--function-name",
        "greet",
        "--invocation-type",
        "Event",
        "--payload",
        '{"name": "cli"}',
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["StatusCode"] == 202
    [row] = seen(rdb, 1)
    assert row["event"] == {"name": "cli"}

    refused = aws(
        "put-function-event-invoke-config",
        "--function-name",
        "greet",
        "--maximum-retry-attempts",
        "3",
    )
    assert refused.returncode != 0
    assert "InvalidParameterValueException" in refused.stderr
    put = aws(
        "put-function-event-invoke-config",
        "--function-name",
        "greet",
        "--maximum-retry-attempts",
        "1",
        "--maximum-event-age-in-seconds",
        "600",
    )
    assert put.returncode == 0, put.stderr
    shown = json.loads(aws("get-function-event-invoke-config", "--function-name", "greet").stdout)
    assert (shown["MaximumRetryAttempts"], shown["MaximumEventAgeInSeconds"]) == (1, 600)


def test_on_success_sns_arn_publishes_the_record_on_the_topic(
    lambda_api: ApiServer, worker: Callable[..., Worker], fresh: Client, moto: MotoServer
) -> None:
    copy = topic_copied_to_a_queue(moto)
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
    lam = boto(lambda_api)
    put = lam.put_function_event_invoke_config(
        FunctionName="greet", DestinationConfig={"OnSuccess": {"Destination": topic}}
    )
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": topic}}
    worker()
    answer = lam.invoke(FunctionName="greet", InvocationType="Event", Payload=b'{"name": "sns"}')
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    wait_delivered(fresh, request_id)
    [record] = sqs_messages(moto, copy)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == request_id
    assert record["responsePayload"] == {"greeting": "hello sns"}


def test_reserved_concurrency_zero_sends_the_event_to_on_failure_unrun(
    lambda_api: ApiServer,
    worker: Callable[..., Worker],
    fresh: Client,
    moto: MotoServer,
) -> None:
    queue = moto.client("sqs").create_queue(QueueName="failures")["QueueUrl"]
    lam = boto(lambda_api)
    lam.put_function_event_invoke_config(
        FunctionName="greet", DestinationConfig={"OnFailure": {"Destination": QUEUE_ARN}}
    )
    lam.put_function_concurrency(FunctionName="greet", ReservedConcurrentExecutions=0)
    worker()
    answer = lam.invoke(FunctionName="greet", InvocationType="Event", Payload=b'{"name": "z"}')
    assert answer["StatusCode"] == 202
    request_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    wait_delivered(fresh, request_id)
    [record] = sqs_messages(moto, queue)
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"name": "z"}
