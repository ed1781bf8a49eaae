"""What every worker of the farm shares through Redis (the fleet's LLM economy).

Redis-backed implementations of interfaces the pure layers define:

* :class:`evofarm.fleet.ratelimit.RedisRateLimiter` implements
  :class:`evofarm.providers.ratelimit.RateLimiter`: one atomic token bucket per
  provider and per model for every worker process and machine, and a fleet-wide
  pause after a 429;
* :class:`evofarm.fleet.ledger.RedisLedger` implements
  :class:`evofarm.providers.ledger.BudgetLedger`: reserve-then-settle in Lua,
  counting into the campaign's store counters;
* :mod:`evofarm.fleet.services` builds them for a process from the settings
  (what the worker bootstrap and the scheduler inject).

Nothing below this package imports it (``providers`` knows nothing of Redis).
"""
