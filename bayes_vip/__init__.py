"""bayes_vip: classic and hierarchical-Bayesian analysis of VIP-2 PEP-violation X-ray searches.

Importing the package is cheap: heavy modules (JAX, NumPyro, uproot) are imported by the
subpackages that need them, so ``bayes-vip --version`` answers quickly.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
