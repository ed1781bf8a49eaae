"""evofarm.cli."""
