"""Primary/secondary provider failover with a small circuit breaker.

A provider that signals an outage (``TransientProviderError(outage=True)``:
refused connections, timeouts, repeated 5xx) is skipped for ``cooldown``
seconds after ``threshold`` consecutive outages, so a dead primary does not
cost every delivery a timeout. Throttling (429) is not an outage: it is
retried on the same provider.

While a breaker is open, ``brandcast_provider_circuit_open{channel, provider}``
is 1 (the operator's alert "provider circuit open"); it returns to 0 with the
provider's next success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError

P = TypeVar("P")


class Failover(Generic[P]):
    def __init__(
        self,
        providers: Sequence[P],
        *,
        threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        channel: str = "",
    ) -> None:
        if not providers:
            raise ValueError("at least one provider is required")
        self._providers = list(providers)
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._failures = [0] * len(providers)
        self._open_until = [0.0] * len(providers)
        self._in_order = list(range(len(providers)))
        self._lock = threading.Lock()
        self._channel = channel

    @property
    def providers(self) -> Sequence[P]:
        """Every provider, in configured order (healthy or not)."""
        return tuple(self._providers)

    def call(self, send: Callable[[P], Outcome]) -> Outcome:
        """``send`` on the first healthy provider; on an outage, on the next one."""
        last_error: TransientProviderError | None = None
        for index in self._order():
            try:
                outcome = send(self._providers[index])
            except TransientProviderError as exc:
                if not exc.outage:
                    raise
                self._record_outage(index)
                last_error = exc
                continue
            self._record_success(index)
            return outcome
        assert last_error is not None
        raise last_error

    def _order(self) -> list[int]:
        if not any(self._open_until):
            # No breaker has opened since the last successes: the configured order,
            # without the clock or the lock (the common case, once per delivery).
            return self._in_order
        now = self._clock()
        with self._lock:
            healthy = [i for i in range(len(self._providers)) if self._open_until[i] <= now]
            broken = [i for i in range(len(self._providers)) if self._open_until[i] > now]
        # With every provider broken, still try them: better a slow send than none.
        return healthy + broken

    def _record_outage(self, index: int) -> None:
        with self._lock:
            self._failures[index] += 1
            if self._failures[index] >= self._threshold:
                self._open_until[index] = self._clock() + self._cooldown
                self._circuit(index).set(1)

    def _record_success(self, index: int) -> None:
        if not self._failures[index] and not self._open_until[index]:
            return  # nothing to reset; an outage racing with this is recorded after it
        with self._lock:
            was_open = bool(self._open_until[index])
            self._failures[index] = 0
            self._open_until[index] = 0.0
        if was_open:
            self._circuit(index).set(0)

    def _circuit(self, index: int) -> Any:
        # Imported on first use: prometheus_client picks its value store (per
        # process or the multiprocess folder) when first imported, and workers set
        # PROMETHEUS_MULTIPROC_DIR after the providers are built (run_worker).
        from brandcast.shared import metrics  # noqa: PLC0415

        provider = self._providers[index]
        name = str(getattr(provider, "name", type(provider).__name__.lower()))
        return metrics.PROVIDER_CIRCUIT_OPEN.labels(self._channel or "unknown", name)
