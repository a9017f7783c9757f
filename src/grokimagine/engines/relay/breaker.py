"""A small thread-safe circuit breaker, so that a provider outage fails tasks fast.

Written here rather than taken from a library: pybreaker 1.4.1 holds its lock for the whole
guarded call (``CircuitBreaker.call`` runs the function inside ``with self._lock``), which would
serialise every HTTP call to a provider across the worker's threads; circuitbreaker 2.1.3 keeps
its counters without a lock and lets any number of trial calls through once the timeout is over.
Here the lock covers only the state changes, and a half-open circuit lets exactly one trial call
through at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """The circuit is open: the provider was failing and is not called for now."""


class CircuitBreaker:
    """Opens after ``fail_max`` failures in a row; tries one call ``reset_seconds`` later."""

    def __init__(
        self,
        fail_max: int,
        reset_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (open, and the trial call is due)."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return HALF_OPEN
        return OPEN

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go to the provider now."""
        with self._lock:
            state = self._state_locked()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            raise CircuitOpenError("circuit open: the provider failed repeatedly")

    def record_success(self) -> None:
        """The provider answered: close the circuit."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        """The provider was unreachable or failing: count it, and open the circuit if due."""
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.fail_max:
                self._opened_at = self._clock()
            self._trial_running = False

    def release_trial(self) -> None:
        """A trial call ended without telling either way (e.g. canceled): allow another."""
        with self._lock:
            self._trial_running = False
