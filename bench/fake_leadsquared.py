"""A fake LeadSquared status API for benchmarks: enforces a sliding-window rate limit and counts.

Every status call counts toward the window (accepted or not). Beyond the limit it answers 429 like
LeadSquared ("API calls exceeded the limit of 25 in 5 second(s)"). Every id answers Success on its
first call; a later call for the same id is counted as a repeat poll of a final item.
GET /_stats returns the counters and accepted-call times; run: python fake_leadsquared.py PORT CALLS PERIOD
"""

from __future__ import annotations

import collections
import json
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

    def do_GET(self):
        url = urlparse(self.path)
        state = self.state
        if url.path == "/_stats":
            with state.lock:
                return self._send(200, {"accepted": len(state.accepted_times), "too_many": state.too_many,
                                        "repeat_final": state.repeat_final, "times": state.accepted_times})
        if not state.admit():
            return self._send(429, {"Status": "Error", "ExceptionMessage":
                                    f"API calls exceeded the limit of {state.calls} in {state.period:g} second(s)"})
        request_id = parse_qs(url.query).get("RequestID", [""])[0]
        with state.lock:
            if request_id in state.final:
                state.repeat_final += 1
            state.final.add(request_id)
        self._send(200, {"RequestId": request_id, "TaskStatus": {
            "TaskType": "Telephony-LogCall", "Status": "Success", "StatusReason": "Request was successfully completed",
            "TaskCurrentStep": None, "TaskLastStep": "In-Process-Queue",
            "RequestBody": "{\"CallSessionId\":\"" + request_id + "\"}",
            "Message": "{\"Status\":\"Success\",\"Message\":\"Phone Call Logged Successfully\"}"}})


def main() -> None:
    port, calls, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    Handler.state = State(calls, period)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
