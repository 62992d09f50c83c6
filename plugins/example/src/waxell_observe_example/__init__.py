"""A minimal waxell-observe plugin: a JSON-lines file sink (see ``plugin``)."""
