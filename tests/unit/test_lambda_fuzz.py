"""Hypothesis fuzz of the Lambda API: signed requests with generated function names,
qualifiers, queries, headers and bodies (JSON or not) never get a 5xx, and every refusal is in
Lambda's shape."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor import Client
from executor.api.app import create_api
from executor.api.auth import Authenticator
from tests.support.names import PROJECT, REGION
from tests.support.sigv4 import AK, SK, signed

SEEN: list[int] = []
OPERATIONS = [
    ("POST", "/2015-03-31/functions/{}/invocations"),
    ("POST", "/2014-11-13/functions/{}/invoke-async"),
    ("PUT", "/2019-09-25/functions/{}/event-invoke-config"),
    ("POST", "/2019-09-25/functions/{}/event-invoke-config"),
    ("GET", "/2019-09-25/functions/{}/event-invoke-config"),
    ("DELETE", "/2019-09-25/functions/{}/event-invoke-config"),
    ("GET", "/2019-09-25/functions/{}/event-invoke-config/list"),
    ("PUT", "/2017-10-31/functions/{}/concurrency"),
    ("DELETE", "/2017-10-31/functions/{}/concurrency"),
    ("GET", "/2019-09-30/functions/{}/concurrency"),
    ("PUT", "/2024-08-31/functions/{}/recursion-config"),
    ("GET", "/2024-08-31/functions/{}/recursion-config"),
    ("GET", "/2015-03-31/functions/{}"),
    ("GET", "/2015-03-31/functions/"),
]
ARN = f"arn:aws:lambda:{REGION}:{PROJECT}:function:"
names = st.one_of(
    st.sampled_from(
        ["hello", "next", "strict", "nobody", f"{ARN}hello", f"{PROJECT}:function:next"]
    ),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(["", ARN, "arn:aws:sqs:x:y:", "hello:"]),
        st.text(min_size=1, max_size=40),
    ),
)
destinations = st.one_of(
    st.sampled_from(
        [
            f"{ARN}next",
            "arn:aws:s3:::bucket-1",
            "arn:aws:sns:r1:p1:topic",
            "arn:aws:sqs:r1:p1:queue",
            "arn:aws:events:r1:p1:event-bus/b",
            "",
            "x",
        ]
    ),
    st.text(max_size=60),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
config_bodies = st.fixed_dictionaries(
    {},
    optional={
        "MaximumRetryAttempts": json_values | st.integers(-5, 5),
        "MaximumEventAgeInSeconds": json_values | st.integers(0, 30_000),
        "DestinationConfig": st.fixed_dictionaries(
            {},
            optional={
                "OnSuccess": st.fixed_dictionaries({}, optional={"Destination": destinations}),
                "OnFailure": st.fixed_dictionaries({}, optional={"Destination": destinations})
                | json_values,
            },
        )
        | json_values,
        "ReservedConcurrentExecutions": json_values | st.integers(-3, 200_000),
        "RecursiveLoop": st.sampled_from(["Allow", "Terminate"]) | json_values,
    },
)
bodies = st.one_of(
    config_bodies.map(lambda b: json.dumps(b).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
queries = st.dictionaries(
    st.sampled_from(["Qualifier", "Marker", "MaxItems", "Other"]),
    st.one_of(st.text(max_size=20), st.integers(-5, 100).map(str)),
    max_size=3,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Amz-Invocation-Type": st.sampled_from(["Event", "DryRun", "RequestResponse", "", "x"]),
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "application/x-amz-json-1.1"]
        ),
    },
)


def test_no_generated_request_gets_a_server_error(fake_client: Client) -> None:
    auth = Authenticator({}, {AK: (SK, frozenset({PROJECT}))})
    web = TestClient(create_api(fake_client, fake_client.settings, authenticator=auth))

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        operation=st.sampled_from(OPERATIONS),
        name=names,
        query=queries,
        header=headers,
        body=bodies,
    )
    def check(
        operation: tuple[str, str],
        name: str,
        query: dict[str, str],
        header: dict[str, str],
        body: bytes,
    ) -> None:
        method, template = operation
        path = template.format(quote(name, safe=""))
        url, sent = signed(method, path, body, query=urlencode(query), headers=header)
        answer = web.request(method, url, content=body, headers=sent)
        assert answer.status_code < 500, (method, path, query, body, answer.text)
        SEEN.append(answer.status_code)
        if answer.status_code >= 400:
            assert answer.headers.get("x-amzn-ErrorType"), answer.text
            assert set(answer.json()) == {"Type", "message", "__type"}

    check()
    # The signature held: the fuzz reached the operations, not only the verifier.
    assert {200, 202, 204, 400, 404} <= set(SEEN)
