"""Thread-local switches of the tape: grad mode (no_grad / enable_grad) and user-code mode.

Grad mode says whether operations on tensors are recorded. User-code mode is set by run.py
while it executes a user's NumPy function on tensors: NumPy code overwrites arrays freely, so
in that mode an in-place write copies a storage the graph saved instead of failing at backward
time, and float() of a tracked tensor raises instead of silently dropping its gradient. Errors
raised there name the user's line (located()).
"""

import contextlib
import functools
import inspect
import linecache
import sys
import threading


class _State(threading.local):
    grad_enabled = True
    user_code = False


_state = _State()


def is_grad_enabled():
    """True when operations on tensors that require grad are recorded for backward()."""
    return _state.grad_enabled


class _GradMode:
    """Sets grad mode inside a `with` block or a decorated function (with or without ())."""

    enabled = True

    def __new__(cls, func=None):
        mode = super().__new__(cls)
        mode._previous = []  # a stack, so one instance can be entered recursively
        return mode if func is None else mode(func)

    def __enter__(self):
        self._previous.append(_state.grad_enabled)
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc_info):
        _state.grad_enabled = self._previous.pop()

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._generator(func)

        @functools.wraps(func)
        def with_grad_mode(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return with_grad_mode

    def _generator(self, func):
        """A generator function decorated: the mode holds while each step runs, as torch's."""
        @functools.wraps(func)
        def with_grad_mode(*args, **kwargs):
            generator = func(*args, **kwargs)
            step, value = generator.send, None
            while True:
                try:
                    with self:
                        out = step(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    value, step = (yield out), generator.send
                except GeneratorExit:
                    generator.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 (thrown in: passed on)
                    value, step = exc, generator.throw

        return with_grad_mode


class no_grad(_GradMode):
    """Operations inside are not recorded: their results do not require grad."""

    enabled = False


class inference_mode(_GradMode):
    """torch.inference_mode: as no_grad here (nothing inside is recorded)."""

    enabled = False


class enable_grad(_GradMode):
    """Operations inside are recorded again, also inside no_grad."""

    enabled = True


class set_grad_enabled(_GradMode):
    """Grad mode on or off by a flag, as torch's: at once when called (`set_grad_enabled(False)`
    switches recording off until switched on again), and until the end of a `with` block."""

    def __new__(cls, enabled):
        mode = super().__new__(cls)
        mode.enabled = bool(enabled)
        mode._before = _state.grad_enabled
        _state.grad_enabled = mode.enabled
        return mode

    def __enter__(self):
        self._previous.append(self._before)
        _state.grad_enabled = self.enabled


def in_user_code():
    return _state.user_code


class DroppedGradientError(RuntimeError):
    """A tracked tensor was about to become a plain number or array, losing its gradient."""


@contextlib.contextmanager
def user_code():
    previous = _state.user_code
    _state.user_code = True
    try:
        yield
    except Exception as exc:
        # NumPy reports a failed float() of a stored element as "setting an array element with
        # a sequence", chaining the tape's own message; the user needs the tape's
        dropped = _dropped_gradient_in(exc)
        if dropped is None or dropped is exc:
            raise
        raise dropped from None
    finally:
        _state.user_code = previous


def _dropped_gradient_in(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DroppedGradientError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


_LIBRARIES = frozenset(sys.stdlib_module_names) | {"numpy", "scipy", "numba", "srcad"}


def is_user_module(name, file):
    """True for a module of the user's code: not the standard library, NumPy, SciPy, numba,
    srcad, or anything installed in site-packages."""
    return (
        (name or "").partition(".")[0] not in _LIBRARIES
        and "site-packages" not in (file or "")
        and "dist-packages" not in (file or "")
    )


def located(message):
    """message, with the file:line and the source line of the user's code running it when the
    tape runs user code."""
    if not in_user_code():
        return message
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if is_user_module(frame.f_globals.get("__name__"), code.co_filename):
            source = linecache.getline(code.co_filename, frame.f_lineno).strip()
            return f"{code.co_filename}:{frame.f_lineno}: {source}\n{message}"
        frame = frame.f_back
    return message
