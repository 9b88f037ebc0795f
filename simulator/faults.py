"""Fault injection keyed by ARM action names (``Microsoft.Compute/virtualMachines/write`` ...)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from simulator.errors import ArmError, status_for_code


@dataclass
class _RequestFault:
    code: str
    message: str
    status: int
    remaining: int | None  # None = always


@dataclass
class _Rate:
    rate: float
    rng: random.Random
    code: str
    message: str
    status: int


@dataclass
class TokenBucket:
    """ARM-style token bucket: ``capacity`` tokens, refilled at ``refill_per_second``."""

    capacity: float = 250.0
    refill_per_second: float = 25.0
    tokens: float = 250.0
    updated: datetime | None = None

    def refill(self, now: datetime) -> None:
        if self.updated is not None:
            elapsed = max(0.0, (now - self.updated).total_seconds())
            self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.updated = now

    def take(self, now: datetime) -> float | None:
        """Take a token; ``None`` if granted, else seconds until one is available (>= 1)."""
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        need = (1 - self.tokens) / self.refill_per_second if self.refill_per_second > 0 else 60.0
        return float(max(1, math.ceil(need)))


def _norm(name: str) -> str:
    return name.lower()


@dataclass
class Faults:
    """Failures to inject. Operation names are ARM actions, matched case-insensitively."""

    _request: dict[str, list[_RequestFault]] = field(default_factory=dict)
    _rates: dict[str, _Rate] = field(default_factory=dict)
    _lro: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _replication: dict[str, int] = field(default_factory=dict)
    _sysprep: list[str] = field(default_factory=list)
    storm_remaining: int = 0
    storm_retry_after: int = 1
    reads: TokenBucket = field(default_factory=lambda: TokenBucket(250.0, 25.0, 250.0))
    writes: TokenBucket = field(default_factory=lambda: TokenBucket(200.0, 10.0, 200.0))

    # -- request-time failures -------------------------------------------------------
    def fail_once(
        self,
        operation_name: str,
        code: str = "InternalServerError",
        message: str = "An internal execution error occurred. Please retry later.",
        *,
        status: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests for ``operation_name`` fail with ``code``."""
        fault = _RequestFault(code, message, status or status_for_code(code), times)
        self._request.setdefault(_norm(operation_name), []).append(fault)

    def fail_always(
        self,
        operation_name: str,
        code: str = "InternalServerError",
        message: str = "An internal execution error occurred. Please retry later.",
        *,
        status: int | None = None,
    ) -> None:
        """Every request for ``operation_name`` fails with ``code`` until ``clear()``."""
        fault = _RequestFault(code, message, status or status_for_code(code), None)
        self._request.setdefault(_norm(operation_name), []).append(fault)

    def error_rate(
        self,
        operation_name: str,
        rate: float,
        seed: int = 0,
        *,
        code: str = "InternalServerError",
        message: str = "An internal execution error occurred. Please retry later.",
        status: int | None = None,
    ) -> None:
        """A fraction ``rate`` of requests for ``operation_name`` (or ``"*"``) fail, reproducibly."""
        if not 0 <= rate <= 1:
            raise ValueError("rate must be within [0, 1]")
        self._rates[_norm(operation_name)] = _Rate(
            rate,
            random.Random(seed),  # noqa: S311 - reproducible fault injection, not security
            code,
            message,
            status or status_for_code(code),
        )

    def throttle(
        self,
        storm_requests: int = 0,
        retry_after: int = 1,
        *,
        read_capacity: float | None = None,
        write_capacity: float | None = None,
        read_refill_per_second: float | None = None,
        write_refill_per_second: float | None = None,
    ) -> None:
        """Answer the next ``storm_requests`` requests with 429 and ``Retry-After: retry_after``.

        Optionally resize the per-subscription read/write token buckets.
        """
        self.storm_remaining = storm_requests
        self.storm_retry_after = max(1, int(retry_after))
        for bucket, cap, refill in (
            (self.reads, read_capacity, read_refill_per_second),
            (self.writes, write_capacity, write_refill_per_second),
        ):
            if cap is not None:
                bucket.capacity = bucket.tokens = cap
            if refill is not None:
                bucket.refill_per_second = refill

    def check_request(self, action: str) -> ArmError | None:
        """The error a request attributed to ``action`` must fail with, if any."""
        if self.storm_remaining > 0:
            self.storm_remaining -= 1
            return ArmError(
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type. "
                "For more information, see - https://aka.ms/srpthrottlinglimits",
                429,
            )
        faults = self._request.get(_norm(action))
        if faults:
            fault = faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.pop(0)
            return ArmError(fault.code, fault.message, fault.status)
        for key in (_norm(action), "*"):
            rate = self._rates.get(key)
            if rate and rate.rng.random() < rate.rate:
                return ArmError(rate.code, rate.message, rate.status)
        return None

    # -- operation-time failures -------------------------------------------------------
    def lro_fails(
        self,
        operation_name: str,
        code: str = "InternalExecutionError",
        message: str = "An internal execution error occurred.",
        *,
        times: int = 1,
    ) -> None:
        """The next ``times`` long-running operations for ``operation_name`` end ``Failed``."""
        self._lro.setdefault(_norm(operation_name), []).extend([(code, message)] * times)

    def take_lro_failure(self, operation_name: str) -> ArmError | None:
        queue = self._lro.get(_norm(operation_name))
        if queue:
            code, message = queue.pop(0)
            return ArmError(code, message)
        return None

    def replication_fails(self, region: str, times: int = 1) -> None:
        """The next ``times`` gallery replications to ``region`` fail."""
        key = region.replace(" ", "").lower()
        self._replication[key] = self._replication.get(key, 0) + times

    def take_replication_failure(self, region: str) -> bool:
        key = region.replace(" ", "").lower()
        if self._replication.get(key, 0) > 0:
            self._replication[key] -= 1
            return True
        return False

    def sysprep_fails(self, reason: str = "Fatal error occurred while trying to sysprep the machine.") -> None:
        """The next sysprep run fails, logging ``reason`` in setuperr.log."""
        self._sysprep.append(reason)

    def take_sysprep_failure(self) -> str | None:
        return self._sysprep.pop(0) if self._sysprep else None

    def clear(self) -> None:
        """Remove every injected fault and restore the default throttling buckets."""
        self._request.clear()
        self._rates.clear()
        self._lro.clear()
        self._replication.clear()
        self._sysprep.clear()
        self.storm_remaining = 0
        self.storm_retry_after = 1
        self.reads = TokenBucket(250.0, 25.0, 250.0)
        self.writes = TokenBucket(200.0, 10.0, 200.0)
