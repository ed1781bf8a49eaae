"""The wire protocol between the worker (parent) and the sandboxed child: JSON only.

* :mod:`~evofarm.sandbox.wire.job` - what a sandbox runs (python call, pipeline, batch);
* :mod:`~evofarm.sandbox.wire.outcome` - what comes back (outcome, usage, isolation);
* :mod:`~evofarm.sandbox.wire.channel` - framed, size-capped JSON messages over pipes;
* :mod:`~evofarm.sandbox.wire.result_codec` - a result encoded under a byte cap;
* :mod:`~evofarm.sandbox.wire.codes` - exit statuses the parent understands.

Both sides import this package; it imports neither.
"""
