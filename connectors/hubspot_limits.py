"""Client-side pacing for HubSpot's rolling request window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RequestLimiter:
    """A rolling-window pacer so a healthy run never meets HubSpot's 429."""

    def __init__(
        self,
        max_requests: int,
        period: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_requests = max_requests
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for run metadata

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self._clock()
                while self._stamps and self._stamps[0] <= now - self.period:
                    self._stamps.popleft()
                if len(self._stamps) < self.max_requests:
                    self._stamps.append(now)
                    return
                pause = self._stamps[0] + self.period - now
                self.waited += pause
                self._sleep(pause)
