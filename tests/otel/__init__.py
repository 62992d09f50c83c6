"""Tests of the OpenTelemetry exporter plugin and the OTLP receiver."""
