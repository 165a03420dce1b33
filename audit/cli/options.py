"""Option types and helpers the commands share."""

from __future__ import annotations

import sys
from fractions import Fraction

import click


class CountsType(click.ParamType):
    """A budget in pixel counts: ``4`` means 4/255, and ``4/255`` is accepted as the same."""

    name = "counts"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        try:
            if "/" in text:
                return float(Fraction(text) * 255)
            return float(text)
        except (ValueError, ZeroDivisionError):
            self.fail(f"{value!r} is not a budget: give counts (4) or a fraction (4/255)",
                      param, ctx)


COUNTS = CountsType()


def progress_factory(enabled: bool):
    """Progress bars on stderr when it is a terminal; None-returning otherwise."""

    def factory(label: str, total: int):
        if not enabled or total <= 0:
            return None
        bar = click.progressbar(length=total, label=label, file=sys.stderr)
        bar.__enter__()
        state = {"done": 0}

        def tick(evaluations: int, finished: int) -> None:
            state["done"] += finished
            bar.update(finished)
            if state["done"] >= total:
                bar.__exit__(None, None, None)

        return tick

    return factory
