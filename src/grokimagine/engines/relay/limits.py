"""Per provider key: a cap on jobs at once, and the circuit breaker, shared by all engines.

Two engines built from the same endpoint and key (two routes naming it, or a rebuilt engine)
share one slot, so the cap and the breaker hold for the key, not for an engine object.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from grokimagine.engines.base import RenderControl
from grokimagine.engines.relay.breaker import CircuitBreaker
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import PROVIDER_BUSY, relay_error

# How often a task waiting for a slot looks at its cancel flag.
_WAIT_STEP_SECONDS = 0.25


@dataclass
class ProviderSlot:
    """The concurrency cap and circuit breaker of one provider key."""

    semaphore: threading.BoundedSemaphore
    breaker: CircuitBreaker

    @contextmanager
    def reserve(self, control: RenderControl, timeout: float) -> Iterator[None]:
        """Hold one of the key's job slots; :data:`PROVIDER_BUSY` if none frees in ``timeout``."""
        waited = 0.0
        while not self.semaphore.acquire(timeout=min(_WAIT_STEP_SECONDS, timeout - waited)):
            control.check_canceled()
            waited += _WAIT_STEP_SECONDS
            if waited >= timeout:
                raise relay_error(
                    PROVIDER_BUSY, f"no free provider slot after {timeout:g}s (concurrency cap)"
                )
        try:
            yield
        finally:
            self.semaphore.release()


_slots: dict[tuple[str, str, str], ProviderSlot] = {}
_slots_lock = threading.Lock()


def _slot_key(config: ProviderConfig) -> tuple[str, str, str]:
    key_digest = hashlib.sha256((config.api_key or "").encode()).hexdigest()
    return (config.name, config.base_url, key_digest)


def provider_slot(config: ProviderConfig) -> ProviderSlot:
    """The shared slot of ``config``'s provider key, made on first use."""
    key = _slot_key(config)
    with _slots_lock:
        slot = _slots.get(key)
        if slot is None:
            slot = ProviderSlot(
                semaphore=threading.BoundedSemaphore(config.max_concurrency),
                breaker=CircuitBreaker(config.breaker_failures, config.breaker_reset_seconds),
            )
            _slots[key] = slot
        return slot


def reset_provider_slots() -> None:
    """Forget every slot (tests, or a settings reload)."""
    with _slots_lock:
        _slots.clear()
