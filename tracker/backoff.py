"""Exponential back-off with jitter that honours the server's ``Retry-After``.

One helper for everything in the SDK that retries: the sender thread (spooled batches),
the uploader thread (media and checkpoints), and ``tracker sync`` (which sleeps instead).
Standard library only; imports nothing of the SDK.
"""

from __future__ import annotations

import random
import time


class Backoff:
    """When to try again after consecutive failures.

    The n-th failure in a row waits ``base * 2**(n-1)`` seconds, at most ``cap``, shortened
    by up to ``jitter`` (a fraction) at random so that many clients do not retry in step;
    a ``Retry-After`` from the server is honoured (up to ``max_retry_after``) even when it
    is longer. Times are ``time.monotonic()``. Not thread-safe: one per sending thread.
    """

    def __init__(self, base: float, cap: float, *, jitter: float = 0.25, max_retry_after: float = 600.0):
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self.failures = 0  # consecutive, since the last success
        self.retry_at = 0.0  # not before this
        self.server_until = 0.0  # what the server's last Retry-After asked for

    def delay(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row (of one request or of a line)."""
        pause = min(self.cap, self.base * 2 ** min(max(failures, 1) - 1, 30))
        return pause * random.uniform(1.0 - self.jitter, 1.0) if self.jitter else pause

    def failed(self, retry_after: float | None = None) -> float:
        """Count a failure; returns the pause before the next try (also in ``retry_at``)."""
        self.failures += 1
        pause = self.delay(self.failures)
        now = time.monotonic()
        if retry_after is not None:
            asked = min(retry_after, self.max_retry_after)
            pause = max(pause, asked)
            self.server_until = now + asked
        self.retry_at = now + pause
        return pause

    def succeeded(self) -> None:
        self.failures = 0

    def try_now(self) -> None:
        """Forget the grown pause (``finish()``: try at once), but still not before the
        server's own ``Retry-After``."""
        self.failures = 0
        self.retry_at = self.server_until

    def ready(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.retry_at

    @classmethod
    def blocking(cls, base: float) -> Backoff:
        """The waits of one request's retries in ``tracker sync``: ``base`` doubling, at
        most 60 s, at least what a Retry-After asks (about 15 s over 5 waits at 0.5 s)."""
        return cls(base, 60.0, jitter=0.0, max_retry_after=60.0)

    def sleep(self, retry_after: float | None = None) -> None:
        """``failed`` and wait it out (for the blocking loops of ``tracker sync``)."""
        time.sleep(self.failed(retry_after))
