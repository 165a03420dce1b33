"""Which devices an attack runs on, and one ``tf.distribute.MirroredStrategy`` per set of them.

Jobs in the pool are independent, so spreading them needs no gradient all-reduce: each replica
steps its own batch slots and takes new jobs from the shared queue. MirroredStrategy is used for
what it does well here: one compiled call runs the step loop on every replica at once.
"""

from __future__ import annotations

import contextlib
import functools

import tensorflow as tf

from ..errors import UsageError

DeviceSpec = str | int | None


def available() -> list[str]:
    """The accelerators TensorFlow sees (GPUs), or its CPUs when there are none."""
    return [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]


def resolve(spec: DeviceSpec) -> list[str] | None:
    """Device names for ``--devices``: ``None`` (TensorFlow's default placement), ``"all"``, or
    a count N taking the first N devices."""
    if spec is None:
        return None
    found = available()
    if isinstance(spec, str) and spec.strip().lower() == "all":
        return found
    try:
        count = int(spec)
    except (TypeError, ValueError):
        raise UsageError(f"--devices {spec!r} is not a device count: give 'all' or a number "
                         "such as 2") from None
    if count < 1:
        raise UsageError(f"--devices {count} must be at least 1 (or 'all')")
    if count > len(found):
        raise UsageError(f"--devices {count}: only {len(found)} device(s) visible "
                         f"({', '.join(found)}); give at most {len(found)} or 'all'")
    return found[:count]


@functools.cache
def mirrored(names: tuple[str, ...]) -> tf.distribute.MirroredStrategy:
    """One strategy per device set, so compiled replicated steps are traced once."""
    return tf.distribute.MirroredStrategy(list(names))


def strategy_for(spec: DeviceSpec) -> tf.distribute.Strategy | None:
    """The MirroredStrategy for ``--devices`` when it names more than one device, else None.

    Build the model inside ``strategy.scope()`` so every replica reads its own copy of the
    weights instead of copying them from the first device at every step.
    """
    names = resolve(spec)
    return mirrored(tuple(names)) if names is not None and len(names) > 1 else None


def scope(spec: DeviceSpec):
    """The strategy's scope for ``--devices`` (load the model inside it), or a no-op."""
    strategy = strategy_for(spec)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
