"""evofarm.evolution.operators."""
