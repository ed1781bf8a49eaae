"""The farm scheduler: drives one campaign on the farm, generation by generation.

* :mod:`~evofarm.campaign.scheduler.driver` - :class:`Scheduler`, the generation loop;
* :mod:`~evofarm.campaign.scheduler.steady` - steady state (no generation barrier);
* :mod:`~evofarm.campaign.scheduler.breeding` - children that need no LLM, made here or batched;
* :mod:`~evofarm.campaign.scheduler.memory_hook` - an ended campaign mined into the memory;
* :mod:`~evofarm.campaign.scheduler.noise` - ``evolution.noise``: resamples as evaluate
  tasks, re-ranking by means, crowning by test;
* :mod:`~evofarm.campaign.scheduler.dispatcher` - the ``Dispatcher`` interface the
  farm implements on Celery (and a thread one for tests);
* :mod:`~evofarm.campaign.scheduler.inflight` - sending, settling and re-sending work;
* :mod:`~evofarm.campaign.scheduler.waiting` - blocking on completion events, lease renewal;
* :mod:`~evofarm.campaign.scheduler.checkpoints` - generation checkpoints and progress info;
* :mod:`~evofarm.campaign.scheduler.lease` - at most one scheduler per campaign.

Nothing here imports Celery; everything is rebuilt from the store on start.
"""
