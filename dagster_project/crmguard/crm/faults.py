"""Fault injection for the local CRM service: deterministic by request number, so tests can aim.

Spec (comma-separated, every part optional), e.g. `429=2:5,500=3,timeout=4,lock=contacts/c1,rate=20`:

- `429=N[:M...]`  the Nth API request (1-based, reads and writes alike) answers 429 with Retry-After
- `retry_after=S` seconds sent in Retry-After for injected and rate-limit 429s (default 1)
- `500=N[:M...]`  the Nth request answers 500 without touching data
- `timeout=N[:M...]` the Nth request, when it writes, commits and then drops the connection unanswered
  (what a client sees as a timeout after the write committed)
- `lock=OBJECT/ID[:OBJECT/ID...]` writes to these records fail with a validation error ("locked")
- `rate=R[/W]`    at most R API requests per W seconds (default 1); excess answers 429 like HubSpot
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from crmguard.crm.objects import crm_object
from crmguard.errors import BadInput


@dataclass
class FaultPlan:
    """Parsed fault spec plus the counters that make it deterministic."""

    fail_429: set[int] = field(default_factory=set)
    fail_500: set[int] = field(default_factory=set)
    timeout_after_commit: set[int] = field(default_factory=set)
    locked: set[tuple[str, str]] = field(default_factory=set)
    retry_after: float = 1.0
    rate: int | None = None
    rate_window: float = 1.0
    _count: int = 0
    _recent: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_request(self) -> tuple[int, float | None]:
        """Number this API request; return (number, Retry-After seconds when rate-limited else None)."""
        with self._lock:
            self._count += 1
            if self.rate is None:
                return self._count, None
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - self.rate_window:
                self._recent.popleft()
            if len(self._recent) >= self.rate:
                return self._count, max(self.retry_after, self._recent[0] + self.rate_window - now)
            self._recent.append(now)
            return self._count, None

    @property
    def requests(self) -> int:
        return self._count


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds in HTTP; never 0 so a client always backs off."""
    return str(max(1, math.ceil(seconds)))


def parse_faults(spec: str | None) -> FaultPlan:
    """Parse a fault spec (see module doc); a malformed part is a one-line error naming it."""
    plan = FaultPlan()
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise BadInput(f"--faults: {part!r} is not KIND=VALUE (e.g. 429=3, timeout=5, rate=20)")
        try:
            _apply_part(plan, key.strip(), value.strip())
        except ValueError:
            raise BadInput(f"--faults: bad value in {part!r}") from None
    return plan


def _apply_part(plan: FaultPlan, key: str, value: str) -> None:
    numbers = lambda: {int(n) for n in value.split(":")}  # noqa: E731
    if key == "429":
        plan.fail_429 |= numbers()
    elif key == "500":
        plan.fail_500 |= numbers()
    elif key == "timeout":
        plan.timeout_after_commit |= numbers()
    elif key == "lock":
        for ref in value.split(":"):
            obj, slash, record_id = ref.partition("/")
            if not slash or not record_id:
                raise ValueError(ref)
            plan.locked.add((crm_object(obj).name, record_id))
    elif key == "retry_after":
        plan.retry_after = float(value)
    elif key == "rate":
        rate, _, window = value.partition("/")
        plan.rate, plan.rate_window = int(rate), float(window or 1)
        if plan.rate < 1 or plan.rate_window <= 0:
            raise ValueError(value)
    else:
        raise BadInput(f"--faults: unknown fault {key!r}; known: 429, 500, timeout, lock, retry_after, rate")
