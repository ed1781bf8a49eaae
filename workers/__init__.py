"""evofarm workers: thin Celery tasks that call into evofarm.

``celery -A workers worker`` looks up ``workers.app``: it is the Celery app
(re-exported here; the module of the same name builds it).
"""

from __future__ import annotations

from workers.app import app

__all__ = ["app"]
