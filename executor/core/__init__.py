"""The vocabulary of the engine: URNs, configs, events, invocation records, messages, errors,
settings. Nothing here imports Celery, Redis or boto3."""
