"""A fake Huawei CC-iSales detail API for benchmarks: fixed latency, counts concurrency and duplicates.

Every callresultdetail answers success (seed 004's shape) after LATENCY seconds. It records the
peak number of requests in flight and how many calls were fetched more than once.
GET /_stats returns the counters and the start/end time of every call.
Run: python fake_isales.py PORT LATENCY_SECONDS
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, latency: float):
        self.latency = latency
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.fetches = Counter()
        self.spans: list[tuple[float, float]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args):
        pass

    def _send(self, body: dict):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.state
        if self.path == "/_stats":
            with state.lock:
                return self._send(
                    {
                        "peak": state.peak,
                        "calls": sum(state.fetches.values()),
                        "duplicates": sum(n - 1 for n in state.fetches.values() if n > 1),
                        "spans": state.spans,
                    }
                )
        started = time.monotonic()
        with state.lock:
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
        try:
            time.sleep(state.latency)
            parts = self.path.split("/")
            vdn, call_id = int(parts[-3]), parts[-1]
            with state.lock:
                state.fetches[(vdn, call_id)] += 1
            self._send(
                {
                    "returnCode": "0200000",
                    "resultCode": "0200000",
                    "resultDesc": "Query Success!",
                    "returnDesc": "Query Success!",
                    "data": {
                        "callId": call_id,
                        "called": "88881955",
                        "vdnId": vdn,
                        "callStatus": "6",
                        "failCode": "00000",
                        "resultCode": "OB99999",
                        "ackBeginTime": "2022-02-10 11:45:43",
                        "callBeginTime": "2022-02-10 11:45:47",
                        "callEndTime": "2022-02-10 11:45:51",
                        "recordPath": "",
                    },
                }
            )
        finally:
            with state.lock:
                state.in_flight -= 1
                state.spans.append((started, time.monotonic()))


def main() -> None:
    port, latency = int(sys.argv[1]), float(sys.argv[2])
    Handler.state = State(latency)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
