"""Client-side pacing for HubSpot's rolling request window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

IN_FLIGHT_POLL = 0.01  # seconds between looks when every slot is held by a request still on the wire


class RequestLimiter:
    """A rolling-window pacer so a healthy run never meets HubSpot's 429.

    HubSpot counts a request when it arrives, which the client cannot see; it
    can see that the request arrived by the time its answer is back. So a
    request holds a slot from ``acquire`` until ``release`` (its answer), and
    counts in the window from then on: the client's window then always holds
    at least what HubSpot's does. Counting from the moment of sending instead
    lets a request that reached HubSpot later than the one sent after it
    (a large batch upload beside a small call, on two threads) take the
    190th place of HubSpot's window while the client thinks it has one to
    spare: a 429 whose ``Retry-After`` costs at least a second (the
    rate-limited benchmark met 2-8 of them per 1,100 calls that way).
    """

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
        self._stamps: deque[float] = deque()  # answered requests, by the time of their answer
        self._in_flight = 0
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for run metadata

    def acquire(self) -> None:
        """Wait until a request may go out, and hold its slot until ``release``."""
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and self._stamps[0] <= now - self.period:
                    self._stamps.popleft()
                if len(self._stamps) + self._in_flight < self.max_requests:
                    self._in_flight += 1
                    return
                pause = self._stamps[0] + self.period - now if self._stamps else IN_FLIGHT_POLL
                self.waited += pause
            self._sleep(pause)  # outside the lock: another thread's answer must be able to release its slot

    def release(self) -> None:
        """The request's answer is back (or it failed): it counts in the window from now."""
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)
            self._stamps.append(self._clock())
