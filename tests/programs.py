"""Small user functions, named after what they exercise. Parameter names choose the inputs
(see `make_inputs`): a, b, c scalars; p, q positive scalars; x, y, z, w vectors of length 5;
u, v positive vectors; A, B 5x5 matrices; C a 3x5 matrix; r a row (1, 5); col a column (5, 1);
n an int (5); idx an int index array with repeats; T a tolerance; xs a short vector (3).
Every float parameter is differentiated.
"""

import math
from math import exp as mexp
from math import sin

import numpy as np
import numpy as npy

SCALE = 2.0


def make_inputs(fn, rng):
    import inspect
    out = []
    for name in inspect.signature(fn).parameters:
        if name in ("a", "b", "c"):
            out.append(float(rng.uniform(-1.5, 1.5)))
        elif name in ("p", "q"):
            out.append(float(rng.uniform(0.5, 2.0)))
        elif name in ("x", "y", "z", "w"):
            out.append(rng.uniform(-1.0, 1.0, 5))
        elif name in ("u", "v"):
            out.append(rng.uniform(0.5, 2.0, 5))
        elif name in ("A", "B"):
            out.append(rng.uniform(-1.0, 1.0, (5, 5)))
        elif name == "C":
            out.append(rng.uniform(-1.0, 1.0, (3, 5)))
        elif name == "r":
            out.append(rng.uniform(-1.0, 1.0, (1, 5)))
        elif name == "col":
            out.append(rng.uniform(-1.0, 1.0, (5, 1)))
        elif name == "n":
            out.append(5)
        elif name == "idx":
            out.append(np.array([0, 2, 2, 4, 0]))
        elif name == "T":
            out.append(1e-12)
        elif name == "xs":
            out.append(rng.uniform(0.2, 0.9, 3))
        else:
            raise KeyError(f"no input convention for parameter {name!r} of {fn.__name__}")
    return out


def float_params(fn, args):
    import inspect
    names = list(inspect.signature(fn).parameters)
    return tuple(i for i, (nm, a) in enumerate(zip(names, args))
                 if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")
                 and nm != "T")


# ---- straight-line scalar code ----------------------------------------------------------------
def scalar_expression(a, b):
    return (math.sin(b) + 1) / (b + math.exp(a)) + a * b


def imported_names(a, b):
    return sin(a) * mexp(b) - a ** 3


def aliased_numpy(a, x):
    return npy.sum(npy.tanh(a * x))


def module_constant(a, b):
    return SCALE * a * a + b / SCALE


def reassigned_scalar(a, b):
    t = a * b
    t = t * t + a
    t = math.log(t * t + 1.0)
    return t


def pow_and_division(p, q):
    return p ** q + q ** 2.5 / p - 1.0 / (p * q)


def unary_ops(a, b):
    return -a + (+b) - (-(a * b))


def conditional_expression(a, b):
    return a * b if a > b else a - b


# ---- arrays ---------------------------------------------------------------------------------
def polynomial_sum(x, y, z):
    return np.sum(2 * x**4 - y**3 + 3 * z**2)


def logistic_loss(w, A, x, c):
    return np.sum(np.log1p(np.exp(-x * (A @ w)))) + 0.5 * c * w @ w


def softmax_cross_entropy(x, y):
    m = np.max(x)
    e = np.exp(x - m)
    s = e / np.sum(e)
    return -np.sum(y * np.log(s + 1.5))


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def mlp_layer(A, x, y):
    h = np.tanh(A @ x + y)
    return np.sum(h * h)


def scalar_broadcast(a, x):
    return np.sum(a * x + a)


def row_broadcast(A, r):
    return np.sum((A + r) * A)


def column_broadcast(A, col):
    return np.sum(np.sin(A * col))


def reductions(A, x):
    return np.mean(A) + np.sum(np.max(A, axis=0)) + np.sum(np.sum(A, axis=1) * x) + \
        np.prod(x + 2.0) + np.sum(np.mean(A, axis=0))


def min_max(x, y):
    return np.max(x) - np.min(y) + np.sum(np.min(np.outer(x, y), axis=1))


