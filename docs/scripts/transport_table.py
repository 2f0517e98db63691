"""Print the table of seed-001 numbers of docs/transport.md.

The rows come from ``bayes_vip.physics.transport_reference.SEED_001``, the same rows the
tests check.

Run from the repository root:  python docs/scripts/transport_table.py
"""

from __future__ import annotations

import sys

from bayes_vip.physics.transport_reference import SEED_001


def main() -> int:
    print(
        "| quantity | where | seed 001 | ours (defaults) | rel. diff | with seed's input | note |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in SEED_001:
        ours = r.ours()
        alt = f"{r.seed_inputs():.3g}" if r.seed_inputs else ""
        unit = f" {r.unit}" if r.unit else ""
        print(
            f"| {r.quantity} | {r.where} | {r.seed:.3g}{unit} | {ours:.4g} | "
            f"{(ours - r.seed) / r.seed:+.1%} | {alt} | {r.note} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
