"""Tests of the LangChain integration (real langchain-core, offline)."""
