"""What a campaign leaves behind and how it is read back.

:mod:`~evofarm.campaign.reports.outputs` writes summary.json, best.yaml and
fitness-history.jsonl (the in-process loop and the farm share it);
:mod:`~evofarm.campaign.reports.readback` rebuilds progress snapshots, outputs,
the best genome and exports of a farm campaign from the store.
"""
