"""Built-in sinks. Each is a plugin registered through the ``waxell_observe`` entry points."""
