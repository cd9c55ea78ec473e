"""The engine at work on Celery: the app, the invocation task, lifecycle, delivery, reconciler."""
