"""evofarm.evolution.selection."""
