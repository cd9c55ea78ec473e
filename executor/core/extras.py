"""The optional features of the package and the extra that installs each.

``pip install async-executor`` is what a producer needs (invoke, status, async configurations)
and what a worker needs to run functions; the HTTP API and console, Flower, tracing, the
Prometheus exporter, the destinations that talk to cloud services and the bench come with an
extra each. A feature used without its extra says in one line which one to install.
"""

from __future__ import annotations

from importlib.util import find_spec

# The top-level modules each extra brings; a feature of the extra needs all of them.
MODULES: dict[str, tuple[str, ...]] = {
    "api": ("fastapi", "uvicorn", "jinja2", "itsdangerous", "pygal", "botocore"),
    "aws": ("boto3", "botocore"),
    "flower": ("flower",),
    "otel": ("opentelemetry",),
    "metrics": ("prometheus_client",),
    "bench": ("psutil", "moto", "boto3", "fastapi", "uvicorn"),
}


def installed(module: str) -> bool:
    """Whether ``module`` (a top-level name) can be imported, without importing it."""
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [module for module in MODULES[extra] if not installed(module)]


def install_hint(extra: str) -> str:
    return f"pip install 'async-executor[{extra}]'"


def needs(feature: str, extra: str, absent: list[str]) -> str:
    """One line: what ``feature`` needs that is not installed, and the extra that brings it."""
    return f"{feature} needs the [{extra}] extra ({', '.join(absent)} not installed): " + (
        install_hint(extra)
    )


def extra_of(module: str | None) -> str | None:
    """The extra that brings the top-level package of ``module`` (a dotted name), if any."""
    top = (module or "").partition(".")[0]
    # aws first: a destination that misses botocore wants [aws], not the API's [api].
    for extra in ("aws", "api", "flower", "otel", "metrics", "bench"):
        if top in MODULES[extra]:
            return extra
    return None
