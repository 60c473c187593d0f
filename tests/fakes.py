"""Test doubles that are not the database: an injectable clock and a fake LeadSquared over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter, defaultdict
from pathlib import Path

from werkzeug.wrappers import Response

# The vendor pages the tests use, copied into tests/fixtures/<vendor>/ (the first line names the page).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LSQ_SEEDS = {
    "call-log": "leadsquared-post-call-log-status.txt",
    "lead-update": "leadsquared-update-lead-status.txt",
    "opportunity-capture": "leadsquared-capture-opportunities-status.txt",
}
LSQ_PATHS = {
    "call-log": "/1/api/telephony/logcallcomplete/status",
    "lead-update": "/lead/update/status",
    "opportunity-capture": "/opportunity/capture/status",
}


class FakeClock:
    """Time that moves only when told to (or when the code under test sleeps)."""

    def __init__(self, start=dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc)):
        self.t = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += dt.timedelta(seconds=seconds)


def seed_response(kind: str) -> dict:
    """The example status response printed in a LeadSquared seed page."""
    text = (FIXTURES / "leadsquared" / LSQ_SEEDS[kind]).read_text(encoding="utf-8")
    start = text.index("\n{") + 1
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value


def status_body(request_id: str, status: str, kind: str = "call-log", id_key: str = "RequestId") -> dict:
    """A seed-shaped response for `request_id` with another Status."""
    body = seed_response(kind)
    body.pop("RequestId", None)
    body.pop("RequestID", None)
    body[id_key] = request_id
    body["TaskStatus"] = dict(body["TaskStatus"], Status=status)
    if status.lower() != "success":
        body["TaskStatus"].update(Message=None, StatusReason=f"{status} reason")
    return body


def lsq_error(message: str, exception_type: str | None = None) -> dict:
    """LeadSquared's error body (apidocs error-handling): Status Error, ExceptionType MX…, ExceptionMessage."""
    body = {"Status": "Error", "ExceptionMessage": message}
    if exception_type:
        body["ExceptionType"] = exception_type
    return body


# The texts of the seed pages' "HTTP Response Codes" tables (tests/fixtures/leadsquared/*).
LSQ_401_TEXT = "The API call was made with invalid access credentials. Check your AccessKey and SecretKey."
LSQ_400_TEXT = ("The message body on the request is not as per API specification. Make sure that content type is "
                "set to \u201capplication/json\u201d and the JSON body has correct attribute names and structure.")


class FakeLeadSquared:
    """Answers status calls from per-id scripts; records every call it gets.

    As the seed pages say: a wrong x-api-key gets 401, a missing `Content-Type: application/json`
    gets 400. With `limit=(calls, period)` and a clock it also keeps a sliding-window rate limit
    and answers 403 "API calls exceeded the limit of N in S second(s)" past it, with no
    Retry-After, counting those replies in `over_limit`.
    """

    def __init__(self, httpserver, api_key: str, limit=None, clock=None):
        self.server, self.api_key = httpserver, api_key
        self.limit, self.clock = limit, clock
        self.scripts: dict[str, list] = defaultdict(list)
        self.default = None  # callable(request_id, kind) -> (status, body, headers)
        self.calls: Counter = Counter()
        self.final_seen: set[str] = set()
        self.repeat_final_polls = 0
        self.over_limit = 0
        self.on_call = None
        self._arrivals: list = []
        self._lock = threading.Lock()
        for kind, path in LSQ_PATHS.items():
            httpserver.expect_request(path, method="GET").respond_with_handler(
                lambda request, kind=kind: self.handle(request, kind))

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def script(self, request_id: str, *responses) -> None:
        """Queue responses for one id: (status code, JSON or text body[, headers])."""
        self.scripts[request_id].extend(responses)

    def _over_limit(self) -> bool:
        """Sliding window on the injected clock: True when this arrival is one too many."""
        if self.limit is None:
            return False
        calls, period = self.limit
        now = self.clock.now()
        with self._lock:
            self._arrivals = [t for t in self._arrivals if (now - t).total_seconds() < period] + [now]
            if len(self._arrivals) > calls:
                self.over_limit += 1
                return True
        return False

    def _refusal(self, request):
        """The documented refusals (rate limit, key, content type), or None."""
        if self._over_limit():
            calls, period = self.limit
            return 403, lsq_error(f"API calls exceeded the limit of {calls} in {period:g} second(s)",
                                  "MXAPIRateLimitExceededException")
        if request.headers.get("x-api-key") != self.api_key:
            return 401, lsq_error(LSQ_401_TEXT)
        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return 400, lsq_error(LSQ_400_TEXT)
        return None

    def handle(self, request, kind):
        request_id = request.args.get("RequestID", "")
        with self._lock:
            self.calls[request_id] += 1
            if request_id in self.final_seen:
                self.repeat_final_polls += 1
        if self.on_call:
            self.on_call(request_id)
        refusal = self._refusal(request)
        script = self.scripts.get(request_id)
        if refusal:
            code, body, *headers = refusal
        elif script:
            code, body, *headers = script.pop(0)
        elif self.default:
            code, body, *headers = self.default(request_id, kind)
        else:  # a guess: LeadSquared documents no answer for an unknown RequestID
            code, body, headers = 400, lsq_error("Invalid RequestID"), []
        if code == 200 and isinstance(body, dict):
            status = body.get("TaskStatus", {}).get("Status", "")
            if str(status).lower() in ("success", "failure", "error"):
                with self._lock:
                    self.final_seen.add(request_id)
        text = json.dumps(body) if isinstance(body, (dict, list)) else body
        return Response(text, code, headers=headers[0] if headers else {}, content_type="application/json")


