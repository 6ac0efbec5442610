"""Rates from counter samples (events per second on the admin overview)."""

from __future__ import annotations

import time
from collections import deque


class IngestRate:
    """Events per second accepted by this process, from ingest counter samples."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def sample(self, accepted_events: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self.samples.append((now, accepted_events))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        first_t, first_n = self.samples[0]
        return round((accepted_events - first_n) / (now - first_t), 1) if now > first_t else 0.0
