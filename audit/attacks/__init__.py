"""Attacks: one module per family, one registry. Adding an attack is a new module implementing
``Attack`` (``base``) plus one line below; the command line's choices come from this registry.
"""

from __future__ import annotations

from .apgd import APGD, APGDTargeted
from .auto import Auto
from .base import Attack, AttackResult, Budget, Goal, RunSettings
from .sign import BIM, FGSM, MIFGSM, PGD, SeedProcedure
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
)}

__all__ = ["ATTACKS", "Attack", "AttackResult", "Budget", "Goal", "RunSettings"]
