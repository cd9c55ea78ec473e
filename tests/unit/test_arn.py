"""Lambda function names and destination ARNs, mapped onto URNs and destination kinds."""

from __future__ import annotations

import pytest

from executor.core.arn import destination_arn, destination_ref, function_urn, urn_arn
from executor.core.errors import InvalidParameter

PROJECTS = frozenset({"123456789012"})
ARN = "arn:aws:lambda:local-1:123456789012:function"


@pytest.mark.parametrize(
    ("name", "qualifier", "expected"),
    [
        ("resize", None, "resize:latest"),
        ("resize:v1", None, "resize:v1"),
        ("resize", "$LATEST", "resize:latest"),
        ("resize:$LATEST", "$LATEST", "resize:latest"),
        ("123456789012:function:resize", "v2", "resize:v2"),
        (f"{ARN}:resize", None, "resize:latest"),
        (f"{ARN}:resize:v3", None, "resize:v3"),
    ],
)
def test_names_partial_and_full_arns_name_a_version(
    name: str, qualifier: str | None, expected: str
) -> None:
    urn = function_urn(name, qualifier, region="local-1", projects=PROJECTS)
    assert str(urn) == f"urn:fss:local-1:123456789012:function:default:{expected}"


@pytest.mark.parametrize(
    ("name", "qualifier", "word"),
    [
        ("resize:v1", "v2", "qualifier"),
        ("arn:aws:lambda:us-east-1:123456789012:function:resize", None, "region"),
        ("arn:aws:lambda:local-1:resize", None, "FunctionName"),
        ("9resize", None, "FunctionName"),
        ("a" * 65, None, "FunctionName"),
        ("", None, "FunctionName"),
    ],
)
def test_names_that_name_nothing_here_are_refused(
    name: str, qualifier: str | None, word: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        function_urn(name, qualifier, region="local-1", projects=PROJECTS)
    assert word in refused.value.message


def test_a_key_of_several_projects_names_functions_by_arn() -> None:
    two = frozenset({"123456789012", "210987654321"})
    with pytest.raises(InvalidParameter, match="ARN"):
        function_urn("resize", None, region="local-1", projects=two)
    assert function_urn(f"{ARN}:resize", None, region="local-1", projects=two).project == (
        "123456789012"
    )


@pytest.mark.parametrize(
    ("arn", "outcome", "kind", "shown"),
    [
        (f"{ARN}:audit", "success", "FunctionGraph", f"{ARN}:audit:$LATEST"),
        (f"{ARN}:audit:v2", "failure", "FunctionGraph", f"{ARN}:audit:v2"),
        ("arn:aws:sqs:eu-west-1:123456789012:paid", "success", "SQS", None),
        ("arn:aws:sqs:eu-west-1:123456789012:paid.fifo", "failure", "SQS", None),
        ("arn:aws:sns:eu-west-1:123456789012:orders", "success", "SMN", None),
        ("arn:aws:s3:::failed-charges", "failure", "OBS", None),
        ("arn:aws:kinesis:local-1:123456789012:stream/clicks", "success", "DIS", None),
    ],
)
def test_destination_arns_map_to_kinds_and_back(
    arn: str, outcome: str, kind: str, shown: str | None
) -> None:
    ref = destination_ref(arn, outcome, region="local-1", project="123456789012")
    assert ref.destination == kind
    assert destination_arn(ref, region="local-1", project="123456789012") == (shown or arn)


@pytest.mark.parametrize(
    ("arn", "outcome", "word"),
    [
        ("arn:aws:s3:::failed-charges", "success", "on failure only"),
        ("arn:aws:events:local-1:123456789012:event-bus/default", "failure", "EventBridge"),
        ("arn:aws:lambda:local-1:210987654321:function:other", "success", "account"),
        ("arn:aws:dynamodb:local-1:123456789012:table/t", "failure", "not a Lambda"),
        ("not-an-arn", "failure", "not an ARN"),
        ("arn:aws:sqs:eu-west-1:123456789012:bad/name", "failure", "not a Lambda"),
    ],
)
def test_destinations_this_engine_cannot_serve_are_refused(
    arn: str, outcome: str, word: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        destination_ref(arn, outcome, region="local-1", project="123456789012")
    assert word in refused.value.message


def test_the_arn_of_a_urn() -> None:
    assert urn_arn("urn:fss:local-1:123456789012:function:default:resize:latest") == (
        f"{ARN}:resize:$LATEST"
    )
    assert urn_arn("urn:fss:local-1:123456789012:function:default:resize:v1", qualified=False) == (
        f"{ARN}:resize"
    )
