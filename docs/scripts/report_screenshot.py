"""The documentation's picture of a run's report (``docs/figures/report-measured.png``).

    python docs/scripts/report_screenshot.py [--run runs/vip2-2016-17] [--out PNG]

Writes the run's ``results/report.html`` (``bayes_vip.results.report.write_report``; run
``bayes-vip fit RUN`` and ``bayes-vip sample RUN`` first) and draws the whole page with
headless Chromium, 1280 px wide (``report.screenshot``), with a 256-colour palette to keep
the file small. Needs ``chromium`` on the PATH.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "vip2-2016-17")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "report-measured.png")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=12000, help="window height before trimming")
    args = ap.parse_args(argv)
    from bayes_vip.results.report import screenshot, write_report

    html = write_report(args.run)
    png = screenshot(html, args.out, width=args.width, height=args.height, trim=True, colours=256)
    print(f"wrote {html} and {png} ({png.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