def dot_variants(A, C, x, y):
    return np.dot(x, y) + np.sum(A @ x) + np.sum(C @ A) + np.sum(x @ A) + np.sum(np.dot(C, A.T))


def transpose_and_methods(A, x):
    return (A.T @ x).sum() + A.mean() + x.dot(x) + A.T.max()


def where_maximum_clip_abs(x, y):
    return np.sum(np.where(x > 0, x * y, y) + np.maximum(x, y) + np.clip(x, -0.3, 0.4) +
                  np.abs(y) + np.minimum(x, 0.1))


def indexing(x, A):
    return x[1] * x[-1] + np.sum(x[1:]) + np.sum(x[::2] ** 2) + A[1, 2] + np.sum(A[:, 3]) + \
        np.sum(A[2]) + np.sum(A[1:3, ::2])


def integer_index_repeats(x, idx):
    return np.sum(x[idx] ** 2)


def boolean_mask(x):
    return np.sum(x[x > 0] ** 2)


def reshape_and_ravel(A):
    return np.sum(np.reshape(A, (25,)) * np.ravel(A.T))


def integer_argument(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] * i
    return s


# ---- control flow ---------------------------------------------------------------------------
def scalar_recurrence(x, c):
    s = 1.0
    for i in range(len(x)):
        s = s * x[i] + c
    return s


def branch_in_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            s += x[i] * x[i]
        elif x[i] < -0.5:
            s -= math.sin(x[i])
        else:
            s *= 1.0 + x[i]
    return s


