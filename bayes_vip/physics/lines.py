"""X-ray line catalogue: xraydb K lines, the experiment's reference values, the PEP Cu lines.

The K lines of Ti, Mn, Fe, Ni, Cu, Zn come from xraydb, with the experiment's reference values
as overrides; the PEP-violating Cu lines are added.

A *line group* is what a Silicon Drift Detector sees as one peak: a multiplet such as
Cu Ka = Ka1 + Ka2, whose members share the detector response and whose relative
intensities are fixed. Every energy and weight carries the source it comes from.

Sources
-------
- ``xraydb``: X. Elam, M. Ravel, J. Sieber tables as shipped by ``xraydb`` (energies in eV,
  relative intensities as emission probabilities within the K shell).
- ``seed 002 eq. 3 [20,21]``: Cu Ka1 = 8047.8 eV, Cu Ka2 = 8027.8 eV, the reference values
  used by the VIP-2 calibration (seed 002, eq. 3 and eq. 4).
- ``seed 002 eq. 4``: Cu Ka2/Ka1 intensity ratio 51/100.
- ``INFN-13-21/LNF (2013)``: PEP-violating Cu Ka1 7746.73 eV, Ka2 7728.83 eV,
  Kb1 8531.69 eV (as quoted in ``../shared/data/vip2-2016-17/README.md`` and seed 000 sec. 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "ELEMENTS",
    "PEP_LINES",
    "REFERENCE_OVERRIDES",
    "SIGNAL_CHOICES",
    "Line",
    "LineGroup",
    "catalogue",
    "line_group",
    "member_arrays",
    "pep_signal",
    "si_ka_ev",
]

#: Elements whose K lines the catalogue holds (DESIGN.md, "Line catalogue").
ELEMENTS = ("Ti", "Mn", "Fe", "Ni", "Cu", "Zn")

#: xraydb lines with an emission probability below this are left out (Ka3: 3e-4, Kb5: 8e-4
#: for Cu); they are far below anything the SDD spectra can resolve.
_MIN_INTENSITY = 1e-3

#: Experiment reference values that replace xraydb's: (element, line) -> (energy eV, source).
REFERENCE_OVERRIDES: dict[tuple[str, str], tuple[float, str]] = {
    ("Cu", "Ka1"): (8047.8, "seed 002 eq. 3 [20,21]"),
    ("Cu", "Ka2"): (8027.8, "seed 002 eq. 3 [20,21]"),
}
#: Intensity overrides: (element, line) -> (intensity relative to the group's first line, source).
_INTENSITY_OVERRIDES: dict[tuple[str, str], tuple[float, str]] = {
    ("Cu", "Ka2"): (0.51, "seed 002 eq. 4 (Ka2/Ka1 = 51/100)"),
}

#: PEP-violating Cu transitions, energies in eV (INFN-13-21/LNF 2013, data README, seed 000).
PEP_LINES: dict[str, float] = {"Ka1": 7746.73, "Ka2": 7728.83, "Kb1": 8531.69}
_PEP_SOURCE = "INFN-13-21/LNF (2013), via data README"

#: Named choices for the centre of the searched PEP line (see ``pep_signal``).
SIGNAL_CHOICES = ("ka1", "ka2", "doublet")


@dataclass(frozen=True)
class Line:
    """One X-ray transition."""

    element: str
    name: str
    energy_eV: float
    intensity: float
    source: str


@dataclass(frozen=True)
class LineGroup:
    """A multiplet seen as one peak (e.g. Cu Ka = Ka1 + Ka2).

    ``weights`` are the members' relative intensities, normalised to sum to 1.
    """

    key: str
    lines: tuple[Line, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def energies(self) -> np.ndarray:
        """Member energies [eV], shape (n,)."""
        return np.array([ln.energy_eV for ln in self.lines], dtype=float)

    @property
    def weights(self) -> np.ndarray:
        """Member weights, shape (n,), summing to 1."""
        w = np.array([ln.intensity for ln in self.lines], dtype=float)
        return w / w.sum()

    @property
    def centroid_eV(self) -> float:
        """Intensity-weighted mean energy [eV]."""
        return float(np.dot(self.energies, self.weights))

    def to_dict(self) -> dict[str, Any]:
        """The group's key and its members (name, energy, weight, source), JSON-serialisable."""
        return {
            "key": self.key,
            "lines": [
                {
                    "name": f"{ln.element} {ln.name}",
                    "energy_eV": ln.energy_eV,
                    "weight": float(w),
                    "source": ln.source,
                }
                for ln, w in zip(self.lines, self.weights, strict=True)
            ],
        }


