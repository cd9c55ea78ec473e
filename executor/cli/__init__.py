"""The ``executor`` command."""

from executor.cli.main import cli, main

__all__ = ["cli", "main"]
