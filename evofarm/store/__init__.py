"""evofarm.store."""
