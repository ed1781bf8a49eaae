"""The agent workflow on one pipeline: judge, propose, re-judge, keep or revert.

Modules: :mod:`~evofarm.agent.workflows` (per-workflow budgets, gates and the
proposer instructions per band), :mod:`~evofarm.agent.propose` (the one seam
that asks for an improved pipeline), :mod:`~evofarm.agent.history` (the fitness
history JSONL and its trend), :mod:`~evofarm.agent.evolve` (the loop).
"""
