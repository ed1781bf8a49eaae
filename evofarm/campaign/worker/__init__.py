"""The worker side of a campaign: what a farm worker does for one task.

:mod:`~evofarm.campaign.worker.work` breeds one child or evaluates one genome
(idempotently, signalling completion through the store), with the evaluators a
worker can be configured with (``sandbox``, ``in_process``, a factory). The
Celery tasks in ``workers/tasks.py`` are thin wrappers around it.
"""
