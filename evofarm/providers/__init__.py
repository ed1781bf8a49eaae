"""LLM providers behind one interface (see :mod:`evofarm.providers.base`)."""
