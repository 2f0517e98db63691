"""Calibration layer: the peak-finder CNN (seed 002 sec. 3.1); line fits and the
differentiable refinement follow (issue 5)."""
