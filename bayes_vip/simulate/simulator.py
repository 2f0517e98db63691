"""ADC-level simulation of a VIP-2 campaign, written in the formats real data come in.

``simulate_campaign`` draws every event of every (period, SDD, batch) cell from the
components of ``physics.spectrum.SpectrumModel`` (lines with Gaussian + tail response, Si
escape peaks, shelf, continuum, and an optional PEP line), converts its energy to an ADC
value through that cell's true calibration, and ``write_campaign`` stores:

- ``events.parquet``: columns ``period`` (name), ``sdd``, ``batch``, ``adc`` (integer channel
  = floor of the continuous ADC value), ``time_s`` (live seconds since the period started);
- ``run.toml``: the manifest, with ``[simulation]`` (preset and settings) and ``[truth]``
  (every true parameter, calibration constants per cell included).

All randomness flows from the ``numpy.random.Generator`` the caller passes (``rng``); the
command line seeds it, so the same seed gives the same files. The seed the generator was
made from is recorded in the manifest (``seed_of``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path
from bayes_vip.io.manifest import Schedule, schedule_periods
from bayes_vip.physics import lines as _lines
from bayes_vip.physics.constants import SECONDS_PER_DAY, W_SI_EV
from bayes_vip.physics.response import sigma_at
from bayes_vip.physics.spectrum import ESCAPE_GROUPS, SpectrumModel
from bayes_vip.seeding import seed_of
from bayes_vip.simulate.presets import Preset, batch_lengths_s, cycle_schedule, preset_settings

__all__ = [
    "ENERGY_EDGES",
    "SimulatedCampaign",
    "energy_histograms",
    "simulate_campaign",
    "spectrum_model",
    "write_campaign",
    "write_energy_campaign",
]

#: Energy binning of ``--level energy`` runs: 1 eV from 1 to 11 keV (the measured file has
#: 1 eV bins from 1 to 10 keV; we keep 10-11 keV so the seed's 3.5-11 keV range is covered).
ENERGY_EDGES = np.arange(1000.0, 11000.0 + 0.5, 1.0)


def spectrum_model(groups) -> SpectrumModel:
    """The SpectrumModel the simulator uses for the given line groups."""
    return SpectrumModel(groups=tuple(groups), escape_groups=ESCAPE_GROUPS)


@dataclass
class SimulatedCampaign:
    """Events (numpy columns) plus the truth and settings that produced them."""

    preset: Preset
    seed: int | None  # the seed of the generator that drew it (provenance; seed_of)
    period: np.ndarray  # int index into preset.periods
    sdd: np.ndarray
    batch: np.ndarray
    adc: np.ndarray
    time_s: np.ndarray
    truth: dict
    batches_s: list[list[float]]
    #: a switched run's schedule (``Preset.cycle_s`` > 0; ``time_s`` is then on its run
    #: clock) and each period's calibration batches on that clock; None / () otherwise
    schedule: Schedule | None = None
    blocks: tuple[tuple[int, ...], ...] = ()

    def true_parameters(self, period: int, sdd: int) -> dict:
        """True spectrum of one (period, SDD) as flat named parameters.

        Keys: every line group (rate per second of live time, per-SDD scale included), and
        ``physics.spectrum.PARAM_NAMES`` (noise of that period and SDD, Fano, tail, escape,
        shelf, continuum). ``sdd`` is the 1-based id.
        """
        t = self.truth
        sc = t["sdd_rate_scale"][sdd - 1]
        c = t["continuum"]
        out = {g: r * sc for g, r in t["rates_per_sdd_per_s"].items()}
        out.update(
            noise=t["noise_eV"][period][sdd - 1],
            fano=t["fano"],
            tail_frac=t["tail_frac"],
            tail_beta=t["tail_beta"],
            escape_frac=t["escape_frac"],
            shelf_frac=t["shelf_frac"],
            level=c["level"] * sc,
            slope=c["slope"],
            exp_level=c["exp_level"] * sc,
            exp_len=c["exp_len"],
        )
        return out

    def calibrated_energy(self, *, rng: np.random.Generator) -> np.ndarray:
        """Energies [eV] of the events through their cells' *true* calibration.

        The integer ADC value is dithered uniformly within its channel first (with ``rng``),
        so the result is what a perfect calibration of these events would give.
        """
        p = np.asarray(self.truth["calibration"])[self.period, self.sdd - 1, self.batch]
        a = self.adc + rng.random(self.adc.size)
        return p[:, 0] + p[:, 1] * a + p[:, 2] * a * a


def _sample_line(rng, n, mu, sigma, tail_frac, beta):
    """Energies from the Gaussian + low-energy tail of seed 002 eq. 5 (per-event arrays)."""
    e = mu + sigma * rng.standard_normal(n)
    tail = rng.random(n) < tail_frac
    e[tail] -= rng.exponential(1.0, tail.sum()) * beta * sigma[tail]
    return e


def _sample_continuum(rng, n_lin, n_exp, model: SpectrumModel, p):
    """Energies of the linear and exponential continuum components."""
    a, b = model.e_min, model.e_max
    # linear density f(E) ∝ 1 + s (E - e_ref)/1000 on [a, b]: inverse CDF of a quadratic
    s = p["slope"] * 1e-3
    u = rng.random(n_lin)
    if abs(s) < 1e-15:
        e_lin = a + u * (b - a)
    else:
        fa = 1.0 + s * (a - model.e_ref)
        fb = 1.0 + s * (b - model.e_ref)
        # F(E) = [f(E)^2 - f(a)^2] / [f(b)^2 - f(a)^2]; invert for f(E), then E
        fe = np.sqrt(fa * fa + u * (fb * fb - fa * fa))
        e_lin = model.e_ref + (fe - 1.0) / s
    lam = p["exp_len"]
    u = rng.random(n_exp)
    e_exp = a - lam * np.log1p(-u * (1.0 - math.exp(-(b - a) / lam)))
    return np.concatenate([e_lin, e_exp])


def simulate_campaign(
    pre: Preset,
    *,
    rng: np.random.Generator,
    signal_counts: float = 0.0,
    signal: str | float = "ka1",
    progress=None,
) -> SimulatedCampaign:
    """Draw a whole campaign.

    Parameters
    ----------
    pre : the preset (detector layout, periods, spectrum, calibration drift).
    rng : the generator of every random number; the same seed gives the same events.
    signal_counts : expected total number of PEP events over all current-on periods and SDDs
        (shared in proportion to current x live time); the realised number is Poisson.
    signal : the PEP line: ``"ka1"``, ``"ka2"``, ``"doublet"`` or an energy in eV.
    progress : optional callable ``progress(advance)`` called as cells are done.
    """
    if signal_counts < 0 or not math.isfinite(signal_counts):
        msg = f"must be a finite number >= 0, got {signal_counts}"
        raise InputError(msg, field="simulation.signal_counts")
    seed = seed_of(rng)
    sp = pre.spectrum
    groups = tuple(sp["rates"])
    model = spectrum_model(groups)
    pep = _lines.pep_signal(signal)

    n_p, n_s = len(pre.periods), pre.n_sdd
    sched, blocks = None, ()
    if pre.cycle_s > 0:
        start, stop, cur = cycle_schedule(pre)
        batch_s = pre.periods[0].batch_days * SECONDS_PER_DAY
        sched = Schedule(np.array(start), np.array(stop), np.array(cur), batch_s, "simulated")
        derived, blocks = schedule_periods(sched)
        if [p.current_A for p in derived] != [p.current_A for p in pre.periods]:
            msg = "a switched preset lists its periods by current, highest first, one each"
            raise InputError(msg, field="simulation.settings.periods")
        batches_s = [list(p.batches_s) for p in derived]
    else:
        batches_s = [batch_lengths_s(ps) for ps in pre.periods]
    n_b = max(len(b) for b in batches_s)
    # a switched run's live time split by cell, each part weighted by its background factor
    parts = None if sched is None else _portions(pre, sched, blocks)
    # each cell's background factor (Preset.background_drift): the mean over its live time
    # of 1 + drift (t / T - 1/2) on the run clock; exactly 1 without a drift
    drift = _drift_factor(pre, batches_s, n_b, parts)

    # --- truth: per-SDD rate scales, noise, calibration with AR(1) drift per batch
    # per-SDD rate scales: log-normal spread, normalised to mean 1 so that the preset's rates
    # are those of the average SDD (as fitted to the six-SDD sum)
    scale = np.exp(pre.sdd_rate_sd * rng.standard_normal(n_s))
    scale /= scale.mean()
    noise = np.empty((n_p, n_s))
    noise_rel = 1.0 + pre.sdd_noise_rel_sd * rng.standard_normal(n_s)
    for ip, ps in enumerate(pre.periods):
        base = sp["noise_eV"]["on" if ps.current_A > 0 else "off"]
        noise[ip] = base * np.clip(noise_rel, 0.5, 1.5)
    p_sdd = np.stack(
        [
            pre.p0_sd * rng.standard_normal(n_s),
            pre.gain * (1.0 + pre.gain_rel_sd * rng.standard_normal(n_s)),
            pre.p2_mean + pre.p2_sd * rng.standard_normal(n_s),
        ],
        axis=-1,
    )
    calib = np.zeros((n_p, n_s, n_b, 3))
    if sched is not None:
        # the drift runs on the run clock's calibration batches, which the periods share
        cal_block = _calibration_walk(rng, pre, p_sdd, sched.n_block)
        for ip, bl in enumerate(blocks):
            calib[ip, :, : len(bl)] = cal_block[:, list(bl)]
    else:  # one walk per SDD through the periods' batches in order
        walk = _calibration_walk(rng, pre, p_sdd, n_p * n_b)
        calib[:] = walk.reshape(n_s, n_p, n_b, 3).transpose(1, 0, 2, 3)

    live = np.zeros((n_p, n_s, n_b))
    for ip, bl in enumerate(batches_s):
        live[ip, :, : len(bl)] = np.asarray(bl)[None, :]
    current = np.array([ps.current_A for ps in pre.periods])
    on_exposure = (current[:, None, None] * live).sum()
    sig_mu = np.zeros_like(live)
    if signal_counts > 0:
        if on_exposure <= 0:
            msg = "a signal needs a period with current > 0"
            raise InputError(msg, field="simulation.signal_counts")
        sig_mu = signal_counts * current[:, None, None] * live / on_exposure

    # --- events, component by component, vectorised over cells
    cell_shape = live.shape
    cells_e, cells_id = [], []

    def emit(mu_cell, sampler):
        n = rng.poisson(mu_cell).ravel()
        ids = np.repeat(np.arange(n.size), n)
        if ids.size:
            cells_e.append(sampler(ids))
            cells_id.append(ids)

    ip_of, js_of, _ = np.unravel_index(np.arange(live.size), cell_shape)
    noise_of = noise[ip_of, js_of]
    fano, tf, tb = sp["fano"], sp["tail_frac"], sp["tail_beta"]

    def sigma(e_line, ids):
        return sigma_at(e_line, noise_of[ids], fano, xp=np)

    def emit_group(mu_group, group, f_esc):
        """All events of one line group: main line, Si escape and shelf, per member."""
        f_shelf = sp["shelf_frac"]
        for e0, wj in zip(group.energies, group.weights, strict=True):
            mu = mu_group * wj
            emit(
                mu * (1 - f_esc - f_shelf),
                lambda ids, e0=e0: _sample_line(rng, ids.size, e0, sigma(e0, ids), tf, tb),
            )
            if f_esc > 0:
                ee = e0 - _lines.si_ka_ev()
                emit(
                    mu * f_esc,
                    lambda ids, ee=ee: _sample_line(rng, ids.size, ee, sigma(ee, ids), tf, tb),
                )
            emit(
                mu * f_shelf,
                lambda ids, e0=e0: (
                    rng.uniform(model.shelf_lo_eV, e0, ids.size)
                    + sigma(e0, ids) * rng.standard_normal(ids.size)
                ),
            )

    base_mu = live * scale[None, :, None] * drift[:, None, :]
    for g in groups:
        emit_group(
            base_mu * sp["rates"][g],
            _lines.line_group(g),
            sp["escape_frac"] * (g in model.escape_groups),
        )
    # continuum: expected counts of the two parts over [e_min, e_max]
    pz = {k: sp[k] for k in ("level", "slope", "exp_level", "exp_len")}
    lin_tot = float(model.continuum_cumulative(model.e_max, {**pz, "exp_level": 0.0}))
    exp_tot = float(model.continuum_cumulative(model.e_max, {**pz, "level": 0.0}))
    n_lin = rng.poisson(base_mu * lin_tot).ravel()
    n_exp = rng.poisson(base_mu * exp_tot).ravel()
    ids = np.concatenate(
        [np.repeat(np.arange(n_lin.size), n_lin), np.repeat(np.arange(n_exp.size), n_exp)]
    )
    cells_e.append(_sample_continuum(rng, int(n_lin.sum()), int(n_exp.sum()), model, pz))
    cells_id.append(ids)
    # PEP signal: a line like the others (same response and shelf; its Si escape peak, near
    # 6 keV under the Mn lines, is left out as for the other target lines)
    n_chunks = len(cells_id)
    if signal_counts > 0:
        emit_group(sig_mu, pep, 0.0)
    sig_ids = np.concatenate([np.zeros(0, np.int64), *cells_id[n_chunks:]])
    sig_realised = np.bincount(sig_ids, minlength=live.size).reshape(cell_shape)
    if progress:
        progress(1)

    energy = np.concatenate(cells_e)
    cell = np.concatenate(cells_id)
    ip, js, ib = np.unravel_index(cell, cell_shape)
    p = calib[ip, js, ib]
    d = energy - p[:, 0]
    disc = p[:, 1] ** 2 + 4.0 * p[:, 2] * d
    adc_cont = 2.0 * d / (p[:, 1] + np.sqrt(np.maximum(disc, 0.0)))
    adc = np.floor(adc_cont).astype(np.int32)
    if sched is None:
        t = (
            rng.random(energy.size) * live[ip, js, ib]
            + np.array(
                [
                    np.concatenate([[0.0], np.cumsum(b)[:-1], np.zeros(n_b - len(b))])
                    for b in batches_s
                ]
            )[ip, ib]
        )
    else:
        t = _scheduled_times(rng, parts, n_p, n_b, ip, ib)
    order = np.lexsort((t, js, ip))
    if progress:
        progress(1)

    truth = {
        **({} if seed is None else {"seed": seed}),  # TOML has no null
        "signal_counts_expected": float(signal_counts),
        "signal_counts_realised": int(sig_realised.sum()),
        "signal_line": pep.to_dict(),
        "signal_counts_per_cell": sig_realised.tolist(),
        "rates_per_sdd_per_s": dict(sp["rates"]),
        "sdd_rate_scale": scale.tolist(),
        "noise_eV": noise.tolist(),
        "fano": fano,
        "tail_frac": tf,
        "tail_beta": tb,
        "escape_frac": sp["escape_frac"],
        "shelf_frac": sp["shelf_frac"],
        "continuum": {
            **pz,
            "e_min": model.e_min,
            "e_max": model.e_max,
            "e_ref": model.e_ref,
            "unit": "counts/s/eV per SDD before sdd_rate_scale",
        },
        "calibration_sdd": p_sdd.tolist(),
        "calibration": calib.tolist(),
        "calibration_layout": "[period][sdd][batch] -> [p0 eV, p1 eV/ADC, p2 eV/ADC^2]",
        "w_eV": W_SI_EV,
    }
    if pre.background_drift or sched is not None:
        truth["background_drift"] = pre.background_drift
        truth["background_factor_per_batch"] = drift.tolist()
    # SDD ids start at 1, as in the measured data
    return SimulatedCampaign(
        pre,
        seed,
        ip[order].astype(np.int8),
        js[order].astype(np.int16) + 1,
        ib[order].astype(np.int16),
        adc[order],
        t[order],
        truth,
        batches_s,
        sched,
        blocks,
    )


def _calibration_walk(rng, pre: Preset, p_sdd: np.ndarray, n_steps: int) -> np.ndarray:
    """Each SDD's calibration over ``n_steps`` batches, shape (n_sdd, n_steps, 3).

    Its constants ``p_sdd`` plus an AR(1) drift of the offset and the gain (``Preset``:
    lag-one correlation ``drift_rho``, marginal sds ``drift_p0_sd``, ``drift_gain_rel_sd``).
    """
    rho = pre.drift_rho
    innov = math.sqrt(1.0 - rho * rho)
    out = np.zeros((len(p_sdd), n_steps, 3))
    for js in range(len(p_sdd)):
        d0 = pre.drift_p0_sd * rng.standard_normal()
        d1 = pre.drift_gain_rel_sd * rng.standard_normal()
        for k in range(n_steps):
            out[js, k] = p_sdd[js] + [d0, p_sdd[js, 1] * d1, 0.0]
            d0 = rho * d0 + innov * pre.drift_p0_sd * rng.standard_normal()
            d1 = rho * d1 + innov * pre.drift_gain_rel_sd * rng.standard_normal()
    return out


def _linear_drift(pre: Preset, t, t_end: float):
    return 1.0 + pre.background_drift * (t / t_end - 0.5)


def _portions(pre: Preset, sched: Schedule, blocks):
    """The schedule's live time split by cell: (period, batch, start, stop, weight) per part.

    The weight is the part's live time times its mean background factor (the factor at its
    middle: the drift is linear).
    """
    rows, blk, secs = sched.block_durations()
    ip, ib = sched.cells(rows, blk, blocks)
    lo = np.maximum(sched.start_s[rows], sched.t0 + blk * sched.batch_s)
    hi = lo + secs
    w = (hi - lo) * _linear_drift(pre, (lo + hi) / 2, float(sched.stop_s[-1]))
    return ip, ib, lo, hi, w


def _drift_factor(pre: Preset, batches_s, n_b: int, parts) -> np.ndarray:
    """Each (period, batch) cell's mean background factor, shape (n_period, n_batch)."""
    n_p = len(batches_s)
    out = np.ones((n_p, n_b))
    if not pre.background_drift:
        return out
    if parts is None:  # the periods one after the other, each batch after the previous
        t_end = sum(sum(b) for b in batches_s)
        t0 = 0.0
        for ip, bl in enumerate(batches_s):
            for ib, d in enumerate(bl):
                out[ip, ib] = _linear_drift(pre, t0 + d / 2, t_end)
                t0 += d
        return out
    ip, ib, lo, hi, w = parts
    num = np.bincount(ip * n_b + ib, weights=w, minlength=n_p * n_b)
    den = np.bincount(ip * n_b + ib, weights=hi - lo, minlength=n_p * n_b)
    ok = den > 0
    out.ravel()[ok] = num[ok] / den[ok]
    return out


