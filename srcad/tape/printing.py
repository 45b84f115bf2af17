"""repr() of a tensor as PyTorch prints it: tensor([1.5000, 2.0000], requires_grad=True).

Floats print with 4 decimals, or none ("1.") when every element is a whole number, or in
scientific notation when the magnitudes span more than 1000x, exceed 1e8 or fall below 1e-4.
The dtype is named unless it is the default float (float64 unless set_default_dtype changed
it), int64 or bool; then come grad_fn or requires_grad.
"""

import numpy as np

from srcad.tape import dtypes

def tensor_repr(t):
    value = t._value
    parts = [_body(value)]
    if value.dtype not in (dtypes.get_default_dtype().dtype, np.int64, np.bool_):
        parts.append(f"dtype={dtypes.of(value.dtype)!r}")
    if t.grad_fn is not None:
        parts.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        parts.append("requires_grad=True")
    return f"tensor({', '.join(parts)})"


def _body(value):
    if value.dtype.kind not in "fb":
        return np.array2string(value, separator=", ", prefix="tensor(")
    if value.size == 0:
        return "[]"
    if value.dtype.kind == "b":  # padded only when a False is there, unlike NumPy
        texts = np.vectorize(str, otypes=[object])(value)
        width = max(len(text) for text in texts.flat)
    else:
        texts = np.vectorize(_float_format(value), otypes=[object])(value)
        # as torch: only finite nonzero entries set the width (nan, inf and -0. do not)
        finite = texts[np.isfinite(value) & (value != 0)]
        width = max((len(text) for text in finite.flat), default=0)
    padded = np.vectorize(lambda text: text.rjust(width), otypes=[object])(texts)
    if value.ndim == 0:
        return padded.item()
    return np.array2string(
        padded, separator=", ", prefix="tensor(", formatter={"all": str}, max_line_width=80
    )


def _float_format(value):
    finite = value[np.isfinite(value)]
    magnitudes = np.abs(finite[finite != 0])
    whole = np.all(finite == np.round(finite))
    wide = magnitudes.size > 0 and (
        magnitudes.max() / magnitudes.min() > 1000 or magnitudes.max() > 1e8
    )
    if whole and not wide:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    if wide or (magnitudes.size > 0 and magnitudes.min() < 1e-4):
        return lambda v: f"{v:.4e}" if np.isfinite(v) else str(v)
    return lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)
