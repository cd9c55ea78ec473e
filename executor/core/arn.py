"""AWS ARNs and Lambda function names, mapped onto this engine's URNs and destination kinds.

A Lambda function name is ``name``, ``name:qualifier``, ``account:function:name[:qualifier]``
or ``arn:aws:lambda:region:account:function:name[:qualifier]``. The account is the project,
the region the engine's region, and a function is one of the package ``default``; ``$LATEST``
is the version ``latest``. Destination ARNs map to kinds: ``lambda`` to FunctionGraph (another
function of this engine), ``sns`` to SMN, ``s3`` to OBS (failures only, as Lambda), ``sqs`` to
SQS, ``kinesis`` to DIS; an EventBridge bus is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from executor.core.config import DestinationRef
from executor.core.constants import DEFAULT_PACKAGE, DEFAULT_QUALIFIER
from executor.core.errors import InvalidParameter
from executor.core.urn import FunctionURN, parse_urn

LATEST: Final = "$LATEST"
_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_QUALIFIER = r"\$LATEST|[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_ACCOUNT = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_FUNCTION = re.compile(
    rf"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[A-Za-z0-9-]+):)?"
    rf"(?:(?P<account>{_ACCOUNT}):function:)?(?P<name>{_NAME})(?::(?P<qualifier>{_QUALIFIER}))?$"
)
_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:(?P<service>[a-z0-9-]+):(?P<region>[A-Za-z0-9-]*):"
    r"(?P<account>[A-Za-z0-9_.-]*):(?P<resource>.+)$"
)
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,75}(\.fifo)?$")
_STREAM = re.compile(r"^stream/(?P<name>[A-Za-z0-9_.-]{1,64})$")


@dataclass(frozen=True)
class LambdaName:
    """A parsed ``FunctionName``: what it says, the missing parts ``None``."""

    name: str
    account: str | None = None
    region: str | None = None
    qualifier: str | None = None


def parse_function_name(value: str) -> LambdaName:
    match = _FUNCTION.match(value)
    if match is None or (match["region"] is not None and match["account"] is None):
        raise InvalidParameter(
            f"FunctionName {value[:300]!r} is not a function name, partial ARN "
            "(account:function:name) or ARN (arn:aws:lambda:region:account:function:name); "
            "a name starts with a letter, then letters, digits, '-' or '_' (at most 64)"
        )
    return LambdaName(match["name"], match["account"], match["region"], match["qualifier"])


def to_version(qualifier: str) -> str:
    """A Lambda qualifier as this engine's version (``$LATEST`` is ``latest``)."""
    return DEFAULT_QUALIFIER if qualifier == LATEST else qualifier


def to_qualifier(version: str) -> str:
    return LATEST if version == DEFAULT_QUALIFIER else version


def function_urn(
    value: str, qualifier: str | None, *, region: str, projects: frozenset[str]
) -> FunctionURN:
    """The URN a ``FunctionName`` (and ``Qualifier``) names, within the caller's projects."""
    name = parse_function_name(value)
    if name.region is not None and name.region != region:
        raise InvalidParameter(
            f"{value} names the region {name.region!r}; this engine serves {region!r}"
        )
    if name.qualifier and qualifier and name.qualifier != qualifier:
        raise InvalidParameter(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    project = name.account
    if project is None:
        if len(projects) != 1:
            raise InvalidParameter(
                f"the access key is bound to {len(projects)} projects: name the function by an "
                "ARN or partial ARN whose account is the project"
            )
        project = next(iter(projects))
    version = to_version(qualifier or name.qualifier or LATEST)
    return parse_urn(f"{DEFAULT_PACKAGE}:{name.name}:{version}", region=region, project=project)


def function_arn(urn: FunctionURN, *, qualified: bool = True) -> str:
    arn = f"arn:aws:lambda:{urn.region}:{urn.project}:function:{urn.name}"
    return f"{arn}:{to_qualifier(urn.qualifier)}" if qualified else arn


def urn_arn(urn: str, *, qualified: bool = True) -> str:
    return function_arn(parse_urn(urn, region="", project=""), qualified=qualified)


def destination_ref(arn: str, outcome: str, *, region: str, project: str) -> DestinationRef:
    """The destination an ARN names, for ``outcome`` (``success`` or ``failure``)."""
    match = _ARN.match(arn)
    if match is None:
        raise InvalidParameter(f"Destination {arn[:300]!r} is not an ARN (arn:aws:service:...)")
    service, resource = match["service"], match["resource"]
    kind, param = _mapped(service, resource, match, arn, region=region, project=project)
    if kind == "OBS" and outcome != "failure":
        raise InvalidParameter("An S3 bucket is a destination on failure only: set it as OnFailure")
    return DestinationRef.model_validate({"destination": kind, "param": param})


def _mapped(
    service: str, resource: str, match: re.Match[str], arn: str, *, region: str, project: str
) -> tuple[str, dict[str, Any]]:
    if service == "lambda":
        target = function_urn(arn, None, region=region, projects=frozenset({project}))
        if target.project != project:
            raise InvalidParameter(
                f"{arn} is a function of account {target.project!r}; a destination function "
                f"must be in the caller's account {project!r}"
            )
        return "FunctionGraph", {"func_urn": str(target)}
    if service == "sns" and _TOPIC.match(resource):
        return "SMN", {"topic_urn": f"urn:smn:{match['region']}:{match['account']}:{resource}"}
    if service == "sqs" and _QUEUE.match(resource) and match["region"] and match["account"]:
        return "SQS", {"queue_arn": arn}
    if service == "s3" and not match["region"] and not match["account"]:
        return "OBS", {"bucket": resource}
    if service == "kinesis" and (stream := _STREAM.match(resource)):
        return "DIS", {"stream_name": stream["name"]}
    if service == "events":
        raise InvalidParameter(
            f"{arn}: EventBridge destinations are not served by this engine; use an SQS queue, "
            "an SNS topic, an S3 bucket (on failure) or a Lambda function"
        )
    raise InvalidParameter(
        f"Destination {arn[:300]!r} is not a Lambda function, SQS queue, SNS topic or S3 bucket ARN"
    )


def destination_arn(ref: DestinationRef, *, region: str, project: str) -> str:
    """The ARN a stored destination shows through the Lambda API."""
    param = ref.decoded().model_dump()
    if ref.destination == "FunctionGraph":
        return urn_arn(param["func_urn"])
    if ref.destination == "SMN":
        _, _, topic_region, account, topic = param["topic_urn"].split(":", 4)
        return f"arn:aws:sns:{topic_region}:{account}:{topic}"
    if ref.destination == "SQS":
        return str(param["queue_arn"])
    if ref.destination == "OBS":
        return f"arn:aws:s3:::{param['bucket']}"
    return f"arn:aws:kinesis:{region}:{project}:stream/{param['stream_name']}"
