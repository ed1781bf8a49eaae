"""evofarm.dashboard."""
