"""``advaudit bench`` on a user's model whose classes are not cat and dog."""

from __future__ import annotations

import json

from click.testing import CliRunner

from audit.cli import main


def test_bench_on_a_model_without_cat_and_dog_labels(tiny_model_file):
    r = CliRunner().invoke(main, ["bench", str(tiny_model_file), "--batch-size", "4",
                                  "--steps", "1", "--repeats", "1", "--rounds", "1",
                                  "--no-demos", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["raw_grad_per_s"] > 0 and out["attack_img_steps_per_s"] > 0
    cost = out["audit_cost"]  # attacked away from the model's own predictions on the samples
    assert cost["model"] == str(tiny_model_file) and cost["images"] == 96
    assert cost["auto_cost_per_image"] > 0 and cost["sweep_cost_per_image"] > 0
