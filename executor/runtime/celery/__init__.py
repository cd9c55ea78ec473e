"""Celery, kombu and billiard behind one seam: the only modules of the engine that import them."""
