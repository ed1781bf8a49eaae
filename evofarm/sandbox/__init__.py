"""evofarm.sandbox: run one candidate evaluation in a child process it can kill.

Public API (import from the modules; this package imports nothing so that
``evofarm.sandbox.limits`` stays cheap to import):

* :func:`evofarm.sandbox.runner.run_sandboxed` - run a
  :class:`~evofarm.sandbox.job.PythonJob` or
  :class:`~evofarm.sandbox.job.PipelineJob`; returns a
  :class:`~evofarm.sandbox.outcome.SandboxResult`.
* :func:`evofarm.sandbox.sandboxed_pipeline.run_pipeline_sandboxed` - the same
  for a :class:`~evofarm.pipeline.schema.Pipeline` (what the farm calls).
* :class:`evofarm.sandbox.limits.SandboxLimits`,
  :class:`evofarm.sandbox.outcome.Outcome`.
* :mod:`evofarm.sandbox.python_runner` - runners for the ``python`` step.

See ``docs/sandbox.md`` for the isolation, the degraded mode and the outcomes.
"""
