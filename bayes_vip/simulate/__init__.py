"""Simulation layer: ADC-level VIP-2 campaigns from the physics layer, in real-data formats."""
