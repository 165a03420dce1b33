"""``--devices``: which devices are picked, and two devices give exactly one device's results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.engine import devices
from audit.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def test_device_specs_resolve_or_fail_in_one_line():
    visible = devices.available()
    assert devices.resolve(None) is None and devices.strategy_for(None) is None
    assert devices.resolve("all") == visible and devices.resolve(" ALL ") == visible
    assert devices.resolve(1) == visible[:1] and devices.strategy_for(1) is None
    with pytest.raises(UsageError, match=f"only {len(visible)} device"):
        devices.resolve(len(visible) + 1)
    for bad in (0, "two", "1.5"):
        with pytest.raises(UsageError, match="--devices"):
            devices.resolve(bad)


def test_two_devices_give_identical_results(tiny_model_file, photo_folder, tmp_path):
    """The pool and the audit command on a CPU split into two logical devices (a process of its
    own: the split must happen before TensorFlow starts)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    done = subprocess.run(
        [sys.executable, "-m", "support.two_cpus", str(tiny_model_file), str(photo_folder),
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(found["devices"]) == 2
    assert found["pool"] == [] and found["audit"] == []
    assert len(list((tmp_path / "two" / "adversarial").glob("*.png"))) >= 10
