"""``python -m executor.demo``: the product end to end on a private redis-server."""
