"""Physics layer: constants, the X-ray line catalogue and the detector response.

Pure functions that know nothing of files. Submodules are imported explicitly
(``from bayes_vip.physics import response``) so that importing this package does not pull in JAX.
"""
