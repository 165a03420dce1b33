"""Split the CPU into two logical devices and run advaudit on one device and on both.

Logical devices must be configured before TensorFlow initialises, so the ``--devices`` tests run
this in a process of its own: ``python -m support.two_cpus MODEL IMAGES WORKDIR``. It compares
the engine's pool (jobs finishing at different steps, more jobs than slots) and the ``audit``
command on the tiny model, and prints one JSON line with what differed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tensorflow as tf

from .timings import without_timings


def split_cpu() -> list[str]:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def pool_differences() -> list[str]:
    import numpy as np

    from audit import engine

    rng = np.random.default_rng(0)
    n = 13
    x0 = rng.normal(size=(n, 4)).astype(np.float32)

    def objective(x, aux):
        return tf.reduce_sum(tf.square(x), axis=1), {"norm": tf.norm(x, axis=1)}

    def stop(values, extras, aux):
        return values < aux["threshold"]

    program = engine.Descent(objective, engine.GradientStep(0.1), stop_when=stop)
    consts = {"x0": x0, "radius": np.full(n, np.inf, np.float32),
              "threshold": rng.uniform(0.001, 1.0, n).astype(np.float32)}
    found = []
    for jobs in (n, 1):  # more jobs than slots; one job, so one device has none
        some = {k: v[:jobs] for k, v in consts.items()}
        one = engine.run_pool(program, x0[:jobs], some, max_steps=40, batch_size=4)
        two = engine.run_pool(program, x0[:jobs], some, max_steps=40, batch_size=4, devices=2)
        found += [f"{jobs} jobs: {name}" for name, a, b in (
            ("x", one.x, two.x), ("steps", one.steps, two.steps),
            ("success", one.success, two.success),
            ("norm", one.extras["norm"], two.extras["norm"])) if not np.array_equal(a, b)]
        if one.evaluations != two.evaluations:
            found.append(f"{jobs} jobs: evaluations {one.evaluations} != {two.evaluations}")
    return found


def audit_differences(model: str, images: str, work: Path) -> list[str]:
    from audit.cli import main

    outs = {}
    for name, extra in (("one", []), ("two", ["--devices", "2"])):
        out = work / name
        try:
            main(["audit", model, "--images", images, "--out", str(out), "--labels", "cat,dog",
                  "--eps", "16", "--step", "4", "--steps", "10", "--no-report", *extra],
                 standalone_mode=False)
        except SystemExit as exc:  # exit 1 is the gate, not an error
            if exc.code not in (0, None):
                return [f"{name}: exit {exc.code}"]
        outs[name] = out
    found = []
    one, two = (without_timings(json.loads((outs[k] / "results.json").read_text()))
                for k in ("one", "two"))
    found += [f"results.json {key}" for key in one if one[key] != two.get(key)]
    for png in sorted((outs["one"] / "adversarial").glob("*.png")):
        if png.read_bytes() != (outs["two"] / "adversarial" / png.name).read_bytes():
            found.append(f"adversarial/{png.name}")
    return found


def main() -> None:
    model, images, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    names = split_cpu()
    print(json.dumps({"devices": names, "pool": pool_differences(),
                      "audit": audit_differences(model, images, work)}))


if __name__ == "__main__":
    main()
