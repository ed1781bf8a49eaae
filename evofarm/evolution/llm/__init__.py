"""LLM-driven proposals: the pure half (no provider, no process, no I/O).

* :mod:`.proposal` turns a proposer's untrusted reply into pipeline data or a
  :class:`~evofarm.evolution.llm.proposal.ProposalRejected` with a counted reason;
* :mod:`.prompting` renders a parent, its evidence and earlier attempts into the
  text inputs of the meta pipelines (deterministically);
* :mod:`.runtime` is the interface through which operators reach an LLM
  (:class:`~evofarm.evolution.llm.runtime.ProposerRuntime`); the campaign layer
  implements it (:mod:`evofarm.campaign.proposer`) and puts it in the operator
  context, so operators stay functions of ``(genome, rng, context)``.
"""
