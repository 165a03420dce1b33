"""Known answers for N unit vectors in D dimensions with the largest minimum pairwise angle.

* D = 2: equal spacing, 360/N degrees.
* N <= D + 1: the regular simplex (all pairwise cosines -1/(N-1)), optimal by Rankin's bound
  (R. A. Rankin, "The closest packing of spherical caps in n dimensions", Proc. Glasgow Math.
  Assoc. 2 (1955) 139-144).
* D = 3: the Tammes problem, solved for N <= 14. Proofs: N = 4, 6, 12 Fejes Toth
  (1943); N = 5, 7, 8, 9 Schuette and van der Waerden (1951); N = 10, 11 Danzer (1963, Discrete
  Math. 60 (1986) 3-66); N = 13 Musin and Tarasov (Discrete Comput. Geom. 48 (2012) 128-141);
  N = 14 Musin and Tarasov (Exp. Math. 24 (2015) 460-468). Values as in OEIS A383859 (N = 7),
  A381756 (8), A137914 (9), A340918 (10), A105199 (11 and 12), A217695 (13), A383860 (14);
  the closed forms were recomputed here: N = 7 arccos(s / (1 - s)) with s = sin(pi/18);
  N = 8 arccos((sqrt(8) - 1) / 7); N = 9 arccos(1/3); N = 10
  arctan(sqrt(4/sqrt(3) * cos(arctan(sqrt(687) / 9) / 3) + 3)); N = 11 and 12 arccos(1/sqrt(5))
  (the icosahedron; for 11 one vertex is left out, which frees its neighbours).
"""

from __future__ import annotations

import math

TAMMES_DEG: dict[int, float] = {
    2: 180.0,
    3: 120.0,
    4: math.degrees(math.acos(-1.0 / 3.0)),  # 109.4712206
    5: 90.0,
    6: 90.0,
    7: math.degrees(math.acos(math.sin(math.pi / 18) / (1 - math.sin(math.pi / 18)))),  # 77.8695
    8: math.degrees(math.acos((math.sqrt(8.0) - 1.0) / 7.0)),  # 74.8585
    9: math.degrees(math.acos(1.0 / 3.0)),  # 70.5288
    10: math.degrees(math.atan(math.sqrt(
        4 / math.sqrt(3) * math.cos(math.atan(math.sqrt(687.0) / 9) / 3) + 3))),  # 66.1468
    11: math.degrees(math.acos(1.0 / math.sqrt(5.0))),  # 63.4349
    12: math.degrees(math.acos(1.0 / math.sqrt(5.0))),  # 63.4349
    13: math.degrees(0.9972235924381191636547704506),  # 57.1367 (a root, no closed form)
    14: math.degrees(0.9716347428862240759416949476),  # 55.6706
}


def simplex_deg(n: int) -> float:
    """Pairwise angle of the regular simplex with n vertices (n >= 2)."""
    return math.degrees(math.acos(-1.0 / (n - 1)))


def known_optimum(n: int, dims: int) -> tuple[float, str] | None:
    """(optimal minimum angle in degrees, where it comes from), or None when not known here."""
    if n < 2 or dims < 2:
        return None
    if dims == 2:
        return 360.0 / n, "2-D: equal spacing, 360/N"
    if n <= dims + 1:
        return simplex_deg(n), "N <= D+1: regular simplex, arccos(-1/(N-1)) (Rankin 1955)"
    if dims == 3 and n in TAMMES_DEG:
        return TAMMES_DEG[n], "3-D: Tammes problem, proved optimum"
    return None
