"""Sanity checks that tell a reviewer whether the audit's numbers can be believed.

Each check re-attacks a small sample (cheap) and yields pass/warn with one line of meaning. They
catch the classic failures of gradient-based audits: an attack that changes images at eps=0, a
model whose gradients are masked (large budgets should flip almost everything), and flip rates
that fall as the budget grows.
"""

from __future__ import annotations

import numpy as np

from . import engine
from .attacks import ATTACKS, descent
from .sweep import kurakin_steps


def _bim_on_sample(classifier, x0, aux, eps, steps, loss, batch_size):
    bim = ATTACKS["bim"]
    budget = bim.budget(eps, 4.0 if eps >= 16 else 1.0, steps)
    d = descent(classifier, bim, budget, loss)
    n = len(x0)
    r = engine.run_pool(d, x0, x0.copy(), np.full(n, eps, np.float32), np.full(n, steps),
                        aux, batch_size, early_stop=True)
    return r


def trust_checks(classifier, x0, aux, eps_values, loss, batch_size, grad_useless, sample=16,
                 seed=0) -> dict:
    """Run the checks on up to ``sample`` attacked images; ``grad_useless`` covers all of them."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(x0))[:sample])
    xs = x0[pick].astype(np.float32)
    ax = {k: v[pick] for k, v in aux.items()}
    checks = []
    if len(xs) == 0:
        return {"sample_size": 0, "checks": checks}

    zero = _bim_on_sample(classifier, xs, ax, 0, 3, loss, batch_size)
    unchanged = bool(np.all(zero.x == xs)) and not bool(np.any(zero.done))
    checks.append({
        "name": "eps=0 changes nothing",
        "status": "pass" if unchanged else "warn",
        "detail": "an attack with a zero budget left every image and prediction as it was"
        if unchanged else "a zero budget changed images or predictions: the attack or the model "
        "is not deterministic, and the flip rates above are not trustworthy",
    })

    big = _bim_on_sample(classifier, xs, ax, 64, 20, loss, batch_size)
    share = float(np.mean(big.done))
    checks.append({
        "name": "large budget flips almost everything",
        "status": "pass" if share >= 0.99 else "warn",
        "value": share,
        "detail": f"64 counts, 20 steps flip {share:.0%} of the sample"
        + ("" if share >= 0.99 else ": an undefended model should fall almost always, so "
           "suspect gradient masking (saturated softmax, non-differentiable preprocessing)"),
    })

    rates = []
    for eps in sorted(set(int(e) for e in eps_values if e > 0)):
        r = _bim_on_sample(classifier, xs, ax, eps, kurakin_steps(eps), loss, batch_size)
        rates.append({"eps": eps, "flip_rate": float(np.mean(r.done))})
    pairs = zip(rates, rates[1:], strict=False)
    monotone = all(a["flip_rate"] <= b["flip_rate"] + 1e-12 for a, b in pairs)
    checks.append({
        "name": "flip rate grows with the budget",
        "status": "pass" if monotone else "warn",
        "value": rates,
        "detail": "independent attacks at growing budgets never flip fewer images"
        if monotone else "a larger budget flipped fewer images: the attack is not converging, "
        "so small-budget results understate the model's weakness",
    })

    useless = float(np.mean(grad_useless)) if len(grad_useless) else 0.0
    checks.append({
        "name": "input gradients are informative",
        "status": "pass" if useless == 0 else "warn",
        "value": useless,
        "detail": f"{useless:.0%} of attacked images had an all-zero or non-finite gradient"
        + ("" if useless == 0 else ": sign-gradient attacks are blind on those images"),
    })
    return {"sample_size": int(len(xs)), "checks": checks}
