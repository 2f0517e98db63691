"""How fast every case of the bad-input matrix is refused, each in a fresh process.

    python benchmarks/bench_bad_inputs.py [--out docs/figures/bad_inputs.json]

The cases are those of ``tests/test_boundary.py`` (built the same way, in a temporary
folder). Each runs as ``bayes-vip ARGS`` in a process of its own, as a user runs it; the
record holds, per case, the wall time, the exit code, the error line and whether a file was
left. Issue 16's target: every case answers with exit code 2 in under 2 s. The read-only
cases are left out when run as root (root may write into a folder of mode 0555).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bayes_vip.io.provenance import record, write_record  # noqa: E402
from tests.test_boundary import CASES, READ_ONLY, files_under  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="also write the record here")
    args = ap.parse_args()
    exe = shutil.which("bayes-vip") or str(Path(sys.executable).parent / "bayes-vip")
    rows = []
    for name, build in CASES.items():
        if name in READ_ONLY and os.geteuid() == 0:
            rows.append({"case": name, "skipped": "run as root: a 0555 folder is writable"})
            continue
        with tempfile.TemporaryDirectory() as tmp:
            argv, _words = build(Path(tmp))
            before = files_under(Path(tmp))
            t = time.perf_counter()
            r = subprocess.run([exe, *argv], cwd=REPO, capture_output=True, text=True)
            wall = time.perf_counter() - t
            left = files_under(Path(tmp)) != before
            for p in Path(tmp).rglob("*"):
                if p.is_dir():
                    p.chmod(0o755)
        line = r.stderr.strip().splitlines()
        rows.append(
            {
                "case": name,
                "wall_s": round(wall, 3),
                "exit_code": r.returncode,
                "lines": len(line),
                "error": line[0] if line else "",
                "file_left": left,
            }
        )
        print(f"{wall:6.2f} s  rc={r.returncode}  {name}", file=sys.stderr, flush=True)
    timed = [r["wall_s"] for r in rows if "wall_s" in r]
    summary = {
        "cases": len(rows),
        "timed": len(timed),
        "exit_2": sum(r.get("exit_code") == 2 for r in rows),
        "one_line": sum(r.get("lines") == 1 for r in rows),
        "files_left": sum(bool(r.get("file_left")) for r in rows),
        "median_s": round(statistics.median(timed), 3),
        "max_s": round(max(timed), 3),
        "under_2_s": sum(t < 2.0 for t in timed),
    }
    out = {"benchmark": "bad-input matrix, one process per case", "summary": summary,
           "machine": f"{os.uname().machine}, {os.cpu_count()} cores", "results": rows}  # fmt: skip
    if args.out:
        write_record(args.out, out)
    print(json.dumps(record(out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
