"""evofarm.farm."""
