"""A fake LeadSquared status API for benchmarks: enforces a sliding-window rate limit and counts.

Every status call counts toward the window (accepted or not). Beyond the limit it answers 429 like
LeadSquared ("API calls exceeded the limit of 25 in 5 second(s)"). Every id answers Success on its
first call; a later call for the same id is counted as a repeat poll of a final item.
GET /_stats returns the counters and accepted-call times; run: python fake_leadsquared.py PORT CALLS PERIOD
[FAULTS], where FAULTS (for bench/faults) is a JSON object: {"error500": 0.02, "garbage": 0.01,
"stall": 0.01, "stall_seconds": 20, "burst429_every": 200, "burst429_length": 10}.
"""

from __future__ import annotations

import collections
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class State:
    """Counters shared by the handler threads."""

    def __init__(self, calls: int, period: float):
        self.calls, self.period = calls, period
        self.window = collections.deque()
        self.lock = threading.Lock()
        self.accepted_times: list[float] = []
        self.too_many = 0
        self.final = set()
        self.repeat_final = 0
        self.faults: dict = {}
        self.injected = collections.Counter()
        self.burst_left = 0
        self.rng = random.Random(11)

    def admit(self) -> bool:
        """Sliding window: at most `calls` arrivals within any `period` seconds."""
        now = time.monotonic()
        with self.lock:
            while self.window and now - self.window[0] >= self.period:
                self.window.popleft()
            self.window.append(now)
            if len(self.window) > self.calls:
                self.too_many += 1
                return False
            self.accepted_times.append(now)
            return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self) -> str | None:
        """Which fault, if any, to inject into this call."""
        state = self.state
        faults = state.faults
        if not faults:
            return None
        with state.lock:
            every = faults.get("burst429_every")
            if state.burst_left:
                state.burst_left -= 1
                kind = "429"
            elif every and len(state.accepted_times) % every == 0:
                state.burst_left = faults.get("burst429_length", 10) - 1
                kind = "429"
            else:
                roll, kind = state.rng.random(), None
                for name in ("error500", "garbage", "stall"):
                    roll -= faults.get(name, 0)
                    if roll < 0:
                        kind = {"error500": "500"}.get(name, name)
                        break
            if kind:
                state.injected[kind] += 1
            return kind

    def do_GET(self):
        url = urlparse(self.path)
        state = self.state
        if url.path == "/_stats":
            with state.lock:
                return self._send(
                    200,
                    {
                        "accepted": len(state.accepted_times),
                        "too_many": state.too_many,
                        "repeat_final": state.repeat_final,
                        "times": state.accepted_times,
                        "injected": dict(state.injected),
                    },
                )
        if not state.admit():
            return self._send(
                429,
                {
                    "Status": "Error",
                    "ExceptionMessage": f"API calls exceeded the limit of {state.calls} in {state.period:g} second(s)",
                },
            )
        fault = self._fault()
        if fault == "429":
            return self._send(429, {"Status": "Error", "ExceptionMessage": "burst"}, [("Retry-After", "1")])
        if fault == "500":
            return self._send(500, {"Status": "Error", "ExceptionMessage": "injected"})
        if fault == "garbage":
            data = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if fault == "stall":
            time.sleep(state.faults.get("stall_seconds", 20))
        request_id = parse_qs(url.query).get("RequestID", [""])[0]
        with state.lock:
            if request_id in state.final:
                state.repeat_final += 1
            state.final.add(request_id)
        self._send(
            200,
            {
                "RequestId": request_id,
                "TaskStatus": {
                    "TaskType": "Telephony-LogCall",
                    "Status": "Success",
                    "StatusReason": "Request was successfully completed",
                    "TaskCurrentStep": None,
                    "TaskLastStep": "In-Process-Queue",
                    "RequestBody": '{"CallSessionId":"' + request_id + '"}',
                    "Message": '{"Status":"Success","Message":"Phone Call Logged Successfully"}',
                },
            },
        )


def main() -> None:
    port, calls, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    Handler.state = State(calls, period)
    if len(sys.argv) > 4:
        Handler.state.faults = json.loads(sys.argv[4])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
