"""Property tests: random small programs, differentiated by the source transform, by the tape and
by central finite differences, must agree; so must their jvp (forward mode) and hvp (reverse over
forward) with directional differences of the value and of the gradient.

Hypothesis generates each program as Python source text (srcad reads source files, so each is
written to a file and imported): straight-line scalar code over a few float arguments with
+ - * / and math functions on safe domains, `if`/`elif`/`else` on comparisons of intermediate
values, `for` loops updating accumulators, builtin max/min, and array code over a float vector
x (NumPy elementwise functions, reductions, x[i] reads in loops, y[i] = ... stores into an
np.zeros array, recurrences through y[i - 1]).

Domains are safe by construction: a log or sqrt takes e * e + 1, a division divides by
1 + e * e, exp takes a tanh or a sine, and loop updates are damped. Branch points are avoided
with `assume`: each program also exists in an instrumented form, which records |lhs - rhs| of
every comparison and of every max/min as it runs; an example whose smallest margin is below
MARGIN, or whose value is huge, is discarded. Inputs come from a seed, so that hypothesis
shrinks the program rather than chase ties among simple floats.
"""

import importlib.util
import itertools
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import srcad
from srcad import check

# Constructs of srcad source-mode bugs these tests found (it returned a wrong number; KNOWN_BUGS
# below has the smallest programs). The generator writes a construct only while its flag is True:
# - a variable overwritten by a value that does not read it ("dead overwrite"; fixed)
GENERATE_DEAD_OVERWRITES = True
# - a variable a loop read, overwritten after the loop ("overwrite after a loop"; fixed)
GENERATE_OVERWRITES_AFTER_LOOPS = True

MARGIN = 1e-3  # smallest |lhs - rhs| of a comparison: finite differences step 1e-6
LARGEST = 1e4  # larger values or gradients are discarded: they test overflow, not gradients
MAX_LINES = 14  # no statement starts past this: srcad's transform time grows fast with length

CONSTANTS = ["0.5", "1.5", "-0.7", "2.0", "0.3", "-1.2"]
SCALAR_UNARY = [
    "math.sin({0})",
    "math.cos({0})",
    "math.tanh({0})",
    "math.exp(math.tanh({0}))",
    "math.log({0} * {0} + 1.0)",
    "math.sqrt({0} * {0} + 1.0)",
    "math.atan({0})",
    "({0}) ** 2",
    "math.exp(math.sin({0}))",
    "math.log1p({0} * {0})",
    "math.erf({0})",
]
VECTOR_UNARY = [
    "np.sin({0})",
    "np.cos({0})",
    "np.tanh({0})",
    "np.exp(np.tanh({0}))",
    "np.log({0} * {0} + 1.0)",
    "np.sqrt({0} * {0} + 1.0)",
    "({0}) ** 2",
    "np.arctan({0})",
]
REDUCTIONS = ["np.sum({0})", "np.mean({0})", "np.dot({0}, {1})", "np.sum({0} * {1})"]


@dataclass
class Program:
    """A generated function `f`: its source, and the instrumented source whose `_m` calls record
    the margin of each comparison."""

    params: list
    lines: list = field(default_factory=list)  # (indent, text, margin_only)

    def text(self, instrumented=False):
        body = [
            "    " * indent + text
            for indent, text, margin_only in self.lines
            if instrumented or not margin_only
        ]
        return (
            "import math\n\nimport numpy as np\n\n\n"
            f"def f({', '.join(self.params)}):\n" + "\n".join(body) + "\n"
        )

    def __repr__(self):  # what hypothesis prints for a falsifying example
        return "\n" + self.text()


