"""The worker's side of the sandbox: start an evaluation, serve its LLM calls, read its result.

* :mod:`~evofarm.sandbox.parent.runner` - :func:`run_sandboxed`, one sandboxed job;
* :mod:`~evofarm.sandbox.parent.pipeline` - a whole pipeline in the sandbox;
* :mod:`~evofarm.sandbox.parent.batch` - one pipeline over many cases in one sandbox;
* :mod:`~evofarm.sandbox.parent.python_runner` - runners for the ``python`` step;
* :mod:`~evofarm.sandbox.parent.llm_relay` - answers the child's LLM calls off-loop;
* :mod:`~evofarm.sandbox.parent.cli_run` - ``evofarm pipeline run --sandbox``.
"""
