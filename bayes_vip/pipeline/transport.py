"""``bayes-vip transport``: every seed-001 quantity for one experiment.

Writes them to ``transport.json``, with the figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import write_json
from bayes_vip.physics import transport as tr

__all__ = ["DEFAULT_OUT", "transport"]

#: Where ``transport`` writes when not told (it needs no run).
DEFAULT_OUT = Path("results/transport")


def transport(
    experiment: str = "vip2",
    *,
    current_A: float | None = None,
    fermi_velocity_factor: float = 0.75,
    rs_bound: float | None = None,
    out_dir: Path = DEFAULT_OUT,
    figures: bool = True,
) -> dict[str, Any]:
    """Compute every quantity, write ``transport.json`` and the figures into ``out_dir``."""
    for key, v, zero in (
        ("transport.current_A", current_A, True),
        ("transport.fermi_velocity_factor", fermi_velocity_factor, False),
        ("transport.rs_bound", rs_bound, False),
    ):
        if v is not None and not (math.isfinite(v) and (v >= 0 if zero else v > 0)):
            op = ">=" if zero else ">"
            msg = f"must be a finite number {op} 0, got {v!r}"
            raise InputError(msg, field=key)
    over = {} if current_A is None else {"current_A": current_A}
    t = tr.experiment(experiment, **over)
    cu = tr.Copper(fermi_velocity_factor=fermi_velocity_factor)
    out: dict[str, Any] = {
        "experiment": t.name,
        "inputs": tr.inputs_dict(t, cu),
        "quantities": tr.summary(t, cu, rs_bound=rs_bound),
        "eq22_integral": tr.eq22_integral(1.0),
    }
    out_dir = Path(out_dir)
    if figures:
        from bayes_vip.results.transport import transport_figures

        out.update(transport_figures(t, cu, out_dir, experiment))
    write_json(out_dir / "transport.json", out)
    out["json"] = str(out_dir / "transport.json")
    return out
