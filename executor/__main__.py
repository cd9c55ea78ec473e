"""``python -m executor`` is the ``executor`` command."""

from executor.cli import main

main()
