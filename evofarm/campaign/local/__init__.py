"""The in-process campaign loop (``evofarm run --in-process``) and what only it uses.

:mod:`~evofarm.campaign.local.loop` drives the engine in this process and gives
the reference result the farm must reproduce; :mod:`~evofarm.campaign.local.evaluator`
is its default evaluator.
"""
