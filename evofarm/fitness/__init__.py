"""evofarm.fitness."""
