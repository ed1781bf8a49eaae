"""evofarm.pipeline.steps."""
