"""Calibration layer (seed 002): the peak-finder CNN, line fits, the quadratic calibration.

Also the differentiable refinement and seed 002's Cu Ka fit.
"""