def _scheduled_times(rng, parts, n_p: int, n_b: int, ip, ib) -> np.ndarray:
    """Run-clock times of events in cells (ip, ib).

    A part of the cell's live time is drawn in proportion to its weight (``_portions``),
    then a uniform time in it.
    """
    pp, pb, lo, hi, w = parts
    key = pp * n_b + pb
    order = np.argsort(key, kind="stable")
    key, lo, hi, w = key[order], lo[order], hi[order], w[order]
    cum = np.cumsum(w)
    cum0 = np.concatenate([[0.0], cum])
    cells = np.arange(n_p * n_b)
    before = cum0[np.searchsorted(key, cells, side="left")]  # weight before each cell's parts
    total = cum0[np.searchsorted(key, cells, side="right")] - before
    ev = ip.astype(np.int64) * n_b + ib
    u = before[ev] + rng.random(ev.size) * total[ev]
    k = np.minimum(np.searchsorted(cum, u, side="right"), cum.size - 1)
    return lo[k] + rng.random(ev.size) * (hi[k] - lo[k])


def _manifest(sim: SimulatedCampaign, name: str, signal: str | float) -> dict:
    pre = sim.preset
    settings = preset_settings(pre)
    man = {
        "schema": 1,
        "run": {
            "name": name,
            "kind": "simulated",
            "level": "adc",
            "description": f"simulated with preset {pre.name!r}: {pre.description}",
        },
        "periods": [
            {
                "name": ps.name,
                "current_A": ps.current_A,
                "time_s": float(sum(bl)),
                "batches_s": [float(x) for x in bl],
            }
            for ps, bl in zip(pre.periods, sim.batches_s, strict=True)
        ],
        "target": {
            "length_cm": pre.length_cm,
            "mean_free_path_cm": pre.mean_free_path_cm,
            "cross_section_cm2": pre.cross_section_cm2,
        },
        "efficiency": {"value": pre.efficiency, "rel_uncertainty": pre.efficiency_rel_uncertainty},
        "binning": {"lo": 0, "hi": pre.n_adc, "width": 1},
        "sources": [{"format": "parquet", "path": "events.parquet"}],
        "simulation": {
            "preset": pre.name,
            **({} if sim.seed is None else {"seed": sim.seed}),
            "signal": str(signal),
            "settings": settings,
        },
        "truth": sim.truth,
    }
    if sim.schedule is not None:
        del man["periods"]
        man["schedule"] = {"file": SCHEDULE_FILE, "batch_s": sim.schedule.batch_s}
    return man