class _Builder:
    """Draws one program: statements, expressions and the names in scope."""

    def __init__(self, draw, n_scalars, arrays):
        self.draw = draw
        self.arrays = arrays
        self.scalars = ["a", "b", "c"][:n_scalars]
        self.vectors = ["x"] if arrays else []
        self.program = Program(self.scalars + self.vectors)
        self.names = itertools.count()
        self.frozen = set()  # names a loop read: not overwritten later (GENERATE_OVERWRITES_...)
        self.indent = 1
        if arrays:
            self.emit("n = x.shape[0]")

    # ---- output ----

    def emit(self, text, margin_only=False):
        self.program.lines.append((self.indent, text, margin_only))

    def margin(self, lhs, rhs):
        self.emit(f"_m(abs(({lhs}) - ({rhs})))", margin_only=True)

    def overwrite(self, name, expr):
        """name = expr for a name in scope; while GENERATE_DEAD_OVERWRITES is off, the new value
        also reads the old one."""
        if not GENERATE_DEAD_OVERWRITES:
            expr = self.choice([f"0.5 * {name} + {expr}", f"{name} * {expr}", f"{expr} - {name}"])
        self.emit(f"{name} = {expr}")

    def writable(self, names):
        return [name for name in names if name not in self.frozen]

    def loop_ends(self, first_line):
        """After a loop (its lines from first_line on): freeze the names it read."""
        if not GENERATE_OVERWRITES_AFTER_LOOPS:
            text = " ".join(text for _, text, _ in self.program.lines[first_line:])
            self.frozen.update(re.findall(r"[A-Za-z_]\w*", text))

    def fresh(self, prefix):
        return f"{prefix}{next(self.names)}"

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    # ---- expressions ----

    def scalar(self, depth, reads=()):
        """A scalar expression; `reads` are more scalar atoms (x[i] inside a loop)."""
        kind = self.draw(st.integers(0, 4)) if depth > 0 else 0
        if kind == 0:
            atoms = self.scalars + list(reads)
            return self.choice(atoms + CONSTANTS[:1]) if atoms else self.choice(CONSTANTS)
        if kind == 1:
            op = self.choice(["+", "-", "*"])
            return f"({self.scalar(depth - 1, reads)} {op} {self.scalar(depth - 1, reads)})"
        if kind == 2:
            return self.choice(SCALAR_UNARY).format(self.scalar(depth - 1, reads))
        if kind == 3:
            num, den = self.scalar(depth - 1, reads), self.scalar(depth - 1, reads)
            return f"({num} / (1.0 + {den} * {den}))"
        if self.arrays:
            reduction = self.choice(REDUCTIONS + ["({0})[{2}]"])
            return reduction.format(
                self.vector(depth - 1), self.vector(depth - 1), self.draw(st.integers(0, 2))
            )
        return f"({self.choice(CONSTANTS)} * {self.scalar(depth - 1, reads)})"

    def vector(self, depth):
        kind = self.draw(st.integers(0, 4)) if depth > 0 else 0
        if kind == 0:
            return self.choice(self.vectors)
        if kind == 1:
            op = self.choice(["+", "-", "*"])
            return f"({self.vector(depth - 1)} {op} {self.vector(depth - 1)})"
        if kind == 2:
            return self.choice(VECTOR_UNARY).format(self.vector(depth - 1))
        if kind == 3:
            num, den = self.vector(depth - 1), self.vector(depth - 1)
            return f"({num} / (1.0 + {den} * {den}))"
        op = self.choice(["+", "-", "*"])
        vec, sca = self.vector(depth - 1), self.scalar(depth - 1)
        return f"({vec} {op} {sca})" if self.draw(st.booleans()) else f"({sca} {op} {vec})"

    def depth(self):
        return self.draw(st.integers(1, 2))

    # ---- statements ----

    def statement(self, in_loop=False, reads=()):
        kinds = ["assign", "if", "minmax"]
        if not in_loop:
            kinds += ["for"]
            if self.arrays:
                kinds += ["vector", "vector", "fill", "scan"]
        kind = self.choice(kinds)
        getattr(self, "_" + kind)(in_loop, reads)

    def _assign(self, in_loop, reads):
        if in_loop:  # a damped update of a name in scope, so loops do not blow up
            name = self.choice(self.writable(self.scalars))
            e = self.scalar(self.depth() - 1, reads)
            update = self.choice([
                f"{name} * 0.5 + {e}",
                f"{name} + math.sin({e})",
                f"math.tanh({name} * {e})",
                f"{name} - 0.3 * math.tanh({e})",
            ])
            self.emit(f"{name} = {update}")
            return
        name = self.fresh("t")
        self.emit(f"{name} = {self.scalar(self.depth(), reads)}")
        self.scalars.append(name)

    def _reassign(self, in_loop, reads):
        """Inside a branch: overwrite a name in scope (scalar, or a vector outside loops)."""
        vectors, scalars = self.writable(self.vectors[1:]), self.writable(self.scalars)
        if vectors and not in_loop and (not scalars or self.draw(st.booleans())):
            name = self.choice(vectors)
            self.overwrite(name, self.choice(VECTOR_UNARY).format(self.vector(1)))
        elif scalars:
            self.overwrite(self.choice(scalars), self.scalar(self.depth(), reads))
        else:
            self.emit("pass")

    def _if(self, in_loop, reads):
        conditions = [(self.choice(self.scalars), self.scalar(1, reads), self.choice([">", "<"]))]
        branches = self.draw(st.integers(1, 3))  # if / if-else / if-elif-else
        if branches == 3:
            conditions.append((self.choice(self.scalars), self.choice(CONSTANTS), ">"))
        for lhs, rhs, _ in conditions:
            self.margin(lhs, rhs)
        for k, (lhs, rhs, op) in enumerate(conditions):
            self.emit(f"{'if' if k == 0 else 'elif'} {lhs} {op} {rhs}:")
            self._block(in_loop, reads)
        if branches >= 2:
            self.emit("else:")
            self._block(in_loop, reads)

    def _block(self, in_loop, reads):
        self.indent += 1
        for _ in range(self.draw(st.integers(1, 2))):
            if in_loop:
                self._assign(True, reads)
            else:
                self._reassign(in_loop, reads)
        self.indent -= 1

    def _minmax(self, in_loop, reads):
        lhs = self.choice(self.writable(self.scalars) if in_loop else self.scalars)
        rhs = self.scalar(1, reads)
        self.margin(lhs, rhs)
        call = f"{self.choice(['max', 'min'])}({lhs}, {rhs})"
        if in_loop:  # lhs is the name overwritten: the new value reads it
            target = self.choice(self.writable(self.scalars)) if GENERATE_DEAD_OVERWRITES else lhs
            self.emit(f"{target} = {call}")
        else:
            name = self.fresh("t")
            self.emit(f"{name} = {call}")
            self.scalars.append(name)

    def _for(self, in_loop, reads):
        acc = self.fresh("s")
        self.emit(f"{acc} = {self.choice(['0.0', '1.0'] + self.scalars)}")
        self.scalars.append(acc)
        first_line = len(self.program.lines)
        if self.arrays and self.draw(st.booleans()):
            vec = self.choice(self.vectors)
            self.emit("for i in range(n):")
            reads = (f"{vec}[i]",)
        else:
            self.emit(f"for i in range({self.draw(st.integers(1, 4))}):")
            reads = ()
        self.indent += 1
        e = self.scalar(self.depth(), reads)
        self.emit(self.choice([f"{acc} = {acc} + {e}", f"{acc} += {e}",
                               f"{acc} = {acc} * 0.5 + {e}"]))
        for _ in range(self.draw(st.integers(0, 2))):
            self.statement(in_loop=True, reads=reads)
        self.indent -= 1
        self.loop_ends(first_line)

    def _vector(self, in_loop, reads):
        name = self.fresh("v")
        self.emit(f"{name} = {self.vector(self.depth())}")
        self.vectors.append(name)

    def _fill(self, in_loop, reads):
        """y = np.zeros(n); for i in range(n): y[i] = ... (or +=), reading vectors at i."""
        name, vec = self.fresh("y"), self.choice(self.vectors)
        self.emit(f"{name} = np.zeros(n)")
        first_line = len(self.program.lines)
        self.emit("for i in range(n):")
        self.indent += 1
        e = self.scalar(self.depth(), (f"{vec}[i]",))
        self.emit(f"{name}[i] {self.choice(['=', '+='])} {e}")
        self.indent -= 1
        self.loop_ends(first_line)
        self.vectors.append(name)

    def _scan(self, in_loop, reads):
        """A recurrence through the array being filled: y[i] reads y[i - 1]."""
        name, vec = self.fresh("y"), self.choice(self.vectors)
        self.emit(f"{name} = np.zeros(n)")
        self.emit(f"{name}[0] = {self.scalar(1, (f'{vec}[0]',))}")
        first_line = len(self.program.lines)
        self.emit("for i in range(1, n):")
        self.indent += 1
        e = self.scalar(self.depth() - 1, (f"{vec}[i]", f"{vec}[i - 1]"))
        self.emit(f"{name}[i] = {name}[i - 1] * 0.5 + {e}")
        self.indent -= 1
        self.loop_ends(first_line)
        self.vectors.append(name)

    def finish(self):
        terms = [f"{self.choice(CONSTANTS)} * {name}" for name in self.scalars]
        terms += [f"np.sum({self.choice(VECTOR_UNARY).format(v)})" for v in self.vectors]
        self.emit("return " + " + ".join(terms))
        return self.program


