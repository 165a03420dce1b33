"""Attacks: one module per family, one registry. Adding an attack is a new module implementing
``Attack`` (``base``) plus one line below; the command line's choices come from this registry.

Each attack describes itself (``Attack.traits``: gradients or queries, strong enough for a
"robust" verdict, its gradient-free stages, its cost yardstick); the manifest records that, so
the verdict, merge, console, bench and trust read traits, never attack names.

May import the ground floor (errors, classifier, ...) and ``audit.engine``; nothing else.
"""

from __future__ import annotations

from .apgd import APGD, APGDTargeted
from .auto import Auto
from .base import Attack, AttackResult, Budget, Goal, RunSettings
from .sign import BIM, FGSM, MIFGSM, PGD, SeedProcedure
from .sparse_rs import SparseRS
from .square import Square

ATTACKS: dict[str, Attack] = {a.name: a for a in (
    Auto(),
    FGSM(),
    BIM(),
    PGD(),
    MIFGSM(),
    SeedProcedure(),
    APGD(),
    APGDTargeted(),
    Square(),
    SparseRS(),
)}

DEFAULT_ATTACK = "auto"  # the audit's attack when none is named: parameter-free, strong
# The cheap sign-gradient attack the trust checks and the bench probe a model with.
PROBE = ATTACKS["bim"]
# ... and the one they probe with under a sparse threat model (L0, patch).
SPARSE_PROBE = ATTACKS["sparse-rs"]
# ... and on a query-only model (TFLite, ONNX) under L-inf.
QUERY_PROBE = ATTACKS["square"]

__all__ = ["ATTACKS", "DEFAULT_ATTACK", "PROBE", "QUERY_PROBE", "SPARSE_PROBE", "Attack",
           "AttackResult", "Budget", "Goal", "RunSettings"]
