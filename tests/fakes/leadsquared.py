"""A fake LeadSquared status API over real HTTP, and the seed bodies it answers with."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

from werkzeug.wrappers import Response

from fakes.seeds import seed_json

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


def seed_response(kind: str) -> dict:
    """The example status response printed in a LeadSquared seed page."""
    return seed_json("leadsquared", LSQ_SEEDS[kind])


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
LSQ_400_TEXT = (
    "The message body on the request is not as per API specification. Make sure that content type is "
    "set to \u201capplication/json\u201d and the JSON body has correct attribute names and structure."
)


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
                lambda request, kind=kind: self.handle(request, kind)
            )

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
            return 403, lsq_error(
                f"API calls exceeded the limit of {calls} in {period:g} second(s)", "MXAPIRateLimitExceededException"
            )
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
