"""Results without their timings, which differ between any two runs of the same audit."""

from __future__ import annotations

TIMINGS = {"seconds", "attack_seconds", "img_steps_per_s", "timestamp", "command_line"}


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value
