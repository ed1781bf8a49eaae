"""evofarm.pipeline."""
