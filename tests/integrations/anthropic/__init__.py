"""Tests of the Anthropic integration (the real ``anthropic`` client against a stub server)."""
