"""Shared check: the model's parametrisations have one density."""

from __future__ import annotations

import functools

import numpy as np


def check_centroid_offsets_keep_the_density(d, prior: str = "flat-beta", upper: float = 50.0):
    """The log joint with centroid offsets sampled equals the one with peak offsets.

    At a point away from the classic start (a long tail, offsets of a few eV), the sampled
    ``offset_c`` (``cal_m0c``) plus ``tail_frac * tail_beta * sigma_ref`` is the peak offset.
    """
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from bayes_vip.bayes.data import init_values
    from bayes_vip.bayes.model import vip_model

    rng = np.random.default_rng(5)
    site, sampled = ("offset", "offset_c") if d.level == "energy" else ("cal_m0", "cal_m0c")
    v = {k: jnp.asarray(x) for k, x in init_values(d, prior, centroid_offsets=True).items()}
    v["tail_frac"], v["tail_beta"] = jnp.asarray(0.3), jnp.asarray(0.7)
    v[sampled] = jnp.asarray(rng.normal(0.0, 3.0, d.n_sdd))
    centroid = functools.partial(vip_model, d, prior, upper, centroid_offsets=True)
    peak = functools.partial(vip_model, d, prior, upper, centroid_offsets=False)
    lp_c, tr_c = log_density(centroid, (), {}, v)
    shift = 0.3 * 0.7 * d.init["sigma_ref"]
    w = {k: x for k, x in v.items() if k != sampled}
    w[site] = v[sampled] + shift
    lp_p, tr_p = log_density(peak, (), {}, w)
    assert tr_c[site]["type"] == "deterministic"
    assert tr_p[site]["type"] == "sample"
    np.testing.assert_allclose(np.asarray(tr_c[site]["value"]), np.asarray(w[site]), rtol=1e-12)
    assert np.isfinite(float(lp_p))
    np.testing.assert_allclose(float(lp_c), float(lp_p), rtol=1e-12)
    # and the density does depend on the offsets: the check can fail
    w[site] = w[site] + 5.0
    assert abs(float(log_density(peak, (), {}, w)[0]) - float(lp_p)) > 1.0