def _energy_level(man: dict) -> None:
    """Make ``_manifest``'s ADC-level manifest an energy-level one, truly calibrated."""
    man["run"]["level"] = "energy"
    man["run"]["description"] += " (energy level, true calibration)"
    man["simulation"]["calibration"] = "true"


def _write_manifest(out: Path, man: dict, command: str) -> Path:
    """``out/run.toml``, atomically, headed by the command that wrote it."""
    import tomli_w

    with atomic_path(out / "run.toml") as tmp:
        tmp.write_text(
            f"# written by `{command}`; schema: docs/manifest.md\n" + tomli_w.dumps(man),
            encoding="utf-8",
        )
    return out / "run.toml"


#: The schedule file a switched simulated run is written with.
SCHEDULE_FILE = "schedule.csv"


def _write_schedule(sim: SimulatedCampaign, out: Path) -> None:
    sc = sim.schedule
    assert sc is not None
    rows = np.column_stack([sc.start_s, sc.stop_s, sc.current_A])
    with atomic_path(out / SCHEDULE_FILE) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("# written by `bayes-vip simulate`: live intervals on the run clock\n")
        f.write("start_s,stop_s,current_A\n")
        np.savetxt(f, rows, fmt="%.17g", delimiter=",")


def energy_histograms(
    sim: SimulatedCampaign, edges: np.ndarray = ENERGY_EDGES, *, rng: np.random.Generator
) -> np.ndarray:
    """Per (period, SDD) energy histograms of the events, through their true calibration.

    ADC values are dithered within their channel with ``rng``.

    Returns counts of shape (n_period, n_sdd, n_bins); events outside ``edges`` are not in it.
    """
    e = sim.calibrated_energy(rng=rng)
    n_p, n_s = len(sim.preset.periods), sim.preset.n_sdd
    nb = len(edges) - 1
    idx = np.searchsorted(edges, e, side="right") - 1
    inside = (idx >= 0) & (idx < nb)
    flat = (sim.period[inside].astype(np.int64) * n_s + (sim.sdd[inside] - 1)) * nb + idx[inside]
    return np.bincount(flat, minlength=n_p * n_s * nb).reshape(n_p, n_s, nb)


