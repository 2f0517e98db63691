"""Hierarchical Bayesian analysis (NumPyro model, NUTS, ArviZ)."""
