"""``python -m waxell_observe.cli``: the same as the ``waxell-observe`` command."""

from waxell_observe.cli import main

if __name__ == "__main__":
    main()
