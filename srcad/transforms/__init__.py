"""The transforms: each turns a normalised function into its derivative program. reverse.py
(with saving.py, what to save or recompute) emits the gradient; forward.py the Jacobian-vector
product, and the tangent alone that srcad.higher differentiates again; mixed.py combines the
two for a gradient whose float numbers are better carried forward."""
