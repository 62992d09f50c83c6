"""waxell-observe auto-instrumentation for Google Gen AI SDK (Gemini API and Vertex AI) (being written)."""