def write_energy_campaign(
    sim: SimulatedCampaign,
    out: str | Path,
    *,
    rng: np.random.Generator,
    name: str | None = None,
    signal: str | float = "ka1",
) -> Path:
    """Write a *perfectly calibrated* energy-level run.

    ROOT TH1 histograms per (period, SDD), as the measured file holds them, and a manifest with
    the truth.

    The calibration applied is the true one of every event's cell, so these runs test the
    analyses without calibration error; ``[simulation].calibration = "true"`` says so.
    ``rng`` dithers the ADC values within their channels (``energy_histograms``).
    """
    import uproot

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if sim.schedule is not None:
        return _write_energy_events(sim, out, rng=rng, name=name, signal=signal)
    counts = energy_histograms(sim, rng=rng)
    names = [p.name for p in sim.preset.periods]
    with atomic_path(out / "energyHistograms.root") as tmp, uproot.recreate(tmp) as f:
        for ip, pname in enumerate(names):
            for js in range(sim.preset.n_sdd):
                f[f"{pname}_sdd{js + 1}"] = (counts[ip, js].astype(np.float64), ENERGY_EDGES)
    man = _manifest(sim, name or out.name, signal)
    _energy_level(man)
    man["periods"] = [{k: v for k, v in p.items() if k != "batches_s"} for p in man["periods"]]
    man.pop("binning")
    man["sources"] = [
        {
            "format": "root-th1",
            "path": "energyHistograms.root",
            "period": pn,
            "histogram": f"{pn}_sdd{{sdd}}",
            "sdds": list(range(1, sim.preset.n_sdd + 1)),
        }
        for pn in names
    ]
    return _write_manifest(out, man, "bayes-vip simulate --level energy")


