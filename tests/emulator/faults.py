"""What stands between a client and the API: rate limits, injected failures, latency.

Each is a step with `before(call)` (return an ApiError to answer with it instead of acting) and
`after(call, response)`. The server runs the steps' `before` in order until one refuses, then
every step's `after`. New faults (429 storms, dropped or slow responses, HTML error pages) are new
steps appended to the pipeline.
"""

import math
import threading
import time

from .errors import ApiError

UNLIMITED = 100000  # the limit advertised when no --rate-limit is set


class Call:
    """One API request on its way through the pipeline."""

    def __init__(self, method, path, key):
        self.method, self.path, self.key = method, path, key
        self.headers = {}  # headers that the response will carry


class Step:
    def before(self, call):
        return None

    def after(self, call, response):
        pass

    def reset(self):
        pass


class RateLimiter(Step):
    """Fixed one-second windows per API key; `x-ratelimit-*` headers on every response."""

    def __init__(self, limit=None, clock=time.monotonic):
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = {}  # key -> [window start, count]

    def _take(self, key, count):
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= 1:
                window = self._windows[key] = [now, 0]
            window[1] += count
            return window[1], window[0] + 1 - now

    def _headers(self, used, reset_in):
        limit = self.limit or UNLIMITED
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - used, 0)),
            "x-ratelimit-reset": str(max(math.ceil(reset_in), 1)),
        }

    def before(self, call):
        used, reset_in = self._take(call.key, 1)
        call.headers.update(self._headers(used, reset_in))
        if self.limit is not None and used > self.limit:
            retry = {"Retry-After": call.headers["x-ratelimit-reset"]}
            return ApiError.single(429, "10011", "You have exceeded the maximum number of allowed requests.",
                                   headers=retry)
        return None

    def after(self, call, response):
        if "x-ratelimit-limit" not in call.headers:  # refused before this step: report, don't count
            call.headers.update(self._headers(*self._take(call.key, 0)))

    def reset(self):
        with self._lock:
            self._windows.clear()


class FailRate(Step):
    """Answer a share of requests with 500 or 503, decided before the request acts."""

    ERRORS = (
        (500, "Unexpected error", "An unexpected error occurred."),
        (503, "Service unavailable", "The service is temporarily unavailable. Please retry."),
    )

    def __init__(self, rate, rng):
        self.rate, self._rng = rate, rng
        self._lock = threading.Lock()

    def before(self, call):
        with self._lock:
            fail = self._rng.random() < self.rate
            status, title, detail = self._rng.choice(self.ERRORS) if fail else (None, None, None)
        if not fail:
            return None
        return ApiError.single(status, "10007", detail, title=title)


class Latency(Step):
    """Hold every response for a fixed time."""

    def __init__(self, milliseconds):
        self.seconds = milliseconds / 1000.0

    def after(self, call, response):
        time.sleep(self.seconds)


class Pipeline:
    def __init__(self, steps):
        self.steps = list(steps)

    def before(self, call):
        for step in self.steps:
            error = step.before(call)
            if error is not None:
                return error
        return None

    def after(self, call, response):
        for step in self.steps:
            step.after(call, response)

    def reset(self):
        for step in self.steps:
            step.reset()
