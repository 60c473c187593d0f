"""A fake Ozonetel Campaign Dial Status API that answers at once and pushes to the callBackUrl."""

from __future__ import annotations

import json
import threading
from collections import Counter

from werkzeug.wrappers import Response

from fakes.clock import pause
from fakes.seeds import seed_text

OZONETEL_SEED = "ozonetel-campaign-dial-status.txt"


def ozonetel_seed_replies() -> dict:
    """Seed 003's documented error replies, by message, exactly as printed (doubled quotes included)."""
    text = seed_text("ozonetel", OZONETEL_SEED)
    replies = {}
    for line in text.splitlines():
        if line.startswith(('{"status"', '"{""status')):
            body = line[1:-1].replace('""', '"') if line.startswith('"') else line
            replies.setdefault(json.loads(body)["message"], line)
    return replies


class FakeOzonetel:
    """The Campaign Dial Status API: replies at once, then pushes the records to the callBackUrl.

    Enforces a sliding-window limit (answering Ozonetel's "Request limit exhausted" past it) and
    records every request it accepted, by campaign window. A record may carry `_created` and
    `_updated` (local times): it is then pushed only for a window that holds that time, chosen by the
    request's sortby (1 created, 2 updated; 0 every record), as seed 003 describes.
    """

    def __init__(self, httpserver, api_key: str, username: str, limit=(10, 60.0)):
        import time

        self.api_key, self.username, self.limit = api_key, username, limit
        self.records: dict = {}  # campaign -> list of records to push per request
        self.replies: list = []  # queued raw reply texts (one per request) before normal handling
        self.drop_next = 0  # pushes to "lose"
        self.requests: list = []  # accepted request parameter dicts
        self.window_counts: Counter = Counter()
        self.over_limit = 0
        self.push_delay = 0.2
        self.broken: set = set()  # campaigns whose requests get HTTP 503
        self.calls: Counter = Counter()  # every request by campaign, whatever the answer
        self.hold = False  # keep pushes in `held` until release()
        self.held: list = []
        self.pushes: list = []
        self._arrivals = []
        self._lock = threading.Lock()
        self._time = time.monotonic
        self._threads = []
        httpserver.expect_request("/endpoint/dailer/data/preview/download", method="POST").respond_with_handler(
            self.handle
        )
        self.url = httpserver.url_for("/endpoint/dailer/data/preview/download")

    def handle(self, request):
        now = self._time()
        with self._lock:
            calls, period = self.limit
            self._arrivals = [t for t in self._arrivals if now - t < period] + [now]
            if len(self._arrivals) > calls:
                self.over_limit += 1
                return Response('{"status": "error", "message": "Request limit exhausted", "uniqueId": ""}', 200)
            if self.replies:
                return Response(self.replies.pop(0), 200, content_type="application/json")
        params = json.loads(request.get_data()) if request.is_json else request.form.to_dict()
        with self._lock:
            self.calls[params.get("campaignName")] += 1
        if params.get("campaignName") in self.broken:
            return Response("<html>503 Service Unavailable</html>", 503)
        if params.get("apiKey") != self.api_key:
            return Response('{"status": "error","message": "Authentication failed","uniqueId": ""}', 200)
        if params.get("userName") != self.username:
            return Response('{"status": "error","message": "userName is invalid","uniqueId": ""}', 200)
        if params.get("campaignName") not in self.records:
            return Response(
                '"{""status"": ""error"",""message"": ""campaignName is invalid"", ""uniqueId"": """"}"', 200
            )
        with self._lock:
            self.requests.append(params)
            self.window_counts[(params["campaignName"], params["fromDate"], params["toDate"])] += 1
            unique_id = f"uid-{len(self.requests)}"
            drop = self.drop_next > 0
            self.drop_next -= 1 if drop else 0
        if not drop:
            records = [
                {k: v for k, v in dict(r, uniqueId=unique_id).items() if not k.startswith("_")}
                for r in self.records[params["campaignName"]]
                if self._in_window(r, params)
            ]
            if not records:
                pass  # nothing in the window: the fake stays silent (the real shape of "nothing" is unknown)
            elif self.hold:
                self.held.append((params["callBackUrl"], records))
            else:
                self._start_push(params["callBackUrl"], records)
        return Response(
            json.dumps({"status": "success", "message": "Data processing", "uniqueId": unique_id}),
            200,
            content_type="application/json",
        )

    @staticmethod
    def _in_window(record: dict, params: dict) -> bool:
        """Whether a record belongs to the requested window under the request's sortby."""
        field = {"1": "_created", "2": "_updated"}.get(str(params.get("sortby")))
        if field is None or field not in record:
            return True
        return params["fromDate"] <= record[field] < params["toDate"]

    def _start_push(self, url, records):
        thread = threading.Thread(target=self._push, args=(url, records))
        thread.start()
        self._threads.append(thread)

    def release(self):
        """Deliver the held pushes now, oldest first (a late push)."""
        held, self.held = self.held, []
        for url, records in held:
            self._start_push(url, records)
        self.join()

    def _push(self, url, records):
        import urllib.request

        pause(self.push_delay)  # like Ozonetel: the data comes after the reply
        body = ("data=" + __import__("urllib.parse").parse.quote(json.dumps(records))).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                self.pushes.append(resp.status)
        except OSError as exc:  # the receiver is gone (test over): record, don't raise in a thread
            self.pushes.append(repr(exc))

    def join(self):
        for thread in self._threads:
            thread.join(10)
