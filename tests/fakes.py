"""Test doubles that are not the database: an injectable clock and a fake LeadSquared over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter, defaultdict
from pathlib import Path

from werkzeug.wrappers import Response

SEEDS = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"
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
    text = (SEEDS / LSQ_SEEDS[kind]).read_text(encoding="utf-8")
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


class FakeLeadSquared:
    """Answers status calls from per-id scripts; records every call it gets."""

    def __init__(self, httpserver, api_key: str):
        self.server, self.api_key = httpserver, api_key
        self.scripts: dict[str, list] = defaultdict(list)
        self.default = None  # callable(request_id, kind) -> (status, body, headers)
        self.calls: Counter = Counter()
        self.final_seen: set[str] = set()
        self.repeat_final_polls = 0
        self.on_call = None
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

    def handle(self, request, kind):
        request_id = request.args.get("RequestID", "")
        with self._lock:
            self.calls[request_id] += 1
            if request_id in self.final_seen:
                self.repeat_final_polls += 1
        if self.on_call:
            self.on_call(request_id)
        if request.headers.get("x-api-key") != self.api_key:
            return Response('{"Status":"Error","ExceptionMessage":"Invalid API key"}', 401)
        script = self.scripts.get(request_id)
        if script:
            code, body, *headers = script.pop(0)
        elif self.default:
            code, body, *headers = self.default(request_id, kind)
        else:
            code, body, headers = 400, {"Status": "Error", "ExceptionMessage": "Invalid RequestID"}, []
        if code == 200 and isinstance(body, dict):
            status = body.get("TaskStatus", {}).get("Status", "")
            if str(status).lower() in ("success", "failure", "error"):
                with self._lock:
                    self.final_seen.add(request_id)
        text = json.dumps(body) if isinstance(body, (dict, list)) else body
        return Response(text, code, headers=headers[0] if headers else {}, content_type="application/json")
