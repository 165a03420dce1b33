import click


@click.group()
def demo() -> None:
    """Optimisation demos on the attack engine."""
