"""Samples of an audit's photos that do not depend on chunking, sharding or resuming: each
photo's place in the order is a hash of (seed, its index), so every shard and every resumed run
picks the same photos for the trust checks and for fitting a universal patch."""

from __future__ import annotations

import numpy as np

TRUST_SAMPLE = 16


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a well-spread hash of each integer (numpy wraps uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_order(indices: list[int], seed: int) -> list[int]:
    """``indices`` in the order of the hash of (seed, index): a uniform shuffle that any run
    of the same photos and seed draws alike."""
    idx = np.asarray(sorted(indices), np.int64)
    keys = _mix(idx ^ _mix(np.asarray([seed], np.int64))[0].astype(np.int64))
    return [int(i) for i in idx[np.argsort(keys, kind="stable")]]


def trust_sample(indices: list[int], seed: int, k: int = TRUST_SAMPLE) -> list[int]:
    """The k photo indices first in the hash order: the trust checks' sample."""
    return sorted(hash_order(indices, seed)[:k])
