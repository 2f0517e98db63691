"""I/O layer: run manifests, readers (ROOT via uproot, Parquet) and the ``Campaign`` dataset."""
