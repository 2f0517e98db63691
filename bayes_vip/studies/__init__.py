"""Toy studies on Dask: coverage of the limits (``coverage``), on the engine of ``engine``."""