def break_and_continue(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.9:
            break
        if x[i] < -0.2:
            continue
        s += math.cos(x[i]) * x[i - 1]
    return s


def newton_cube_root(p):
    y = 1.0
    dy = 1.0
    while abs(dy) > 1e-13:
        dy = (y * y * y - p) / (3.0 * y * y)
        y = y - dy
    return y


def while_zero_trips(a):
    s = a
    while s > 100.0:
        s = s / 2.0
    return s * a


def early_returns(a, b):
    if a > 1.0:
        return a * b
    elif a < -1.0:
        return b * b
    return math.sin(a) * b


def return_in_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * x[i]
        if s > 0.6:
            return s * 2.0
    return s


def fill_array(x):
    n = x.shape[0]
    y = np.zeros(n)
    for i in range(1, n):
        y[i] = y[i - 1] * 0.5 + x[i] ** 2
        y[i - 1] += x[i]
    return np.sum(y * y)


def matvec_loops(A, x):
    n, m = A.shape
    y = np.zeros(n)
    for i in range(n):
        for j in range(m):
            y[i] += A[i, j] * x[j]
    return np.sum(np.tanh(y))


def mutate_argument(x):
    for i in range(x.shape[0]):
        x[i] = x[i] * x[i]
    return np.sum(x)


def horner(x, a):
    p = 0.0
    for i in range(len(x) - 1, -1, -1):
        p = p * a + x[i]
    return p


def rosenbrock_loop(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def euler_oscillator(p, q):
    pos, vel = 1.0, 0.0
    dt = 0.01
    for _ in range(200):
        acc = -p * pos - q * vel
        pos, vel = pos + dt * vel, vel + dt * acc
    return pos * pos + vel


def iterate_over_array(x, y):
    s = 0.0
    for v in x:
        s += v * v
    for i, v in enumerate(y):
        s += i * v
    for a, b in zip(x, y):
        s += a * b
    return s


def array_rebinding_in_loop(x):
    y = x * 1.0
    for _ in range(3):
        y = np.sin(y) * x
    return np.sum(y)


def slice_store(x):
    y = np.zeros(7)
    y[1:6] = x * 2.0
    y[0:2] += x[:2]
    return np.sum(y * y)


def matrix_column_store(A, x):
    B = np.zeros((5, 5))
    for j in range(5):
        B[:, j] = A[:, j] * x[j]
    return np.sum(B * B)


def and_or_not(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > -0.5 and not x[i] > 0.5 or x[i] < -0.9:
            s += x[i] ** 3
    return s


def nested_loops_triangular(x):
    s = 0.0
    for i in range(x.shape[0]):
        for j in range(i):
            s += x[i] * x[j] * (i - j)
    return s


def integer_index_arithmetic(x):
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        s += x[(i * 3) % n] * x[n // 2] + x[min(i + 1, n - 1)]
    return s


# ---- calls into user helpers (inlined) --------------------------------------------------------
import functools  # noqa: E402

import numba  # noqa: E402

from tests import helpers_lib  # noqa: E402
from tests.helpers_lib import stats  # noqa: E402


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _softplus(a):
    return math.log1p(math.exp(a))


def _two_values(a, b):
    return a * b, a + b


def _chain_c(v):
    return v * v


def _chain_b(v):
    return _chain_c(v) + 1.0


def _chain_a(v):
    return _chain_b(v) * 2.0


def _scaled(v, k=2.0):
    return v * k


def _partial_sum(x, n):
    s = 0.0
    for i in range(n):
        s += x[i]
    return s


@numba.njit
def _jitted(a):
    return a * a + 1.0


def _piecewise(a):
    if a > 0.5:
        return a * a
    for k in range(3):
        a = a * 0.9 + 0.1
        if a < -1.0:
            return -a
    return math.sin(a)


def _make_closure(c):
    def closure(v):
        return v * c + SCALE
    return closure


def _fill(y, v):
    for i in range(y.shape[0]):
        y[i] = v * i
    return y


_closure = _make_closure(1.5)
_cube = lambda v: v ** 3  # noqa: E731
_partial_scaled = functools.partial(_scaled, k=4.0)


def helper_same_module(x):
    return np.sum(_sigmoid(x) * x)


def helper_in_loop(x):
    s = 0.0
    for i in range(len(x)):
        s += _softplus(x[i])
    return s


def helper_several_returns(a, b):
    p, q = _two_values(a, b)
    m, v = stats(np.full(3, a) * b)
    return p * q + m * v


def helper_chain(a):
    return _chain_a(a) + _chain_c(a)


def helper_keywords_and_defaults(a, b):
    return _scaled(a) + _scaled(b, k=3.0) + _scaled(v=a, k=b)


def helper_integer_arguments(x, n):
    return _partial_sum(x * x, n) + _partial_sum(x, 2)


def helper_numba_dispatcher(a):
    return _jitted(a) * a


def helper_other_module(A, x, y):
    return helpers_lib.squared_norm(helpers_lib.layer(A, x, y))


def helper_partial_closure_lambda(a, b):
    return _partial_scaled(a) + _closure(b) + _cube(a * b)


def helper_local_lambda(a, b):
    sq = lambda v: v * v  # noqa: E731
    return sq(a) + sq(a * b)


def helper_with_branches_and_loop_returns(a, b):
    return _piecewise(a) + _piecewise(b * 0.1)


def _sqrt_by_newton(p):
    v = 1.0
    while True:
        dv = (v * v - p) / (2.0 * v)
        v = v - dv
        if abs(dv) < 1e-12:
            break
    return v


def _cube_root_by_newton(p):
    v = 1.0
    while True:
        dv = (v * v * v - p) / (3.0 * v * v)
        v = v - dv
        if abs(dv) < 1e-12:
            return v


def helper_while_true_exits(p, q):  # (found by an attack: the inlined loops never stopped)
    return _sqrt_by_newton(p) ** 3 + _cube_root_by_newton(q) * p


def loop_else_clauses(x, a):  # (an else runs when its loop ends without a break)
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.6:
            s += x[i] * a
            break
        for j in range(3):
            if j * a > 2.0:
                break
        else:
            s += math.sin(x[i] * a)
    else:
        s += a * a
    k = 0
    while k < 10:
        s = s * 0.9 + x[k % 5]
        k += 1
        if s > 3.0:
            break
    else:
        s = s * a
    return s


def loops_over_expressions(x, a):  # (found by an attack: `sum(x ** 2)` was refused)
    s = sum(x ** 2) + sum(-x * a)
    for v in np.sin(x) * a:
        s += v * v
    return s


def helper_writes_into_array(x, a):
    y = np.zeros(5)
    y = _fill(y, a)
    return np.sum(y * x)




def loop_reads_array_overwritten_later(a, x):
    y = x.copy()
    n = y.shape[0]
    for _ in range(4):
        k = np.zeros(n)
        for i in range(n):
            k[i] = -a * y[i] + math.sin(y[(i + 1) % n])
        for i in range(n):
            y[i] = y[i] + 0.1 * k[i]
    return np.sum(y * y)


def running_maximum(x):
    best = -1e9
    for v in x:
        if v * v > best:
            best = v * v
    return best


def conditional_overwrite_without_use(x, a):
    t = a * 2.0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            t = x[i] * a
    return t * t


def in_place_array_operators(x, a):
    acc = np.zeros(3)
    for i in range(len(x)):
        acc[i % 3] += x[i] * a
    acc *= 2.0
    y = x * 2.0
    y[1:3] = y[0]
    y[-1] += y[0] ** 2
    return np.sum(acc * acc) + np.sum(y * y)


def recompute_input_overwritten_in_between(x, a):
    # t's input z changes between t's definition and the adjoint reading t: t must be saved
    s = 0.0
    for i in range(x.shape[0]):
        z = x[i] * a
        t = z * z
        z = z + 1.0
        s = s + t * z
    return s


def recompute_input_overwritten_by_the_reader(x):
    # t is read by the statement that overwrites its input y
    s = 0.0
    y = 1.0
    for i in range(x.shape[0]):
        t = y * x[i]
        y = t * y
        s = s + y
    return s


def recompute_chain_of_temporaries(x, a):
    # a chain of cheap scalars read by the next step's adjoints, each overwritten next trip
    s = a
    for i in range(x.shape[0]):
        p = s * x[i]
        q = p - s * a
        r = q * q + p
        s = r / (1.0 + q * q)
    return s


def counter_stepped_in_branches(x, a):
    idx = 0
    s = a
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            idx = idx + 1
        s = s * 0.5 + x[idx % x.shape[0]] * s
        idx += 2
    return s + idx


def counter_stepped_in_while(x):
    s = 0.0
    j = 0
    while j < x.shape[0]:
        s = s * x[j] + math.sin(s + x[j])
        j += 2
    return s


# outer loops whose inner loops save: the reverse sweep re-runs each outer trip (checkpointing)

def checkpoint_state_array_stepped_in_place(x, a):
    y = x.copy()
    k = np.zeros(y.shape[0])
    for step in range(3):
        for j in range(y.shape[0]):
            k[j] = math.sin(y[j]) * a
        for j in range(y.shape[0]):
            y[j] = y[j] + 0.1 * k[j] * y[j]
    return np.sum(y * y)


def checkpoint_while_per_element(u, x):
    s = 0.0
    for i in range(u.shape[0]):
        z = 1.0
        dz = 1.0
        while abs(dz) > 1e-12:
            dz = (z * z - u[i]) / (2.0 * z)
            z = z - dz
        s = s + z * x[i]
    return s


def checkpoint_strided_triangle_with_branches(A, x):
    total = 0.0
    acc = np.zeros(5)
    for i in range(1, A.shape[0], 2):
        t = 0.0
        for j in range(i):
            if A[i, j] > 0.0:
                t = t * A[i, j] + x[j]
            else:
                t = t - A[i, j] * x[j]
            acc[j] = acc[j] * 0.5 + t
        total = total + t * t
    return total + np.sum(acc * acc)


def checkpoint_values_read_after_the_loop(x, a):
    last = a
    for i in range(x.shape[0]):
        v = last
        for j in range(3):
            v = v * x[i] + math.cos(v)
        q = v * 2.0
        last = v
    return last * a + q * i


def checkpoint_argument_mutated_inside(x, a):
    for i in range(3):
        for j in range(1, x.shape[0]):
            x[j] = x[j] * math.tanh(x[j - 1] + a)
    return np.sum(x)


def checkpoint_array_rebound_each_trip(x, a):
    y = x * a
    for i in range(3):
        z = y * 0.5
        for j in range(z.shape[0]):
            z[j] = z[j] * math.exp(-z[j] * z[j])
        y = z + y
    return np.sum(y)


def checkpoint_value_from_before_the_loop(x, a):
    t = a * a
    s = math.sin(t)
    for k in range(2):
        t = x[k]
        for j in range(len(x)):
            s = s * x[j] + t
    return s


def checkpoint_input_overwritten_after_the_loop(x, p):
    s = 0.0
    for k in range(2):
        for j in range(len(x)):
            s = s * x[j] + p
    p = 0.0
    return s + p


def checkpoint_array_updated_after_the_loop(x, u):
    s = 0.0
    for k in range(2):
        for j in range(len(x)):
            s = s * x[j] + u[j]
    u *= 2.0
    return s + u[0]


def checkpoint_inner_break(x):
    s = 0.0
    for k in range(3):
        for j in range(len(x)):
            if x[j] > 0.7:
                break
            s = s * x[j] + 1.0
    return s


def copy_by_identity_operation(x):
    y = x * 1.0
    y[0] = 0.0
    z = x + 0.0
    z[1] = 1.0
    return np.sum(x * x) + np.sum(y * z)


def loop_index_reassigned_in_body(x):
    s = 1.0
    for i in range(len(x) - 1):
        i += 1
        s = s * x[i]
    return s


def enumerate_over_zip(x, y):
    s = 0.0
    for i, (a, b) in enumerate(zip(x, y)):
        s = s + i * a * b
    return s


def inline_not_past_a_restore_in_a_branch(x, a):
    if a > -10.0:
        v = np.sin(x)
        x[0] = 0.3
    else:
        v = np.zeros(len(x))
    z = v * x
    return np.sum(z * z)


def copies_by_identity_operations(x):
    y = -(-x)
    y[0] = 0.0
    k = x * 0.5
    z = (k * 1.0)[1:]
    k[1] = 5.0
    return np.sum(x * x) + np.sum(y) + np.sum(z * x[1:]) + np.sum(k * x)


def transposed_view_after_a_write(A):
    B = A.T
    w = np.sin(B)
    p = w * B
    A[0, 1] = 0.5
    C = A.T
    u = C * w
    return np.sum(u * u) + np.sum(p)


def overlapping_slice_update(x):
    y = x * 1.0
    y[1:] += y[:-1]
    y[:-1] += 0.5 * y[1:]
    return np.sum(y * y * x)


def matrix_literals_of_elements(x, a):
    A = np.array([[2.0 + x[0] ** 2, x[0] * x[1]], [x[0] * x[1], 3.0 + a * a]])
    B = np.array([[[x[2], 1.0], [a, x[3] * x[4]]], [[2.0, x[1] ** 2], [x[0], 0.5]]])
    rows = np.asarray([x, x * a])
    return np.sum(np.linalg.inv(A)) + np.sum(B ** 3) + np.sum(rows * rows)


def overlapping_update_by_an_expression(x):
    # (an arithmetic value is updated in place, unless it folds to a view: `* 1.0`, `+ 0.0`)
    y = x * 2.0
    y[1:] += y[:-1] * 1.0
    y[:-1] += y[1:] + 0.0
    y[::-1] += y * 1
    y[1:] += x[:-1] * y[:-1]
    return np.sum(y * y * x)


def slices_of_a_matrix_updated_in_a_loop(x):
    z = np.outer(x, x) * 0.5
    for c in range(x.shape[0] - 1):
        z[:, c + 1:] += z[:, c:c + 1] * x[c + 1:]
        z[c, :] += np.sin(z[c + 1, :])
    return np.sum(z ** 3)


def reshape_to_an_integer_length(A):
    v = A.reshape(25)
    w = np.reshape(A, (5, 5)).reshape(-1)
    return np.sum(v * v * w)


def arrays_swapped_in_a_loop(x, y):
    # the names form an alias cycle (a -> b -> a): planning must not walk it forever
    a = x * 1.0
    b = y * 1.0
    for i in range(3):
        a, b = b, a
    return np.sum(a * b * x)


# ---- arrays whose shape changes between loop trips -------------------------------------------
def ragged_segments(x):
    # the segments have different lengths: each trip's adjoint has its own trip's shape
    total = 0.0
    starts, ends = (0, 3, 4), (3, 4, 5)
    for k in range(3):
        seg = x[starts[k]:ends[k]]
        m = np.max(seg)
        total += m + np.log(np.sum(np.exp(seg - m)))
    return total


def shrinking_array(x):
    for t in range(3):
        x = x[1:] + 0.5 * x[:-1] ** 2
    return np.sum(x * x)


def slice_chosen_by_a_branch(x, a):
    total = 0.0
    for i in range(4):
        if (i % 2 == 0) == (a > 0):
            part = x[i:]
        else:
            part = x[:i + 1] * 2.0
        total += np.sum(np.sin(part) * part)
    return total


def growing_array(x, a):
    y = x[:1] * a
    for k in range(1, 4):
        y = np.concatenate((y, x[k:k + 1] * y[-1:]))
    return np.sum(y * y)


# ---- constructs whose arguments were once ignored -----------------------------------------------
def enumerate_from_one(x):
    s = 0.0
    for i, v in enumerate(x, 1):
        s += i * v * v
    return s


def enumerate_zip_with_start(x, y):
    s = 0.0
    for i, (a, b) in enumerate(zip(x, y), start=2):
        s += a * b * i
    return s


def linspace_between_values(a, b):
    t = np.linspace(a, b * 2.0, 7)
    u = np.linspace(b, a, 4, endpoint=False)
    return np.sum(t * t) + np.sum(np.sin(u))


def clip_with_one_bound(x):
    return np.sum(np.clip(x, None, 0.3) ** 2 + np.clip(x, -0.2, None) ** 3)


def builtin_max_min_chain(x):
    m = x[0]
    k = x[0]
    for i in range(1, len(x)):
        m = max(m, x[i])
        k = min(x[i], k)
    return m * k


# ---- buffers that trade names but never alias (compiled, flow-sensitive alias analysis) -------
def double_buffers_swapped(x):
    u = x.copy()
    v = x.copy()
    for t in range(3):
        v[1:-1] = u[1:-1] + 0.2 * (u[2:] - 2.0 * u[1:-1] + u[:-2]) + 0.1 * u[1:-1] ** 2
        u, v = v, u
    return np.sum(u * u)


def fresh_buffer_every_trip(x):
    prev = x * 1.0
    for t in range(3):
        nxt = np.zeros(len(x))
        for i in range(len(x)):
            nxt[i] = np.sin(prev[i]) + 0.5 * prev[(i + 1) % len(x)]
        prev = nxt
    return np.sum(prev * x)


def three_buffer_wave(x):
    before = x * 1.0
    now = x * 1.1
    after = np.zeros(len(x))
    for t in range(4):
        after[1:-1] = 2.0 * now[1:-1] - before[1:-1] + 0.3 * (now[2:] - 2.0 * now[1:-1] +
                                                              now[:-2])
        before, now, after = now, after, before
    return np.sum(now * now) + np.sum(before)


def write_before_a_second_name(x, y):
    u = x * 2.0
    v = y * 3.0
    u[0] = v[1] * u[2]
    w = np.sum(u * x)
    u = v
    return w + np.sum(u * u)


def ellipsis_indices(A, x):
    y = np.zeros(5)
    y[...] = x * 2.0
    B = A * 1.0
    B[..., 0] = y
    return np.sum(B[..., 1:] ** 2) + np.sum(A[0, ...] * y) + np.sum(B[..., 0] * x)


def nested_function(x, a):
    def scaled(v, k=2.0):
        return np.sin(v) * k * a
    return np.sum(scaled(x) + scaled(x * x, 3.0))


def loops_reversed(x):
    s = 0.0
    for i in reversed(range(len(x))):
        s = s * 0.5 + x[i]
    for i in reversed(range(1, len(x), 2)):
        s = s * 0.9 + x[i] * i
    for v in reversed(x):
        s = s * 0.7 + v * v
    return s


def zeros_with_a_dtype(x):
    y = np.zeros(len(x), dtype=float)
    z = np.ones(len(x), dtype=np.float64)
    y[0] = x[0] * x[1]
    return np.sum(y * x * z)


# ---- negative constants ---------------------------------------------------------------------
def alternating_series(x):
    s = 0.0
    for i in range(len(x)):
        s += (-1.0) ** i * x[i] ** 2
    return s


def negative_bases(a):
    return (-1) ** 2 * a + a * (-1.5) ** 2 + a ** (-1) ** 2 + (- 3.0) ** 2 * a


def array_written_until_a_break(x):
    u = x * 1.0
    for t in range(4):
        u[0] = u[0] * 1.1 + u[1] * u[1]
        if u[0] > 0.3:
            break
    return np.sum(u * u)


def array_written_until_a_return(x):
    u = x * 1.0
    for t in range(4):
        u[t] = u[t] * 1.1 + u[t + 1]
        if u[t] > 0.2:
            return np.sum(u * x)
    return np.sum(u)


def array_written_in_nested_loops_with_breaks(x):
    u = x * 1.0
    for i in range(3):
        for j in range(2):
            u[j] = u[j] * u[j + 1] + 0.1
            if u[j] > 0.5:
                break
        if u[0] < -0.2:
            break
    return np.sum(u)


def store_through_a_mask(x):
    y = x * 2.0
    y[x > 0] = 0.5 * x[0]
    return np.sum(y * x)


def store_an_array_through_a_mask(x):
    y = x * 2.0
    m = x > 0
    y[m] = x[m] ** 2
    return np.sum(y * y)


def store_through_repeated_indices(x):
    y = x * 1.0
    y[np.array([1, 3, 1, -1])] = x[:4] * 3.0
    y[np.array([0, 2, 0])] += x[1:4] * x[0]
    return np.sum(y * y)


def store_rows_through_indices(A, x):
    B = A * 1.0
    B[np.array([2, 0, 2])] = np.outer(x[:3], x)
    return np.sum(B * B * A)


def stores_through_indices_in_a_loop(x):
    y = x * 1.0
    idx = np.array([0, 2, 3])
    for t in range(3):
        y[idx] = y[idx] * y[idx + 1] + 0.1
    return np.sum(y)


def scatter_added_at_repeated_indices(x):
    y = np.zeros(3)
    np.add.at(y, np.array([0, 1, 1, 2]), x[:4] ** 2)
    np.subtract.at(y, np.array([2, 2]), x[3:5])
    return np.sum(y ** 2)


def rows_scatter_added(A, x):
    B = A * 1.0
    np.add.at(B, np.array([1, 1, 0]), A[:3] * x[0])
    return np.sum(B * B)


def counts_scatter_added(x, idx):
    """np.add.at with a constant: a histogram weighting a differentiable sum."""
    counts = np.zeros(x.shape[0])
    np.add.at(counts, idx, 1.0)
    np.add.at(counts, idx[:2], 0.5)
    return np.sum(counts * x * x)


def repeated_reads_in_a_loop(x, w):
    """`q[r] * q[r]` over a reused workspace: one value saved per trip, not two."""
    q = np.empty(x.shape[0])
    total = 0.0
    for k in range(w.shape[0]):
        for r in range(x.shape[0]):
            q[r] = w[k] * x[r] - x[r] * x[r]
        acc = 0.0
        for r in range(x.shape[0]):
            acc += q[r] * q[r]
        total += math.log(1.0 + acc)
    return total


def accumulator_reset_per_row(x, w):
    """`se`'s value before each `+=` is never needed in the reverse sweep: not saved."""
    total = 0.0
    for i in range(x.shape[0]):
        se = 0.0
        for k in range(w.shape[0]):
            se += math.exp(w[k] - x[i])
        total += math.log(se)
    return total


def recomputed_scalar_beside_restored_elements(y, w, x):
    """`c` is recomputed at its adjoint while `main` and `dmain` are restored element by
    element: the re-plan for the restores' indices lost `c` (and `x[i]`), and the reverse sweep
    read the last trip's values (found by hvp of the GMM)."""
    main = np.empty(y.shape[0])
    dmain = np.zeros_like(main)
    s = 0.0
    for i in range(x.shape[0]):
        for k in range(y.shape[0]):
            main[k] = y[k] * x[i]
            dmain[k] = w[k] * x[i]
        mx = np.max(main)
        se = 0.0
        dse = 0.0
        for k in range(y.shape[0]):
            c = dmain[k] - 1.0
            e = math.exp(main[k] - mx)
            dse = dse + c * e
            se = se + e
        s = s + dse / se
    return s


def flag_cleared_in_its_branch(x):
    """`if flag:` whose branch assigns the flag: the reverse sweep tested the flag's new value
    and skipped the branch's adjoint (a silent wrong gradient, found by a helper's attack)."""
    s = x[0] * 2.0
    flag = x[1] > -2.0
    if flag:
        s = s * x[1]
        flag = False
    for i in range(3):
        flag = not flag
        if flag:
            s = s * x[2] + x[i]
            flag = i < 1
    return s


def returns_from_two_loops(x, n):
    """A loop that may return, then one that does: jump lowering puts the second loop in `if
    not _done:`, which its own return sets, and the reverse sweep skipped the adjoint of the
    whole loop (a silent zero gradient, found by a helper's attack)."""
    s = 0.0
    for i in range(n):
        if s > 100.0:
            return s
        s = s + x[i] * x[i]
    for i in range(n):
        s = s + x[i] * s
        if s > -100.0:
            return s * x[0]
    return s


def sum_after_a_loop_reading_it(x):
    """A loop summing into the output (its trips reversed as they run) after one whose
    adjoint reads the sum's old value: each trip's reversal put the old value back, and the
    value returned missed the sum (found by a helper's attack)."""
    y = x.copy()
    s = 0.0
    for i in range(3):
        y[3] += s * y[i]
    for k in range(3):
        s += x[1] * x[k]
    return s + np.sum(y * y)


def sum_after_a_checkpointed_loop_reading_it(x):
    """The same with the loop before checkpointed (its trips run again in the reverse sweep,
    reading the sum's old value) and the sum's adjoint never read."""
    n = len(x)
    y = x.copy()
    s = 0.0
    for i in range(3):
        for j in range(i + 1):
            y[n - 1] += 0.15 * s * y[i % n]
            p = 0.0
    for k in range(3):
        s += np.sum(y) * 0.01 * x[n - 1 - j % n]
    return s + p + np.sum(y * y) * 0.1


def index_of_a_loop_that_never_runs(x):
    """`j`, the index of a loop that does not run, is saved before a later loop assigns it:
    the generated Python read it unbound (UnboundLocalError; found by a helper's attack)."""
    s, p, i = 0.0, 0.5, 0
    while i < int(x[3] > 5.0) * 2:
        i += 1
        for j in range(i % 3):
            s += np.sum(x) * 0.01 * x[3 - j % 4]
    for i in range(3):
        j = 0
        for _ in range(j + 1):
            p = math.sin(p) * 0.9 + p * x[0] * 0.1
    return s + p


def trajectory_kept_in_a_list(x, a):
    states = [x * 0.5]
    for t in range(4):
        states.append(np.tanh(states[-1] * a) + 0.1 * states[t])
    return np.sum(np.array(states) ** 2) + states[-2][1] * len(states)


def rows_collected_then_stacked(A, x):
    rows = []
    for i in range(A.shape[0]):
        if A[i, 0] > -0.5:
            rows.append(np.sin(A[i] * x))
    return np.sum(np.stack(rows) @ x) + sum(rows, np.zeros(x.shape[0]))[0]


def comprehensions_of_lists(x, w):
    scaled = [w[i] * x[i] for i in range(x.shape[0]) if x[i] > -0.8]
    pairs = np.array([s * t for k, s in enumerate(scaled) for t in scaled if t > s])
    return np.sum(pairs) + np.mean(np.array([np.exp(s) for s in scaled]))


PROGRAMS = [obj for name, obj in list(globals().items())
            if callable(obj) and getattr(obj, "__module__", None) == __name__ and
            not name.startswith("_") and name not in ("make_inputs", "float_params")]

