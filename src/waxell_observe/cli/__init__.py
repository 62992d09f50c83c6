"""The ``waxell-observe`` command line.

Each sub-command lives in its own module of this package and is registered below by
module name; importing one imports only what that command needs.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

COMMAND_MODULES: tuple[str, ...] = (
    "runs",
    "show",
    "demo",
    "serve",
    "keys",
    "policies",
    "audit",
    "prompts",
    "ui",
    "approvals",
    "datasets",
    "experiments",
    "llm_config",
)
"""Modules of this package that each define ``command`` (a click command or group)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="waxell-observe", prog_name="waxell-observe")
def main() -> None:
    """Observability and governance for AI agents: inspect runs, serve the control plane."""


for _module_name in COMMAND_MODULES:
    _module = importlib.import_module(f"waxell_observe.cli.{_module_name}")
    main.add_command(_module.command)
