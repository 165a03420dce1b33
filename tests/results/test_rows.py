"""The summary is a function of the rows alone, checked by hand."""

import pytest

from audit.metrics import wilson_interval
from audit.results import summarise


def test_summarise_by_hand():
    def row(true, clean, attacked, adv=None, flipped=False, delivered=False, conf=0.9, ref_p=0.2):
        r = {"true_label": true, "reference_label": clean if true == "unknown" else true,
             "clean_pred": clean, "attacked": attacked, "clean_conf": conf}
        if attacked:
            r.update(adv_pred=adv, flipped=flipped, deliverable_flipped=delivered,
                     adv_ref_prob=ref_p)
        return r

    images = [
        row("cat", "cat", True, "dog", True, True),
        row("cat", "cat", True, "cat", False, False, ref_p=0.8),
        row("dog", "dog", True, "cat", True, False),
        row("dog", "cat", False),  # misclassified: not attacked
        row("unknown", "dog", True, "cat", True, True),
    ]
    s = summarise(images, ["cat", "dog"])
    assert s["n_labelled"] == 4 and s["n_correct"] == 3 and s["n_attacked"] == 4
    assert s["clean_accuracy"] == 0.75
    assert s["flip_rate"] == 0.75
    assert s["deliverable_flip_rate"] == 0.5
    assert s["robust_accuracy"] == 0.25  # only the second cat survives
    assert s["mean_confidence_drop"] == pytest.approx((0.7 + 0.1 + 0.7 + 0.7) / 4)
    assert s["per_class"]["cat"]["transitions"] == {"cat->dog": 1}
    assert s["per_class"]["dog"]["n_attacked"] == 2 and s["per_class"]["dog"]["flip_rate"] == 1
    assert s["flip_rate_ci95"] == wilson_interval(3, 4)
