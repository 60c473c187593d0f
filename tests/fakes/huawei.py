"""A fake Huawei CC-iSales (detail and bulk query) over real HTTP that checks auth-v2 signatures."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

from werkzeug.wrappers import Response

from fakes.clock import pause
from fakes.seeds import seed_json

HUAWEI_SEED = "huawei-isales-call-result-detail.txt"
HUAWEI_API = "/rest/isales/v1/openapi/campaigns"


def huawei_seed_response() -> dict:
    """The example callresultdetail response printed in seed 004."""
    return seed_json("huawei", HUAWEI_SEED)


def verify_auth_v2(request, ak: str, sk: str) -> bool:
    """Check an `auth-v2` Authorization header from docs/huawei.md's description, independently of the signer."""
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
    canonical = "\n".join(
        [
            request.method,
            quote(request.path, safe="/-_.~"),
            query,
            headers,
            signed,
            hashlib.sha256(request.get_data()).hexdigest(),
        ]
    )
    key = hmac.new(sk.encode(), f"auth-v2/{ak}/{timestamp}/{signed}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest(), signature)


class FakeISales:
    """CC-iSales detail and bulk-query endpoints over real HTTP; verifies signatures, counts concurrency."""

    def __init__(self, httpserver, ak: str, sk: str, latency: float = 0.0):
        import re

        self.server, self.ak, self.sk, self.latency = httpserver, ak, sk, latency
        self.details: dict = {}  # (vdn, callId) -> data
        self.scripts: dict = defaultdict(list)  # (vdn, callId) -> [(http, body)]
        self.days: dict = defaultdict(list)  # (vdn, campaign, day) -> [records]
        self.bulk_scripts: dict = defaultdict(list)  # (vdn, campaign) -> [(http, body)] answered first
        self.detail_calls: Counter = Counter()
        self.bulk_calls: list = []
        self.in_flight = 0
        self.peak = 0
        self.bad_signatures = 0
        self._lock = threading.Lock()
        httpserver.expect_request(
            re.compile(rf"^{HUAWEI_API}/\d+/callresultdetail/.+$"), method="GET"
        ).respond_with_handler(self.detail)
        httpserver.expect_request(
            re.compile(rf"^{HUAWEI_API}/\d+/callresult/\d+$"), method="POST"
        ).respond_with_handler(self.bulk)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _enter(self, request):
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if self.latency:
            pause(self.latency)
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
                code, body = (
                    200,
                    {
                        "returnCode": "0200000",
                        "resultCode": "0200000",
                        "resultDesc": "Query Success!",
                        "returnDesc": "Query Success!",
                        "data": self.details[key],
                    },
                )
            else:
                code, body = (
                    200,
                    {
                        "returnCode": "0200007",
                        "resultCode": "0200007",
                        "resultDesc": "The call record ID does not exist.",
                    },
                )
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
                return Response(
                    json.dumps(answer) if isinstance(answer, dict) else answer, code, content_type="application/json"
                )
            if body.get("beginTime") != body.get("endTime"):
                return Response(json.dumps({"returnCode": "0200001", "resultDesc": "one day per query here"}), 200)
            records = self.days.get((vdn, campaign, body["beginTime"]), [])
            size, page = body["pageSize"], body["pageNum"]
            chunk = records[(page - 1) * size : page * size]
            answer = {
                "returnCode": "0200000",
                "resultCode": "0200000",
                "resultDesc": "success",
                "returnDesc": "success",
                "totalCount": len(records),
                "data": chunk,
            }
            return Response(json.dumps(answer), 200, content_type="application/json")
        finally:
            self._leave()
