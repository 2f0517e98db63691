"""Figures of the toy studies (mplhep's HEP style)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_vip.results.plots import brazil, save

__all__ = [
    "bands_figure",
    "coverage_figure",
    "frequentist_figure",
    "modulation_figure",
    "sbc_figure",
    "sensitivity_figure",
]


def coverage_figure(summary: dict[str, Any], spec: dict[str, Any], path: Path) -> Path:
    """Coverage of the 95 % limits against the injected signal, with Clopper-Pearson bars.

    The band marks 95 +- 2 %, the target of issue 14; the zero-signal point is left out
    (every limit lies above a true zero).
    """
    import matplotlib.pyplot as plt
    import mplhep as hep

    series = [("classic_profile", "classic profile likelihood", "o", -0.06)]
    if "bayes" in spec["methods"]:
        series += [
            ("bayes_all", "Bayesian, all toys", "s", 0.0),
            ("bayes_gates_passed", "Bayesian, toys passing the gates", "^", 0.06),
        ]
    with plt.style.context(hep.style.ROOT):
        fig, ax = plt.subplots(figsize=(8, 6))
        ax.axhspan(0.93, 0.97, color="0.85", label="95 $\\pm$ 2 %")
        ax.axhline(0.95, color="0.4", lw=1)
        for key, label, marker, dx in series:
            xs, ys, lo, hi = [], [], [], []
            for lv in summary["multiples"]:
                c = lv["coverage"]["95"][key]
                if lv["multiple"] == 0 or c["n"] == 0:
                    continue
                xs.append(lv["multiple"] + dx)
                ys.append(c["fraction"])
                lo.append(c["fraction"] - c["cp95"][0])
                hi.append(c["cp95"][1] - c["fraction"])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, capsize=3, label=label)
        n = spec["toys_per_multiple"]
        ax.set_xlabel("injected signal [classic $\\sigma(N_X)$]")
        ax.set_ylabel("P(95 % upper limit $\\geq$ truth)")
        ax.set_ylim(min(0.8, ax.get_ylim()[0]), 1.005)
        ax.legend(
            loc="lower left",
            fontsize=13,
            title=f"{spec['run']} layout, {spec['level']} level, {n} toys per point",
            title_fontsize=13,
        )
        hep.label.exp_text("VIP-2", "toy study", ax=ax, loc=0)
        return save(fig, path)


def bands_figure(summary: dict[str, Any], spec: dict[str, Any], path: Path) -> Path:
    """Expected limits on N_X, a "Brazil" figure.

    For each method and level: the median of the background-only toys' limits, the +-1 sigma
    (green) and +-2 sigma (yellow) bands, and the run's observed limit where it has one.
    """
    rows = [(k, v) for k, v in summary["limits"].items() if v["counts"]["n"] > 0]
    names = {"classic": "classic profile", "bayes": "Bayesian"}
    drawn = []
    for col, v in rows:
        method, level = col.split("_ul")
        b = v["counts"]
        bands = {k: b[k]["value"] for k in ("-2", "-1", "+1", "+2")}
        bands["median"] = b["median"]["value"]
        drawn.append((f"{names.get(method, method)} {level} %", bands, v.get("observed_counts")))
    return brazil(
        drawn,
        xlabel="upper limit on $N_X$ [counts]",
        title=f"{spec['run']} layout, {summary['toys_done']} background-only toys",
        label="expected limits",
        path=path,
    )


def sbc_figure(summary: dict[str, Any], spec: dict[str, Any], path: Path) -> Path:
    """SBC figure: every ranked quantity's ECDF difference and rank histogram.

    Top: the ECDF minus the uniform CDF, with its simultaneous band; bottom: the rank
    histogram, with the central 99 % binomial range of each bin.
    """
    import matplotlib.pyplot as plt
    import mplhep as hep
    import numpy as np
    from scipy.stats import binom

    qs = summary["quantities"]
    with plt.style.context(hep.style.ROOT):
        fig, axes = plt.subplots(
            2, len(qs), figsize=(4.2 * len(qs), 7.5), squeeze=False, constrained_layout=True
        )
        for col, (name, q) in enumerate(qs.items()):
            st = q["all"]
            top, bottom = axes[0, col], axes[1, col]
            top.set_title(name, fontsize=14)
            if st["n"] == 0:
                continue
            x = np.asarray(st["ecdf_eval"])
            top.fill_between(
                x,
                np.asarray(st["band_lo"]) - x,
                np.asarray(st["band_hi"]) - x,
                color="0.85",
                step="mid",
                label="95 % simultaneous",
            )
            colour = "C0" if st["ecdf_in_band"] else "C3"
            top.step(x, np.asarray(st["ecdf"]) - x, where="mid", color=colour)
            top.axhline(0.0, color="0.4", lw=0.8)
            top.set_xlabel("fractional rank", fontsize=12)
            top.tick_params(labelsize=10)
            hist = np.asarray(st["histogram"])
            nb = len(hist)
            lo, hi = binom.ppf([0.005, 0.995], st["n"], 1.0 / nb)
            edges = np.linspace(0, 1, nb + 1)
            bottom.axhspan(lo, hi, color="0.85")
            bottom.axhline(st["n"] / nb, color="0.4", lw=0.8)
            hep.histplot(hist, edges, ax=bottom, histtype="fill", alpha=0.7, color=colour)
            label = f"rank / {spec['rank_draws'] + 1}  (p = {st['chi2_p']:.2g})"
            bottom.set_xlabel(label, fontsize=12)
            bottom.tick_params(labelsize=10)
        axes[0, 0].set_ylabel("ECDF - uniform", fontsize=13)
        axes[1, 0].set_ylabel("simulations", fontsize=13)
        control = spec.get("fano_shift", 0.0)
        what = f"negative control: data Fano x {1 + control:g}" if control else "SBC"
        fig.suptitle(
            f"{what}; {spec['run']} layout, {spec['level']} level, "
            f"{summary['sims_done']} simulations, L = {spec['rank_draws']}",
            fontsize=14,
        )
        return save(fig, path)


def sensitivity_figure(rec: dict[str, Any], path: Path) -> Path:
    """The sensitivity decomposition: each variant's sigma(N_X), expected limit and pulls.

    Left: the spread of N_X hat over the signal-free toys (the true sigma, with its standard
    error) beside the median quoted sigma, and the median expected CLs 95 % limit. Right:
    the mean pull (N_X hat - injected) / sigma at each injected signal, with its standard
    error; the band marks the +-0.2 that ``studies.sensitivity.choose`` allows.
    """
    import matplotlib.pyplot as plt
    import mplhep as hep

    keys = list(rec["variants"])
    y = list(range(len(keys)))[::-1]
    chosen = rec["choice"]["chosen"]
    with plt.style.context(hep.style.ROOT):
        fig, (a, b) = plt.subplots(
            1, 2, figsize=(13, 0.55 * len(keys) + 2.5), sharey=True, constrained_layout=True
        )
        for yi, key in zip(y, keys, strict=True):
            v = rec["variants"][key]
            zero = [lv for lv in v["injected"] if lv["injected"] == 0]
            if zero and zero[0]["N_X"]["n"] > 1:
                z = zero[0]
                a.errorbar(z["N_X"]["sd"], yi, xerr=z["N_X"]["sd_err"], fmt="o", color="C0")
                a.plot(z["sigma_quoted_median"], yi, "|", ms=16, mew=2, color="C1")
                a.plot(z["expected_cls95_median"], yi, "D", color="C2")
            for j, lv in enumerate(v["injected"]):
                p = lv["pull"]
                if p["n"] > 1:
                    b.errorbar(
                        p["mean"],
                        yi + 0.15 * (j - 0.5),
                        xerr=p["mean_err"],
                        fmt="os"[j % 2],
                        color=f"C{3 + j}",
                        label=f"{lv['injected']:g} counts injected" if yi == y[0] else None,
                    )
        a.plot([], [], "o", color="C0", label="spread of $\\hat N_X$")
        a.plot([], [], "|", ms=16, mew=2, color="C1", label="quoted $\\sigma$ (median)")
        a.plot([], [], "D", color="C2", label="expected CLs 95 %")
        a.set_yticks(y)
        a.set_yticklabels([k + (" (chosen)" if k == chosen else "") for k in keys], fontsize=12)
        a.set_xlabel("counts", fontsize=14)
        a.legend(fontsize=11, loc="lower right")
        b.axvspan(-0.2, 0.2, color="0.88")
        b.axvline(0.0, color="0.4", lw=0.8)
        b.set_xlabel("mean pull $(\\hat N_X - N_{inj}) / \\sigma$", fontsize=14)
        b.legend(fontsize=11, loc="center left")
        n = rec["toys_done"]
        fig.suptitle(f"{rec['preset']}-like toys: {n} toys, {rec['statistic']} fit", fontsize=14)
        return save(fig, path)


def frequentist_figure(rec: dict[str, Any], path: Path) -> Path:
    """CLs, CLs+b and the Feldman-Cousins p-value against N_X, from toys (with binomial
    errors), and the limits: from the toys (solid) and asymptotic (dotted) at 95 %.
    """  # noqa: D205
    import matplotlib.pyplot as plt
    import mplhep as hep

    pts = rec["points"]
    mu = [p["mu"] for p in pts]
    with plt.style.context(hep.style.ROOT):
        fig, ax = plt.subplots(figsize=(9, 6))
        for key, label, colour in (
            ("cls", "CLs", "C0"),
            ("clsb", "CLs+b (profile)", "C1"),
            ("p_fc", "Feldman-Cousins p", "C2"),
        ):
            ax.errorbar(
                mu, [p[key] for p in pts], yerr=[p[key + "_err"] for p in pts],
                fmt="o-", ms=4, color=colour, label=label,
            )  # fmt: skip
        ax.axhline(0.05, color="0.4", lw=1, ls="--")
        for key, colour in (("cls", "C0"), ("profile", "C1")):
            toy = rec[key].get("0.95")
            if toy is not None:
                ax.axvline(toy, color=colour, lw=1.5)
            ax.axvline(rec["asymptotic"][key]["0.95"], color=colour, lw=1.5, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 8.0)
        ax.set_xlabel("$N_X$ [counts]")
        ax.set_ylabel("p-value")
        ax.legend(
            fontsize=12,
            loc="upper right",
            title=f"{rec['run']}: {rec['toys_per_mu']} toys per point,\n"
            f"{rec['toys_background']} background-only;\n95 %: toys solid, asymptotic dotted",
            title_fontsize=11,
        )
        hep.label.exp_text("VIP-2", "toys", ax=ax, loc=0)
        return save(fig, path)


def modulation_figure(summary: dict[str, Any], spec: dict[str, Any], path: Path) -> Path:
    """The layouts of the current compared: pull of N_X, coverage, median 95 % limit.

    Three panels over the layouts, one marker per step-2 background: the mean pull
    (N_X - injected) / sigma at each injected signal, the coverage of the 95 % profile
    limit at the largest injected signal (Clopper-Pearson bars), and the median 95 % limit
    without signal (the expected limit).
    """
    import matplotlib.pyplot as plt
    import mplhep as hep

    lays, bgs = spec["layouts"], spec["backgrounds"]
    top = max(spec["multiples"])
    markers = {"separate": "o", "shared": "s"}
    colours = {"separate": "C0", "shared": "C1"}

    def cell(lay, bg, k):
        for c in summary["cells"]:
            if c["layout"] == lay and c["background"] == bg and c["multiple"] == k:
                return c
        return None

    with plt.style.context(hep.style.ROOT):
        fig, axes = plt.subplots(1, 3, figsize=(18, 6))
        for j, bg in enumerate(bgs):
            for m, k in enumerate(spec["multiples"]):
                xs, ys, es = [], [], []
                for i, lay in enumerate(lays):
                    c = cell(lay, bg, k)
                    if c is not None:
                        xs.append(i + 0.12 * (2 * j - 1) + 0.05 * m)
                        ys.append(c["pull_mean"])
                        es.append(c["pull_mean_se"])
                axes[0].errorbar(
                    xs,
                    ys,
                    yerr=es,
                    fmt=markers.get(bg, "^"),
                    color=colours.get(bg),
                    mfc="none" if m else None,
                    capsize=3,
                    label=f"{bg}, {k:g} $\\sigma$ injected",
                )
            xs, ys, lo, hi = [], [], [], []
            for i, lay in enumerate(lays):
                c = cell(lay, bg, top)
                if c is not None:
                    cv = c["coverage_ul95"]
                    xs.append(i + 0.1 * (2 * j - 1))
                    ys.append(cv["fraction"])
                    lo.append(cv["fraction"] - cv["cp95"][0])
                    hi.append(cv["cp95"][1] - cv["fraction"])
            axes[1].errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                fmt=markers.get(bg, "^"),
                color=colours.get(bg),
                capsize=3,
                label=bg,
            )
            xs, ys = [], []
            for i, lay in enumerate(lays):
                c = cell(lay, bg, min(spec["multiples"]))
                if c is not None:
                    xs.append(i + 0.1 * (2 * j - 1))
                    ys.append(c["ul95_median"])
            axes[2].plot(xs, ys, markers.get(bg, "^"), color=colours.get(bg), ms=10, label=bg)
        axes[0].axhline(0.0, color="0.4", lw=1)
        axes[0].set_ylabel("mean pull $(N_X - N_{inj}) / \\sigma(N_X)$")
        axes[1].axhspan(0.93, 0.97, color="0.85")
        axes[1].axhline(0.95, color="0.4", lw=1)
        axes[1].set_ylabel("P(95 % limit $\\geq$ truth)")
        axes[1].set_title(f"{top:g} $\\sigma$ injected", fontsize=14)
        axes[2].set_ylabel("median 95 % limit [counts]")
        axes[2].set_title("no signal", fontsize=14)
        for ax in axes:
            ax.set_xticks(range(len(lays)), lays)
            ax.set_xlim(-0.5, len(lays) - 0.5)
            ax.set_xlabel("layout of the current")
            ax.legend(fontsize=12, loc="upper right")
        ns = [c["toys"] for c in summary["cells"]] or [0]
        n = f"{min(ns)}" if min(ns) == max(ns) else f"{min(ns)}-{max(ns)}"
        days = sum(p["days"] for p in spec["settings"]["periods"])
        fig.suptitle(
            f"VIP-2 toy study: {spec['settings']['n_sdd']} SDDs, {days:g} days, background "
            f"drift {spec['drift']:+.0%} over the run, {n} toys per layout and signal",
            fontsize=16,
        )
        fig.tight_layout()
        return save(fig, path)
