"""``advaudit demo``: the seed article's two side stories, run on the attack engine and checked
against their known answers. Each writes ``summary.json``, prints a table and draws GIFs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from optim_demos import draw


class LearningRate(click.ParamType):
    """A finite learning rate > 0: inf or nan would only print a table of NaNs."""

    name = "float"

    def convert(self, value, param, ctx):
        try:
            rate = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number: give a learning rate > 0 (0.1)", param, ctx)
        if not math.isfinite(rate) or rate <= 0:
            self.fail(f"{value!r} is not a learning rate: give a finite number > 0 (0.1)",
                      param, ctx)
        return rate


@click.group()
def demo() -> None:
    """Optimisation demos on the attack engine, checked against known answers."""


def _write_summary(out: Path, summary: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


@demo.command()
@click.option("--optimizer", type=click.Choice(["all", "sgd", "rmsprop", "adam"]), default="all",
              show_default=True, help="keras.optimizers to run after the two plain-GD runs.")
@click.option("--lr", type=LearningRate(), default=None,
              help="Learning rate of the Keras runs [default: sgd 0.1, rmsprop 0.2, adam 0.5].")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Steps of the Keras runs [default: 100]; the plain-GD runs take the seed's 25.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("advaudit-demo-regression"), show_default=True)
@click.option("--gif/--no-gif", default=True, show_default=True,
              help="Draw one animated GIF per run (fitted line over the data, loss curve).")
def regression(optimizer: str, lr: float | None, steps: int | None, out: Path, gif: bool) -> None:
    """Fit weight = slope * height + intercept to the seed's 150 men, through the engine."""
    from optim_demos import regression as reg

    data = reg.load_data()
    ref = reg.closed_form(data)
    names = list(reg.KERAS_OPTIMIZERS) if optimizer == "all" else [optimizer]
    runs = [reg.gradient_descent(data, normalized=False),
            reg.gradient_descent(data, normalized=True)]
    runs += [reg.keras_run(data, name, steps or reg.KERAS_STEPS, lr) for name in names]
    notes = reg.observations(runs, ref)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in runs:
        row = run.summary(ref)
        if gif:
            row["gif"] = _regression_gif(data, run, ref, out).name
        rows.append(row)
    summary = {
        "data": {"rows": int(len(data.height)), "source": "optim_demos/data/height_v_weight.csv"},
        "closed_form": {"slope": ref.slope, "intercept": ref.intercept, "mse": ref.mse},
        "runs": rows,
        "observations": notes,
    }
    path = _write_summary(out, summary)
    click.echo(f"closed form (numpy lstsq): slope {ref.slope:.4f}  intercept {ref.intercept:.3f}"
               f"  MSE {ref.mse:.2f}")
    click.echo(f"{'run':22} {'data':13} {'steps':>5} {'lr':>7} {'slope':>9} {'intercept':>10} "
               f"{'MSE':>9} {'MSE/opt':>8}")
    for row in rows:
        data_kind = "standardised" if row["normalized"] else "raw"
        click.echo(f"{row['name']:22} {data_kind:13} {row['steps']:5d} {row['lr']:7.2g} "
                   f"{row['slope']:9.4f} {row['intercept']:10.3f} {row['mse']:9.2f} "
                   f"{row['mse_over_optimal']:8.4f}")
    for note in notes:
        click.echo("- " + note)
    click.echo(f"wrote {path}" + (" and one GIF per run" if gif else ""))


def _regression_gif(data, run, ref, out: Path) -> Path:
    frames = []
    for i in draw.frame_indices(len(run.lines), 60):
        slope, intercept = run.lines[i]
        title = (f"{run.name}: step {i}/{run.steps}  slope {slope:.3f}  intercept "
                 f"{intercept:.2f}  MSE {run.losses[i]:.1f}")
        frames.append(draw.regression_frame(data.height, data.weight, (slope, intercept),
                                            (ref.slope, ref.intercept), run.losses[: i + 1],
                                            run.steps, ref.mse, title))
    return draw.save_gif(frames, out / f"{run.name}.gif", ms=120 if run.steps <= 30 else 60)


@demo.command()
@click.option("--n", "n", type=click.IntRange(2), default=20, show_default=True,
              help="Number of unit vectors.")
@click.option("--dims", type=click.IntRange(2), default=2, show_default=True,
              help="Dimensions (2, 3 and 32 have known optima for N=20 / N=4..14 in 3-D).")
@click.option("--loss", type=click.Choice(["all", "min-angle", "min-angle-var", "force"]),
              default="all", show_default=True, help="Which of the seed's objectives to run.")
@click.option("--steps", type=click.IntRange(12), default=2400, show_default=True,
              help="Total steps, in 12 stages of growing sharpness and falling step size.")
@click.option("--restarts", type=click.IntRange(1), default=16, show_default=True,
              help="Random starts run together as batch rows; the best is kept.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("advaudit-demo-spread"), show_default=True)
@click.option("--gif/--no-gif", default=True, show_default=True,
              help="Animate the best restart (2-D and 3-D only).")
def spread(n: int, dims: int, loss: str, steps: int, restarts: int, seed: int, out: Path,
           gif: bool) -> None:
    """Spread N unit vectors in D dimensions as far apart as possible, through the engine."""
    from optim_demos import spread as sp

    losses = list(sp.LOSSES) if loss == "all" else [loss]
    animate = gif and dims in (2, 3)
    results = [sp.solve(n, dims, name, steps, restarts, seed, snapshots=60 if animate else 0)
               for name in losses]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for result in results:
        row = result.summary()
        row["gif"] = _spread_gif(result, out).name if animate else None
        rows.append(row)
    top = max(row["min_angle_deg"] for row in rows)  # ties (float noise) go to the first loss
    best = next(k for k, row in enumerate(rows) if row["min_angle_deg"] >= top - 1e-4)
    notes = sp.observations(results)
    summary = {**{k: v for k, v in rows[best].items() if k != "gif"}, "runs": rows,
               "observations": notes}
    path = _write_summary(out, summary)
    opt = results[0].optimum_deg
    known = f"{opt:.4f} deg ({results[0].optimum_source})" if opt is not None else "not known"
    click.echo(f"N={n} unit vectors in {dims}-D, {restarts} restarts, {steps} steps; "
               f"optimum {known}")
    click.echo(f"{'loss':15} {'min angle':>10} {'gap':>9} {'restarts<0.05':>14} {'seconds':>8}")
    for row in rows:
        gap = "-" if row["gap_deg"] is None else f"{row['gap_deg']:.4f}"
        within = row["restarts_within_0.05_deg"]
        within = "-" if within is None else f"{within}/{restarts}"
        click.echo(f"{row['loss']:15} {row['min_angle_deg']:10.4f} {gap:>9} {within:>14} "
                   f"{row['seconds']:8.1f}")
    for note in notes:
        click.echo("- " + note)
    click.echo(f"best: {rows[best]['loss']}; wrote {path}")


def _spread_gif(result, out: Path) -> Path:
    from optim_demos.spread import min_angles_deg

    frames = []
    count = len(result.frames)
    for k, (step, x) in enumerate(result.frames):
        angle = float(min_angles_deg(x[None])[0])
        target = "" if result.optimum_deg is None else f" (optimum {result.optimum_deg:.3f})"
        frames.append(draw.spread_frame(
            x, f"{result.loss}: N={result.n} in {result.dims}-D",
            f"step {step}/{result.steps}  min angle {angle:.3f} deg{target}",
            yaw=2 * math.pi * k / max(count, 1), contact_deg=angle + 0.5))
    return draw.save_gif(frames, out / f"spread-{result.loss}.gif", ms=80)
