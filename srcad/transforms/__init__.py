"""The transforms: each turns a normalised function into its derivative program (reverse.py
with saving.py: the gradient)."""
