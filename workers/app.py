"""The workers' Celery app: ``celery -A workers worker -Q evaluate`` finds it here.

Built by the one factory (:func:`evofarm.farm.app.make_celery_app`) from the
``EVOFARM_*`` environment, so workers and scheduler agree on every setting. The
task modules are listed in ``include`` and imported when a worker starts.
"""

from __future__ import annotations

from celery import Celery

from evofarm.farm.app import make_celery_app
from evofarm.settings import get_settings

app: Celery = make_celery_app(get_settings(), main="workers")
app.conf.include = ["workers.tasks"]
