"""``advaudit victims``: list the named victims, fetch the Kaggle CNN, train catdog-mini."""

from __future__ import annotations

from pathlib import Path

import click

from victims.registry import VICTIMS


@click.group()
def victims() -> None:
    """Named victim models: list, fetch, train."""


@victims.command("list")
def list_victims() -> None:
    """Show the named victims, where their weights are, and whether they are present."""
    from victims.registry import DEFAULT_VICTIM

    for name, v in VICTIMS.items():
        path = v.weights_path()
        state = "present" if path.exists() else "not cached"
        default = " (default)" if name == DEFAULT_VICTIM else ""
        click.echo(f"{name}{default}: {v.description}")
        click.echo(f"    weights: {path} [{state}]")


@victims.command()
@click.argument("name", type=click.Choice([n for n, v in VICTIMS.items() if v.fetchable]))
def fetch(name: str) -> None:
    """Download NAME's weights with the Kaggle API into the cache ($ADVAUDIT_CACHE)."""
    from victims.kaggle_fetch import fetch_kaggle_catdog
    from victims.registry import cache_dir

    path = fetch_kaggle_catdog(cache_dir())
    click.echo(f"{name}: weights cached at {path}")


@victims.command()
@click.option("--data", multiple=True, required=True, help="Training folder (cat/, dog/ inside).")
@click.option("--exclude", multiple=True, help="Folder whose photos must not be trained on.")
@click.option("--test", multiple=True, help="Evaluation folder; accuracy is printed per folder.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .keras file.")
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3,
              show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
def train(data, exclude, test, out, epochs, batch_size, lr, seed) -> None:
    """Train catdog-mini and write its weights with a record of the run beside them."""
    from victims.train import train_catdog_mini

    train_catdog_mini(data=data, exclude=exclude, test=test, out=out, epochs=epochs,
                      batch_size=batch_size, lr=lr, seed=seed, log=click.echo)
