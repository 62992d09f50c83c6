"""Tests of the OpenAI integration (the real ``openai`` client against a stub server)."""
