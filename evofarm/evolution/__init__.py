"""evofarm.evolution."""
