"""Celery's classes as the modules above the seam name them in type hints."""

from __future__ import annotations

from celery import Celery, Task

__all__ = ["Celery", "Task"]