@st.composite
def programs(draw, arrays, statements=4):
    """A Program of 1 to `statements` top-level statements (a loop or an if counts as one)."""
    builder = _Builder(draw, draw(st.integers(1, 3)), arrays)
    for _ in range(draw(st.integers(1, statements))):
        if len(builder.program.lines) >= MAX_LINES:
            break
        builder.statement()
    return builder.finish()


# ---- running a program ----

_modules = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("property_programs")


def _import(text, workdir):
    """The function f of module source `text`, imported from a file of its own."""
    name = f"generated_program_{next(_modules)}"
    path = workdir / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def _load(program, workdir):
    """The program's f, and f instrumented with a margin recorder (run as plain Python only)."""
    margins = []
    namespace = {"_m": margins.append}
    # S102: exec runs our own generated program, never user input
    code = compile(program.text(instrumented=True), "<instrumented>", "exec")
    exec(code, namespace)  # noqa: S102
    return _import(program.text(), workdir), namespace["f"], margins


def _inputs(program, seed):
    rng = np.random.default_rng(seed)
    args = []
    for param in program.params:
        if param == "x":
            args.append(rng.uniform(-1.5, 1.5, int(rng.integers(3, 6))))
        else:
            args.append(float(rng.uniform(-1.5, 1.5)))
    return args