HUAWEI_SEED = "huawei-isales-call-result-detail.txt"
HUAWEI_API = "/rest/isales/v1/openapi/campaigns"


def huawei_seed_response() -> dict:
    """The example callresultdetail response printed in seed 004."""
    text = (FIXTURES / "huawei" / HUAWEI_SEED).read_text(encoding="utf-8")
    start = text.index("\n{") + 1
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value


def verify_auth_v2(request, ak: str, sk: str) -> bool:
    """Check an `auth-v2` Authorization header from the README's description, independently of the signer."""
    import hashlib
    import hmac
    from urllib.parse import quote

    parts = request.headers.get("Authorization", "").split("/")
    if len(parts) != 5 or parts[0] != "auth-v2" or parts[1] != ak:
        return False
    _, _, timestamp, signed, signature = parts
    names = signed.split(";")
    headers = "\n".join(f"{n}:{' '.join(request.headers.get(n, '').split())}" for n in names)
    query = "&".join(sorted(p for p in request.query_string.decode().split("&") if p))
    canonical = "\n".join([request.method, quote(request.path, safe="/-_.~"), query, headers, signed,
                           hashlib.sha256(request.get_data()).hexdigest()])
    key = hmac.new(sk.encode(), f"auth-v2/{ak}/{timestamp}/{signed}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest(), signature)


class FakeISales:
    """CC-iSales detail and bulk-query endpoints over real HTTP; verifies signatures, counts concurrency."""

    def __init__(self, httpserver, ak: str, sk: str, latency: float = 0.0):
        import re

        self.server, self.ak, self.sk, self.latency = httpserver, ak, sk, latency
        self.details: dict = {}          # (vdn, callId) -> data
        self.scripts: dict = defaultdict(list)   # (vdn, callId) -> [(http, body)]
        self.days: dict = defaultdict(list)      # (vdn, campaign, day) -> [records]
        self.bulk_scripts: dict = defaultdict(list)  # (vdn, campaign) -> [(http, body)] answered first
        self.detail_calls: Counter = Counter()
        self.bulk_calls: list = []
        self.in_flight = 0
        self.peak = 0
        self.bad_signatures = 0
        self._lock = threading.Lock()
        httpserver.expect_request(re.compile(rf"^{HUAWEI_API}/\d+/callresultdetail/.+$"), method="GET") \
            .respond_with_handler(self.detail)
        httpserver.expect_request(re.compile(rf"^{HUAWEI_API}/\d+/callresult/\d+$"), method="POST") \
            .respond_with_handler(self.bulk)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _enter(self, request):
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if self.latency:
            import time
            time.sleep(self.latency)
        if not verify_auth_v2(request, self.ak, self.sk):
            with self._lock:
                self.bad_signatures += 1
            return Response('{"error": "authentication failed"}', 401, content_type="application/json")
        return None

    def _leave(self):
        with self._lock:
            self.in_flight -= 1

    def detail(self, request):
        try:
            denied = self._enter(request)
            if denied:
                return denied
            _, vdn, _, call_id = request.path.rsplit("/", 3)
            key = (int(vdn), call_id)
            with self._lock:
                self.detail_calls[key] += 1
            if self.scripts.get(key):
                code, body = self.scripts[key].pop(0)
            elif key in self.details:
                code, body = 200, {"returnCode": "0200000", "resultCode": "0200000", "resultDesc": "Query Success!",
                                   "returnDesc": "Query Success!", "data": self.details[key]}
            else:
                code, body = 200, {"returnCode": "0200007", "resultCode": "0200007",
                                   "resultDesc": "The call record ID does not exist."}
            text = json.dumps(body) if isinstance(body, (dict, list)) else body
            return Response(text, code, content_type="application/json")
        finally:
            self._leave()

    def bulk(self, request):
        try:
            denied = self._enter(request)
            if denied:
                return denied
            parts = request.path.split("/")
            vdn, campaign = int(parts[-3]), int(parts[-1])
            body = json.loads(request.get_data())
            with self._lock:
                self.bulk_calls.append((vdn, campaign, body))
            if self.bulk_scripts.get((vdn, campaign)):
                code, answer = self.bulk_scripts[(vdn, campaign)].pop(0)
                return Response(json.dumps(answer) if isinstance(answer, dict) else answer, code,
                                content_type="application/json")
            if body.get("beginTime") != body.get("endTime"):
                return Response(json.dumps({"returnCode": "0200001", "resultDesc": "one day per query here"}), 200)
            records = self.days.get((vdn, campaign, body["beginTime"]), [])
            size, page = body["pageSize"], body["pageNum"]
            chunk = records[(page - 1) * size: page * size]
            answer = {"returnCode": "0200000", "resultCode": "0200000", "resultDesc": "success",
                      "returnDesc": "success", "totalCount": len(records), "data": chunk}
            return Response(json.dumps(answer), 200, content_type="application/json")
        finally:
            self._leave()


OZONETEL_SEED = "ozonetel-campaign-dial-status.txt"


def ozonetel_seed_replies() -> dict:
    """Seed 003's documented error replies, by message, exactly as printed (doubled quotes included)."""
    text = (FIXTURES / "ozonetel" / OZONETEL_SEED).read_text(encoding="utf-8")
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
        self.records: dict = {}          # campaign -> list of records to push per request
        self.replies: list = []          # queued raw reply texts (one per request) before normal handling
        self.drop_next = 0               # pushes to "lose"
        self.requests: list = []         # accepted request parameter dicts
        self.window_counts: Counter = Counter()
        self.over_limit = 0
        self.push_delay = 0.2
        self.broken: set = set()         # campaigns whose requests get HTTP 503
        self.calls: Counter = Counter()  # every request by campaign, whatever the answer
        self.hold = False                # keep pushes in `held` until release()
        self.held: list = []
        self.pushes: list = []
        self._arrivals = []
        self._lock = threading.Lock()
        self._time = time.monotonic
        self._threads = []
        httpserver.expect_request("/endpoint/dailer/data/preview/download", method="POST") \
            .respond_with_handler(self.handle)
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
            return Response('"{""status"": ""error"",""message"": ""campaignName is invalid"", ""uniqueId"": """"}"',
                            200)
        with self._lock:
            self.requests.append(params)
            self.window_counts[(params["campaignName"], params["fromDate"], params["toDate"])] += 1
            unique_id = f"uid-{len(self.requests)}"
            drop = self.drop_next > 0
            self.drop_next -= 1 if drop else 0
        if not drop:
            records = [{k: v for k, v in dict(r, uniqueId=unique_id).items() if not k.startswith("_")}
                       for r in self.records[params["campaignName"]] if self._in_window(r, params)]
            if not records:
                pass  # nothing in the window: the fake stays silent (the real shape of "nothing" is unknown)
            elif self.hold:
                self.held.append((params["callBackUrl"], records))
            else:
                self._start_push(params["callBackUrl"], records)
        return Response(json.dumps({"status": "success", "message": "Data processing", "uniqueId": unique_id}), 200,
                        content_type="application/json")

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
        import time
        import urllib.request

        time.sleep(self.push_delay)  # like Ozonetel: the data comes after the reply
        body = ("data=" + __import__("urllib.parse").parse.quote(json.dumps(records))).encode()
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                self.pushes.append(resp.status)
        except OSError as exc:  # the receiver is gone (test over): record, don't raise in a thread
            self.pushes.append(repr(exc))

    def join(self):
        for thread in self._threads:
            thread.join(10)