def _xraydb_group(element: str, family: str, use_overrides: bool) -> LineGroup:
    import xraydb

    raw = xraydb.xray_lines(element, "K")
    members = []
    for name, xl in raw.items():
        if not name.startswith(family) or xl.intensity < _MIN_INTENSITY:
            continue
        energy, src = float(xl.energy), "xraydb"
        intensity = float(xl.intensity)
        if use_overrides and (element, name) in REFERENCE_OVERRIDES:
            energy, src = REFERENCE_OVERRIDES[(element, name)]
        members.append([name, energy, intensity, src])
    members.sort(key=lambda m: -m[2])  # strongest first
    if use_overrides:
        first_intensity = members[0][2]
        for m in members:
            if (element, m[0]) in _INTENSITY_OVERRIDES:
                ratio, isrc = _INTENSITY_OVERRIDES[(element, m[0])]
                m[2] = ratio * first_intensity
                m[3] = f"{m[3]}; intensity: {isrc}"
    # Kb1 and Kb3 are unresolved (same energy within 2 eV); they stay separate members.
    lines = tuple(Line(element, n, e, i, s) for n, e, i, s in members)
    return LineGroup(key=f"{element} {family}", lines=lines)


@lru_cache(maxsize=4)
def catalogue(use_overrides: bool = True) -> dict[str, LineGroup]:
    """All line groups, keyed ``"Cu Ka"``, ``"Ti Kb"``, ..., plus ``"Cu Ka PEP"``, ``"Cu Kb PEP"``.

    Parameters
    ----------
    use_overrides : replace xraydb values by the experiment's reference values
        (``REFERENCE_OVERRIDES``); False gives pure xraydb.
    """
    out: dict[str, LineGroup] = {}
    for el in ELEMENTS:
        for fam in ("Ka", "Kb"):
            g = _xraydb_group(el, fam, use_overrides)
            out[g.key] = g
    normal_ka = out["Cu Ka"]
    ratio = normal_ka.lines[1].intensity / normal_ka.lines[0].intensity
    out["Cu Ka PEP"] = LineGroup(
        key="Cu Ka PEP",
        lines=(
            Line("Cu", "Ka1 PEP", PEP_LINES["Ka1"], 1.0, _PEP_SOURCE),
            Line("Cu", "Ka2 PEP", PEP_LINES["Ka2"], ratio, _PEP_SOURCE),
        ),
        notes=(
            "Ka2/Ka1 weight of the forbidden doublet assumed equal to the normal Cu Ka "
            "ratio; no measurement exists.",
        ),
    )
    out["Cu Kb PEP"] = LineGroup(
        key="Cu Kb PEP", lines=(Line("Cu", "Kb1 PEP", PEP_LINES["Kb1"], 1.0, _PEP_SOURCE),)
    )
    return out


@lru_cache(maxsize=1)
def si_ka_ev() -> float:
    """Intensity-weighted Si Ka energy [eV] (xraydb): what a Si escape peak loses."""
    import xraydb

    lines = [v for k, v in xraydb.xray_lines("Si", "K").items() if k.startswith("Ka")]
    return float(sum(v.energy * v.intensity for v in lines) / sum(v.intensity for v in lines))


def line_group(key: str) -> LineGroup:
    """The line group ``key`` (e.g. ``"Mn Ka"``); raises KeyError naming the known keys."""
    cat = catalogue()
    if key not in cat:
        msg = f"unknown line group {key!r}; known: {', '.join(cat)}"
        raise KeyError(msg)
    return cat[key]


def member_arrays(groups: Iterable[str | LineGroup]) -> tuple[np.ndarray, np.ndarray]:
    """Member energies and weights of line groups (or their keys), padded to (groups, max members).

    The padding repeats the first energy with weight 0.
    """
    gs = [g if isinstance(g, LineGroup) else line_group(g) for g in groups]
    m = max(len(g.lines) for g in gs)
    en = np.zeros((len(gs), m))
    w = np.zeros((len(gs), m))
    for i, g in enumerate(gs):
        en[i, : len(g.lines)] = g.energies
        en[i, len(g.lines) :] = g.energies[0]
        w[i, : len(g.lines)] = g.weights
    return en, w


def pep_signal(choice: str | float) -> LineGroup:
    """The PEP-violating line searched for.

    Parameters
    ----------
    choice : ``"ka1"`` (7746.73 eV, seed 000's choice), ``"ka2"`` (7728.83 eV), ``"doublet"``
        (both, weighted as the normal Ka doublet), or a number: a single line at that energy [eV].
    """
    if isinstance(choice, int | float) and not isinstance(choice, bool):
        return LineGroup(
            key=f"PEP {float(choice):.2f} eV",
            lines=(Line("Cu", "PEP", float(choice), 1.0, "user choice"),),
        )
    c = str(choice).lower()
    pep = catalogue()["Cu Ka PEP"]
    if c == "ka1":
        return LineGroup(key="Cu Ka1 PEP", lines=(pep.lines[0],))
    if c == "ka2":
        return LineGroup(key="Cu Ka2 PEP", lines=(pep.lines[1],))
    if c == "doublet":
        return pep
    try:
        return pep_signal(float(c))
    except ValueError:
        msg = f"signal choice {choice!r} is not one of {SIGNAL_CHOICES} nor an energy in eV"
        raise ValueError(msg) from None
