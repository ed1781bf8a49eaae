"""evofarm.evolution: pipeline DNA, mutation operators, breeding and selection.

Pure and deterministic (no Celery, no Redis): the in-process loop and the farm
scheduler run exactly this logic.

* :mod:`~evofarm.evolution.genome`: :class:`Genome` (content-hash id, lineage,
  traits, mutations, scores) and :mod:`~evofarm.evolution.chromosomes` (step
  sequences, provider mappings, prompt patterns).
* :mod:`~evofarm.evolution.operators`: the registry and the six built-in
  operators; :mod:`~evofarm.evolution.crossover`; :mod:`~evofarm.evolution.repair`
  (validation, reference repair, outcome counting).
* :mod:`~evofarm.evolution.selection`: tournament, elitism, (mu+lambda),
  (mu,lambda), NSGA-II, parent pairing; :mod:`~evofarm.evolution.novelty`.
* :mod:`~evofarm.evolution.engine`: the ask/tell engine and its contract;
  :mod:`~evofarm.evolution.rng`: randomness from (seed, generation, slot).
"""
