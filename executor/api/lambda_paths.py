"""Which request paths belong to the Lambda API, for the parts of the server that answer before
routing."""

from __future__ import annotations

from typing import Final

PATH_PREFIXES: Final = (
    "/2015-03-31/",
    "/2014-11-13/",
    "/2017-10-31/",
    "/2019-09-25/",
    "/2019-09-30/",
    "/2024-08-31/",
)


def is_lambda_path(path: str) -> bool:
    return path.startswith(PATH_PREFIXES)
