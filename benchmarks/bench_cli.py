"""How fast the command line answers: ``--version`` and option errors, in a fresh process.

    python benchmarks/bench_cli.py [--repeat 5]

The options are validated before any heavy library loads (docs/architecture.md); the issue's
target is under 2 s for a bad ``--prior-upper`` of ``sample`` and a bad ``--signal-energy`` of
``fit``. Each command runs ``--repeat`` times in an empty directory; prints JSON with the
median and the largest wall time, the exit code and the error line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bayes_vip.io.provenance import record

COMMANDS = (
    ["--version"],
    ["sample", "--prior-upper", "-1"],
    ["fit", "--signal-energy", "abc"],
    ["sample", "--chains", "abc"],
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("bayes-vip") or str(Path(sys.executable).parent / "bayes-vip")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for argv in COMMANDS:
            times, r = [], None
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = subprocess.run([exe, *argv], cwd=tmp, capture_output=True, text=True)
                times.append(time.perf_counter() - t)
            rows.append(
                {
                    "command": "bayes-vip " + " ".join(argv),
                    "median_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3),
                    "exit_code": r.returncode,
                    "output": (r.stderr or r.stdout).strip(),
                    "files_left": sorted(p.name for p in Path(tmp).iterdir()),
                }
            )
    print(json.dumps(record({"benchmark": "cli latency", "results": rows}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
