"""Tests of the framework and provider integrations."""
