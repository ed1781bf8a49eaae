"""The child side: everything that runs in the processes the worker starts.

The zygote (:mod:`~evofarm.sandbox.child.zygote`, started as
``python -m evofarm.sandbox.child.zygote``) forks one supervisor per evaluation
(:mod:`~evofarm.sandbox.child.spawn`), which applies the isolation
(:mod:`~evofarm.sandbox.child.isolation`: namespaces, mounts, rlimits, seccomp)
and runs the candidate (:mod:`~evofarm.sandbox.child.serve`) under an audit hook
(:mod:`~evofarm.sandbox.child.guard`). The candidate runs its job
(:mod:`~evofarm.sandbox.child.pipeline_job`, :mod:`~evofarm.sandbox.child.batch_job`,
:mod:`~evofarm.sandbox.child.candidate`), reaches LLMs only through the pipe
(:mod:`~evofarm.sandbox.child.proxy`) and classifies what happened
(:mod:`~evofarm.sandbox.child.classify`).

This package's ``__init__`` imports nothing: the zygote starts from it.
"""
