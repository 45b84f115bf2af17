"""Kernels the derivative rules call: forward helpers for the NumPy forms Numba lacks, and the
adjoints (vector-Jacobian products) of reductions, linear algebra and array manipulations.

Every kernel runs as plain Python and compiles in Numba nopython mode. The modules are
imported on demand (they import numba): `reductions` (sum/mean/prod/max/min/var/std/
logsumexp/cumsum/cumprod along axes), `linalg` (solve, inv, det, cholesky, eigh, norms,
products) and `arrays` (sorting, quantiles, interpolation, shifts, copies, gathers).
"""
