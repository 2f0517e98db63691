"""Analysis layer: the spectral model shared by the analyses, the classic fit, and later the
hierarchical model and its limits."""
