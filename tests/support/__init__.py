"""Test support shared by tests and bench scripts (a fake OpenAI-compatible server)."""
