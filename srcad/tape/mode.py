"""Thread-local switches of the tape: grad mode (no_grad / enable_grad) and user-code mode.

Grad mode says whether operations on tensors are recorded. User-code mode is set by run.py
while it executes a user's NumPy function on tensors: NumPy code overwrites arrays freely, so
in that mode an in-place write copies a storage the graph saved instead of failing at backward
time, and float() of a tracked tensor raises instead of silently dropping its gradient.
"""

import contextlib
import functools
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
        @functools.wraps(func)
        def with_grad_mode(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return with_grad_mode


class no_grad(_GradMode):
    """Operations inside are not recorded: their results do not require grad."""

    enabled = False


class enable_grad(_GradMode):
    """Operations inside are recorded again, also inside no_grad."""

    enabled = True


class set_grad_enabled(_GradMode):
    """Grad mode on or off by a flag: `with set_grad_enabled(False): ...`, as torch's."""

    def __new__(cls, enabled):
        mode = super().__new__(cls)
        mode.enabled = bool(enabled)
        return mode


def in_user_code():
    return _state.user_code


@contextlib.contextmanager
def user_code():
    previous = _state.user_code
    _state.user_code = True
    try:
        yield
    finally:
        _state.user_code = previous
