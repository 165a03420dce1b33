"""What hand-written attack programs share: the point each job keeps, and rounds on survivors.

A ``Program`` reports success at the grid point it evaluates, and the pool keeps a job's state at
its first success. A job that never succeeds should still hand back its best evaluated point
(the one nearest to flipping), not wherever its last step happened to land, so APGD and Square
carry a *kept* point in their state: success first, then the lowest loss. ``settle`` compares it
on the host with the job's final evaluation, which the pool returns as extras.

``Rounds`` folds several pool runs on the images still standing (APGD's restarts and target
classes) into one ``AttackResult``, with their costs summed per image.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..engine import PoolResult
from ..engine.gradient import per_sample
from .base import AttackResult

KEPT = ("kept_x", "kept_probs", "kept_loss", "kept_success")


def kept_init(x: tf.Tensor, n_classes: int) -> dict[str, tf.Tensor]:
    """An empty kept point: any evaluation replaces it."""
    b = tf.shape(x)[0]
    return {"kept_x": x, "kept_probs": tf.zeros([b, n_classes]),
            "kept_loss": tf.fill([b], np.float32(np.inf)), "kept_success": tf.zeros([b], tf.bool)}


def better_than_kept(success, values, kept_success, kept_loss):
    """Works on NumPy arrays and tensors alike: a success beats a failure, then a lower loss."""
    return (success & ~kept_success) | (~(success ^ kept_success) & (values < kept_loss))


def keep_better(state: dict[str, tf.Tensor], x: tf.Tensor, probs: tf.Tensor, values: tf.Tensor,
                success: tf.Tensor) -> dict[str, tf.Tensor]:
    """The kept point after evaluating ``x``."""
    better = better_than_kept(success, values, state["kept_success"], state["kept_loss"])
    return {
        "kept_x": tf.where(per_sample(better, x), x, state["kept_x"]),
        "kept_probs": tf.where(better[:, None], probs, state["kept_probs"]),
        "kept_loss": tf.where(better, values, state["kept_loss"]),
        "kept_success": tf.where(better, success, state["kept_success"]),
    }


def settle(pool: PoolResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per job (x, probs, success, loss): its final evaluation or its kept point, the better.

    A job that finished at its first evaluation has no kept point yet (an infinite loss)."""
    s = pool.state
    values = pool.extras["values"]
    final = better_than_kept(pool.success, values, s["kept_success"], s["kept_loss"]) | (
        ~np.isfinite(s["kept_loss"]) & ~s["kept_success"])

    def choose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(final.reshape(-1, *[1] * (a.ndim - 1)), a, b)

    return (choose(pool.x, s["kept_x"]), choose(pool.extras["probs"], s["kept_probs"]),
            choose(pool.success, s["kept_success"]), choose(values, s["kept_loss"]))


class Rounds:
    """Several runs on the images still standing, folded into one result.

    A later run replaces an image's point when it succeeds, or, when its loss is comparable
    (a restart of the same objective), when it ends at a lower loss.
    """

    def __init__(self, x0: np.ndarray, n_classes: int):
        n = len(x0)
        self.x = np.asarray(x0, np.float32).copy()
        self.success = np.zeros(n, bool)
        self.probs = np.zeros((n, n_classes), np.float32)
        self.loss = np.full(n, np.inf, np.float32)
        self.seen = np.zeros(n, bool)
        self.steps = np.zeros(n, np.int64)
        self.grad_evals = np.zeros(n, np.int64)
        self.queries = np.zeros(n, np.int64)
        self.grad_useless = np.zeros(n, bool)

    def standing(self) -> np.ndarray:
        """Indices of the images no run has flipped yet."""
        return np.flatnonzero(~self.success)

    def charge(self, idx: np.ndarray, *, grad_evals: int | np.ndarray = 0,
               queries: int | np.ndarray = 0) -> None:
        """Cost spent on ``idx`` outside a pool (a clean forward pass, say)."""
        self.grad_evals[idx] += grad_evals
        self.queries[idx] += queries

    def add(self, idx: np.ndarray, pool: PoolResult, *, grads_per_step: int,
            queries_per_step: int, comparable: bool) -> None:
        """Fold in one pool run on the images ``idx`` (each job evaluated steps + 1 times)."""
        x, probs, success, loss = settle(pool)
        evaluations = pool.steps + 1
        first = ~self.seen[idx]
        replace = success | first | (comparable & (loss < self.loss[idx]))
        rows = idx[replace]
        self.x[rows], self.probs[rows] = x[replace], probs[replace]
        self.success[rows], self.loss[rows] = success[replace], loss[replace]
        self.seen[idx] = True
        if "grad_useless" in pool.state:
            self.grad_useless[idx[first]] = pool.state["grad_useless"][first]
        self.steps[idx] += pool.steps
        self.grad_evals[idx] += evaluations * grads_per_step
        self.queries[idx] += evaluations * queries_per_step

    def reporter(self, idx: np.ndarray, on_settled, *, name: str, final: bool,
                 grads_per_step: int, queries_per_step: int, comparable: bool):
        """A pool's ``on_finished`` that passes on the images of ``idx`` whose outcome is final
        once this run's job ends: every one in the last run (``final``), else those it flipped.
        What they report is exactly what ``add`` and ``result`` will make of them."""
        if on_settled is None:
            return None

        def report(jobs: np.ndarray, part: PoolResult) -> None:
            x, probs, success, loss = settle(part)
            keep = success | final
            rows = idx[jobs[keep]]
            if rows.size == 0:
                return
            first = ~self.seen[rows]
            replace = success[keep] | first | (comparable & (loss[keep] < self.loss[rows]))

            def pick(new: np.ndarray, old: np.ndarray) -> np.ndarray:
                return np.where(replace.reshape(-1, *[1] * (new.ndim - 1)), new, old)

            won = pick(success[keep], self.success[rows])
            useless = self.grad_useless[rows]
            if "grad_useless" in part.state:
                useless = np.where(first, part.state["grad_useless"][keep], useless)
            evaluations = part.steps[keep] + 1
            on_settled(rows, AttackResult(
                x=pick(x[keep], self.x[rows]), success=won,
                probs=pick(probs[keep], self.probs[rows]),
                steps=self.steps[rows] + part.steps[keep],
                grad_evals=self.grad_evals[rows] + evaluations * grads_per_step,
                queries=self.queries[rows] + evaluations * queries_per_step,
                grad_useless=useless, found_by=[name if s else None for s in won]))

        return report

    def result(self, name: str) -> AttackResult:
        return AttackResult(
            x=self.x, success=self.success, probs=self.probs, steps=self.steps,
            grad_evals=self.grad_evals, queries=self.queries, grad_useless=self.grad_useless,
            found_by=[name if s else None for s in self.success])
