"""Threat models: one module per kind, one registry. Adding a threat model is a module with a
``ThreatModel`` subclass (``base``: a ``BallThreat`` for gradient attacks, a ``SparseThreat``
for Sparse-RS) plus one line below; the command line's ``--threat`` choices come from here.

The budget carries its threat model (``Budget.threat``); the manifest records its name (the
``norm`` field of ``budget``), and the results, report and formats turn that name back into
the object with ``named``. May import the ground floor and ``audit.engine``.
"""

from __future__ import annotations

from ..errors import UsageError
from .base import BallThreat, SparseThreat, ThreatModel
from .l0 import L0
from .l2 import L2
from .linf import LInf
from .patch import Patch

THREATS: dict[str, ThreatModel] = {t.name: t for t in (
    LInf(),
    L2(),
    L0(),
    Patch(),
)}

DEFAULT_THREAT = "linf"
# What an attack that works on any threat model of a kind lists as its ``threats``: a new
# module and its registry line reach APGD, PGD and the probe (balls) or Sparse-RS (sparse).
BALLS = tuple(name for name, t in THREATS.items() if isinstance(t, BallThreat))
SPARSE = tuple(name for name, t in THREATS.items() if isinstance(t, SparseThreat))


def named(name: object) -> ThreatModel:
    """The threat model a results file names (an older file without one: L-inf)."""
    if name is None:
        return THREATS[DEFAULT_THREAT]
    if name not in THREATS:
        raise UsageError(f"--threat {name!r} is not a threat model; choose one of "
                         f"{', '.join(THREATS)}")
    return THREATS[str(name)]


def read(budget: object) -> ThreatModel | None:
    """The threat model a results file's ``manifest.budget`` names: L-inf where it names none
    (written before threat models had names there), None where the name is unknown (a newer
    advaudit, or an edited file): views then write the name as it stands."""
    name = budget.get("norm") if isinstance(budget, dict) else None
    if name is None:
        return THREATS[DEFAULT_THREAT]
    return THREATS.get(name) if isinstance(name, str) else None


__all__ = ["BALLS", "DEFAULT_THREAT", "SPARSE", "THREATS", "BallThreat", "SparseThreat",
           "ThreatModel", "named", "read"]
