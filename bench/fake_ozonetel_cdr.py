"""A fake Ozonetel CDR report for bench/ozonetel_cdr: PORT CALLS PERIOD_S PER_DAY DAYS API_KEY.

Serves fetchCdrByPagination as documented (a GET with a JSON body, the apiKey header, pages), the
days before today in Asia/Kolkata, PER_DAY legs each (bench/ozonetel_cdr_legs.py), built page by
page on demand. It answers 429 past CALLS per PERIOD_S (sliding, by arrival) and counts it; GET
/_stats gives every call's arrival time, the refusals, and how often each page was served.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
import time
import zoneinfo
from collections import Counter

from ozonetel_cdr_legs import leg, template
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

IST = zoneinfo.ZoneInfo("Asia/Kolkata")


class Fake:
    def __init__(self, calls: int, period: float, per_day: int, days: int, api_key: str):
        self.calls, self.period, self.per_day, self.days, self.api_key = calls, period, per_day, days, api_key
        self.today = dt.datetime.now(IST).date()
        self.base = template()
        self.arrivals: list[float] = []
        self.window: list[float] = []
        self.over_limit = 0
        self.served: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path == "/_stats":
            with self.lock:
                body = {
                    "arrivals": self.arrivals,
                    "over_limit": self.over_limit,
                    "pages": len(self.served),
                    "served_twice": sum(1 for n in self.served.values() if n > 1),
                }
            return Response(json.dumps(body), content_type="application/json")(environ, start_response)
        return self.page(request)(environ, start_response)

    def page(self, request) -> Response:
        now = time.monotonic()
        with self.lock:
            self.arrivals.append(now)
            self.window = [t for t in self.window if now - t < self.period] + [now]
            if len(self.window) > self.calls:
                self.over_limit += 1
                return Response('{"status":"false","message":"Too many requests"}', 429)
        if request.method != "GET":
            return Response("", 405)
        if request.headers.get("apiKey") != self.api_key:
            return Response('{"status":"false","message":"Missing userName or apiKey"}', 401)
        try:
            params = json.loads(request.get_data())
        except ValueError:
            return Response('{"status":"false","message":"Invalid Json Pass Valid Json"}', 200)
        day = dt.date.fromisoformat(params["fromDate"][:10])
        index = self.days - (self.today - day).days
        if not 0 <= index < self.days:
            return Response(json.dumps({"status": "success", "totalCount": 0, "details": []}))
        page_no, size = int(request.args["pageNo"]), int(request.args["pageSize"])
        numbers = range((page_no - 1) * size, min(page_no * size, self.per_day))
        with self.lock:
            self.served[(day, page_no)] += 1
        legs = [leg(self.base, index, day, n, self.per_day) for n in numbers]
        body = {"status": "success", "totalCount": self.per_day, "details": legs}
        return Response(json.dumps(body), content_type="application/json")


def main() -> None:
    port, calls, period, per_day, days, api_key = sys.argv[1:7]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per page would bury the bench's table
    app = Fake(int(calls), float(period), int(per_day), int(days), api_key)
    server = make_server("127.0.0.1", int(port), app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
