"""Tests of the LlamaIndex integration (real llama-index-core, offline)."""
