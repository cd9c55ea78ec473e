"""``executor bench``: the cost of this engine against plain Celery, measured side by side.

Five scenarios run against one private redis-server and workers with the same settings:
(a) a plain Celery task, (b) ``invoke_async`` of a no-op function, (c) a plain Celery task
with a ``link`` callback, (d) an invocation whose success destination is another function,
(e) an invocation whose success destination is OBS (a local S3 server). ``runner.Bench`` runs
them; ``report`` holds what they measured.
"""