def _write_energy_events(
    sim: SimulatedCampaign, out: Path, *, rng: np.random.Generator, name, signal
) -> Path:
    """A switched run at energy level: its event list, with its schedule.

    The ``adc`` column holds the true-calibrated energies [eV] on an eV binning, beside the
    events' run-clock times.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    e = sim.calibrated_energy(rng=rng)
    inside = (e >= ENERGY_EDGES[0]) & (e < ENERGY_EDGES[-1])  # as the histograms keep
    table = pa.table(
        {
            "sdd": pa.array(sim.sdd[inside]),
            "adc": pa.array(e[inside].astype(np.float32)),
            "time_s": pa.array(sim.time_s[inside]),
        }
    )
    with atomic_path(out / "events.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    _write_schedule(sim, out)
    man = _manifest(sim, name or out.name, signal)
    _energy_level(man)
    man["binning"] = {
        "lo": float(ENERGY_EDGES[0]),
        "hi": float(ENERGY_EDGES[-1]),
        "width": float(ENERGY_EDGES[1] - ENERGY_EDGES[0]),
    }
    return _write_manifest(out, man, "bayes-vip simulate --level energy")


def write_campaign(
    sim: SimulatedCampaign, out: str | Path, *, name: str | None = None, signal: str | float = "ka1"
) -> Path:
    """Write ``events.parquet`` and ``run.toml`` into ``out`` (atomically); return run.toml."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in sim.preset.periods]
    table = pa.table(
        {
            "period": pa.DictionaryArray.from_arrays(pa.array(sim.period), pa.array(names)),
            "sdd": pa.array(sim.sdd),
            "batch": pa.array(sim.batch),
            "adc": pa.array(sim.adc),
            # float32: 0.25 s resolution over 40 days, plenty for re-batching; halves the file
            # (a switched run's times place events in intervals of seconds: float64)
            "time_s": pa.array(sim.time_s.astype(np.float32 if sim.schedule is None else float)),
        }
    )
    with atomic_path(out / "events.parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    if sim.schedule is not None:
        _write_schedule(sim, out)
    return _write_manifest(out, _manifest(sim, name or out.name, signal), "bayes-vip simulate")
