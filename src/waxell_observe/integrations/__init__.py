"""Stable import paths for the framework and provider integrations.

Each integration is its own distribution (``waxell-observe-langchain``,
``waxell-observe-llamaindex``, ...) registered under the ``waxell_observe`` entry-point
group; the modules here re-export their public names, e.g.
``waxell_observe.integrations.langchain.WaxellLangChainHandler``, and say what to install
when the integration is missing.
"""
