"""Analysis layer: the conventions and spectral model of both analyses; the classic fit.

The hierarchical Bayesian model, one layer up, reuses them (``bayes_vip.bayes``).
"""