def _usable(instrumented, margins, args):
    """False at a branch point, or where the program's value is huge."""
    with np.errstate(all="ignore"):
        value = instrumented(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
    return math.isfinite(value) and abs(value) < LARGEST and min(margins, default=1.0) > MARGIN


def _check(program, seed, workdir, jit=False):
    note(program.text())
    f, instrumented, margins = _load(program, workdir)
    args = _inputs(program, seed)
    note(f"args = {args!r}")
    assume(_usable(instrumented, margins, args))
    wrt = tuple(range(len(args)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        source = srcad.grad(f, wrt=wrt, mode="source", jit=jit)(*args)
    tape = srcad.grad(f, wrt=wrt, mode="tape")(*args)
    assume(all(np.all(np.abs(g) < LARGEST) for g in source))
    for s, t in zip(source, tape, strict=True):
        assert np.shape(s) == np.shape(t)
        np.testing.assert_allclose(s, t, rtol=1e-8, atol=1e-10, err_msg="source vs tape")
    check.compare(f, args, list(wrt), source, rtol=1e-5, atol=1e-6)


def _check_forward_and_second_order(program, seed, workdir):
    """jvp == the tape's jvp == <tape gradient, t> == directional differences; hvp ==
    differences of the gradient along v (both as generated Python)."""
    note(program.text())
    f, instrumented, margins = _load(program, workdir)
    args = _inputs(program, seed)
    note(f"args = {args!r}")
    assume(_usable(instrumented, margins, args))
    rng = np.random.default_rng(seed + 1)
    tangents = [rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal())
                for a in args]
    wrt = tuple(range(len(args)))
    value, tangent = srcad.jvp(f, args, tangents, jit=False, mode="source")
    tape = srcad.grad(f, wrt=wrt, mode="tape")(*args)
    assume(all(np.all(np.abs(g) < LARGEST) for g in tape))
    np.testing.assert_allclose(value, f(*args), rtol=1e-12, atol=1e-12, err_msg="jvp's value")
    inner = sum(float(np.sum(g * t)) for g, t in zip(tape, tangents, strict=True))
    np.testing.assert_allclose(tangent, inner, rtol=1e-8, atol=1e-10, err_msg="jvp vs tape")
    np.testing.assert_allclose(srcad.jvp(f, args, tangents, mode="tape")[1], tangent, rtol=1e-8,
                               atol=1e-10, err_msg="jvp vs the tape's jvp")
    np.testing.assert_allclose(tangent, check.along(f, args, tangents), rtol=1e-5, atol=1e-6,
                               err_msg="jvp vs differences")
    k = program.params.index("x") if "x" in program.params else 0
    v = tangents[k]
    hv = srcad.hvp(f, wrt=k, jit=False)(*args, v)
    gradient = srcad.grad(f, wrt=k, mode="source", jit=False)
    expected = check.along(lambda *a: gradient(*a), args,
                           [v if i == k else None for i in range(len(args))], eps=1e-5)
    np.testing.assert_allclose(hv, expected, rtol=1e-4, atol=1e-5, err_msg="hvp vs differences")


COMMON = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# srcad's transform takes 0.1-0.5 s per program here (jit=False), which sets these counts
@settings(COMMON, max_examples=60)
@given(program=programs(arrays=False), seed=st.integers(0, 2**32 - 1))
def test_scalar_programs(program, seed, workdir):
    _check(program, seed, workdir)


@settings(COMMON, max_examples=50)
@given(program=programs(arrays=True), seed=st.integers(0, 2**32 - 1))
def test_array_programs(program, seed, workdir):
    _check(program, seed, workdir)


@settings(COMMON, max_examples=3)  # numba compiles each gradient: a few seconds each
@given(program=programs(arrays=True, statements=3), seed=st.integers(0, 2**32 - 1))
def test_programs_compiled_with_numba(program, seed, workdir):
    _check(program, seed, workdir, jit=True)


@settings(COMMON, max_examples=35)  # (the slowest test of the suite: CI's time)
@given(program=st.booleans().flatmap(lambda arrays: programs(arrays=arrays)),
       seed=st.integers(0, 2**32 - 1))
def test_jvp_and_hvp(program, seed, workdir):
    _check_forward_and_second_order(program, seed, workdir)


# ---- the source-mode bugs found here, as the smallest programs that show them ----

# name -> (module source, arguments, fixed). A bug not fixed yet is a strict xfail: when srcad is
# fixed it fails, to say so; then mark it fixed (and turn its GENERATE_ flag on). Fixed ones stay
# as regression tests.
KNOWN_BUGS = {
    # the adjoint of r was not reset where r is overwritten: srcad gave dq = 1.0 (should be 0)
    "dead overwrite": (
        "def f(p, q):\n    r = q * 1.0\n    r = p * 3.0\n    return r\n", (0.4, 2.0), True
    ),
    # in a loop the overwritten value got the new one's adjoint again: srcad gave dp = 6.0
    "dead overwrite in a loop": (
        ("def f(p, q):\n    r = q * 1.0\n    for i in range(2):\n        r = p * 3.0\n"
         "    return r\n"),
        (0.4, 2.0),
        True,
    ),
    # a = a doubled the adjoint (the reverse sweep did ba += ba): srcad gave 2.0 (should be 1)
    "self assignment": ("def f(a):\n    a = a\n    return a\n", (0.4,), True),
    # the reverse loop recomputed _t1 = b + 0.5 from the b of after the loop, which it did not
    # restore (b = b + 1.0 needs no saved value): srcad gave 0.5456 (should be 2.3934)
    "overwrite after a loop": (
        ("import math\n\n\ndef f(b):\n    s = 0.0\n    for i in range(2):\n"
         "        s = s + math.sin(b + 0.5)\n    b = b + 1.0\n    return s + b\n"),
        (0.3,),
        True,
    ),
}
_NOT_FIXED = pytest.mark.xfail(strict=True, reason="srcad source-mode bug, see KNOWN_BUGS")


@pytest.mark.parametrize(
    "bug",
    [pytest.param(name, marks=() if fixed else _NOT_FIXED) for name, (_, _, fixed) in
     sorted(KNOWN_BUGS.items())],
)
@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
def test_known_source_mode_bugs(bug, jit, workdir):
    source, args, _ = KNOWN_BUGS[bug]
    f = _import(source, workdir)
    wrt = tuple(range(len(args)))
    grads = srcad.grad(f, wrt=wrt, mode="source", jit=jit)(*args)
    check.compare(f, args, list(wrt), grads, rtol=1e-5, atol=1e-6)
    tape = srcad.grad(f, wrt=wrt, mode="tape")(*args)
    check.compare(f, args, list(wrt), tape, rtol=1e-5, atol=1e-6)
