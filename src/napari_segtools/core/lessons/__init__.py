"""The lecture notes' toy problems, each a small function whose answer a test checks."""
