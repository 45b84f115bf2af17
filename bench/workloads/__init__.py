"""Benchmark workloads for `srcad bench`: one file per workload, one fixed interface.

`srcad bench` (see `srcad/bench/`) discovers every `*.py` file in this folder whose
name does not start with `_`, and any file a user names on the command line, and reads
these module-level names from it:

NAME : str
    The label in the results table, e.g. "rosenbrock_loop".
DESCRIPTION : str
    One line saying what the workload computes.
SIZES : dict[str, list]
    Size keys per suite: "quick" (the default run) and "full" (`--sizes full`); optionally
    "test" (tiny sizes for `tests/bench/` and smoke runs, `--sizes test`). A size key is an
    int, a tuple or a str, whatever `make_inputs` accepts.
WRT : tuple[int, ...]
    The indices of the arguments of `f` that are differentiated.
make_inputs(size) -> tuple
    The arguments of `f` for one size key: numpy arrays, floats, ints. Deterministic
    (seeded or read from a data file).
f(*args) -> float
    The function in ordinary Python/NumPy, written as a Numba user writes it: loops, `x[i]`
    indexing, `math.*`/`np.*` calls, `y[i] = ...`, `while`, no numba decorators. This is what
    srcad differentiates, and `numba.njit(f)` is the primal that is timed, so `f` compiles in
    Numba's nopython mode as written (no calls to plain-Python helpers).
hand_adjoint(*args) -> (value, grads)
    A hand-written reverse-mode adjoint compiled with `numba.njit`: `grads` is a tuple in WRT
    order, each entry of its argument's shape (a float for a float argument). The practical
    limit srcad is compared with.

Optional names:

PEERS : dict[str, callable]
    {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}. `make_X(*args)`
    imports its library, builds the gradient the way a user of that tool writes it, and
    returns a zero-argument callable that computes the gradient (the timed thing) and returns
    the grads in WRT order (a tuple of arrays/tensors, or one array when WRT has one entry).
    It raises `CannotExpress("reason")` when the tool cannot express the workload.
check(value, grads[, size]) :
    Compares `(value, grads)` computed at the size key `CHECK_SIZE` (or each key of a list
    `CHECK_SIZE`) with published expected values (ADBench); raises AssertionError if off.
    A `check` with three parameters is also told the size key.
CHECK_SIZE : size key or list of size keys
    The inputs `check` knows the expected outputs for (default: "test").

Files whose names start with `_` (like `_adbench.py`, the ADBench file readers) are helpers,
not workloads.
"""


class CannotExpress(Exception):
    """A peer tool cannot express a workload; the message says why.

    `srcad bench` reports the cell as "cannot express: <message>". It recognises any
    exception class of this name, so a user's own workload file may define its own.
    """
