"""evofarm.campaign."""
