"""``advaudit victims``: list the named victims, fetch the Kaggle CNN, train catdog-mini."""

from __future__ import annotations

import click


@click.group()
def victims() -> None:
    """Named victim models: list, fetch, train."""


@victims.command("list")
def list_victims() -> None:
    """Show the named victims, where their weights are, and whether they are present."""
    from victims.registry import DEFAULT_VICTIM, VICTIMS

    for name, v in VICTIMS.items():
        path = v.weights_path()
        state = "present" if path.exists() else "not cached"
        default = " (default)" if name == DEFAULT_VICTIM else ""
        click.echo(f"{name}{default}: {v.description}")
        click.echo(f"    weights: {path} [{state}]")


@victims.command()
@click.argument("name", type=click.Choice(["kaggle-catdog"]))
def fetch(name: str) -> None:
    """Download NAME's weights with the Kaggle API into the cache ($ADVAUDIT_CACHE)."""
    from victims.kaggle_fetch import fetch_kaggle_catdog
    from victims.registry import cache_dir

    path = fetch_kaggle_catdog(cache_dir())
    click.echo(f"{name}: weights cached at {path}")


@victims.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def train(ctx: click.Context) -> None:
    """Train catdog-mini (same options as 'python -m victims.train --help')."""
    from victims.train import main as train_main

    train_main.main(args=ctx.args, standalone_mode=False)
