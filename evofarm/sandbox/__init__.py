"""evofarm.sandbox."""
