"""evofarm.testing."""
