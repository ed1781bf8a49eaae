"""evofarm.campaign: what a campaign is, and the code that drives one.

Layout (each subpackage's docstring says more):

* this package: the campaign itself and what every driver shares -
  :mod:`~evofarm.campaign.spec` (the campaign file), :mod:`~evofarm.campaign.bundle`
  (the self-contained record the farm stores), :mod:`~evofarm.campaign.budgets`,
  :mod:`~evofarm.campaign.lifecycle` (statuses and transitions),
  :mod:`~evofarm.campaign.control` (submit, stop, kill: what the CLI calls),
  :mod:`~evofarm.campaign.candidate_runtime` (the runtime and providers a
  candidate runs with, in any process) and :mod:`~evofarm.campaign.provider_stack`
  (the response cache and rate limits wrapped around those providers);
* :mod:`evofarm.campaign.scheduler`: the farm scheduler (generation driver,
  work in flight, waiting, checkpoints, lease, the dispatcher interface);
* :mod:`evofarm.campaign.worker`: what a farm worker does for one task;
* :mod:`evofarm.campaign.local`: the in-process loop (``evofarm run --in-process``);
* :mod:`evofarm.campaign.reports`: output files and reading a campaign back.
"""
