"""A fake Ozonetel CDR report API (fetchCdrByPagination and the token API), held to what is documented.

What it enforces, from docs/vendors.md §1.5:
- a GET that carries a JSON body; the same fields in the query string get
  `{"status":"false","message":"Invalid Json Pass Valid Json"}`, a POST a bare 405;
- 2 calls a minute across every path, pages included, on the clock it is given (429 past it);
- auth by the `apiKey` header (mode "apikey") or `Authorization: Bearer` with the newest token
  (mode "token"); any auth failure reads "Missing userName or apiKey" (HTTP 401), an expired token
  "Token Expired"; the token API makes at most 10 tokens an hour, each voiding the older ones;
- days within the last 15 (older ones answer an empty list, no error), one calendar day per request,
  "Invalid campaignName" for a campaign the account does not have;
- pages: pageNo and pageSize in the query string, totalCount in the reply;
- ids written as JSON numbers, exactly (some exceed 2^53).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import zoneinfo
from collections import Counter

from werkzeug.wrappers import Response

from fakes.seeds import FIXTURES

PAGE_PATH = "/ca_reports/fetchCdrByPagination"
TOKEN_PATH = "/ca_apis/CAToken/generateToken"
IST = zoneinfo.ZoneInfo("Asia/Kolkata")
AUTH_FAILED = '{"status":"false","message":"Missing userName or apiKey"}'


def sample_reply() -> dict:
    """tests/fixtures/ozonetel/cdr__sample.json: the sample reply (invented values, 47 keys a leg)."""
    return json.loads((FIXTURES / "ozonetel" / "cdr__sample.json").read_text(encoding="utf-8"))


def make_leg(n: int, *, day: dt.date, at: dt.time, campaign: str, phone: str, call_id=None, **fields) -> dict:
    """A leg shaped like the sample's first one, with its own ids (UCID, and CallID unless shared)."""
    leg = copy.deepcopy(sample_reply()["details"][0])
    end = (dt.datetime.combine(day, at) + dt.timedelta(seconds=134)).time()
    leg.update(
        UCID=7017745500000000 + n,
        CallID=call_id if call_id is not None else 7017745500000000 + n,
        CallDate=day.isoformat(),
        StartTime=at.strftime("%H:%M:%S"),
        EndTime=end.strftime("%H:%M:%S"),
        CampaignName=campaign,
        CallerID=phone,
        E164=f"+91{phone[-10:]}",
        UUI=f"ref-{n}",
    )
    leg.update(fields)
    return leg


class FakeOzonetelCdr:
    """Ozonetel's CDR report on a loopback server; `days[(campaign, day)]` holds the legs it serves."""

    def __init__(self, httpserver, api_key: str, username: str, clock, *, auth: str = "apikey", limit=(2, 60.0)):
        self.api_key, self.username, self.clock, self.auth, self.limit = api_key, username, clock, auth, limit
        self.days: dict = {}  # (campaign, date) -> [legs]
        self.campaigns: set = set()
        self.replies: list = []  # (status, body) answered to the next report calls, one each
        self.calls: list = []  # every call: (method, path, clock time, pageNo, body or None)
        self.served: Counter = Counter()  # (campaign or '', day, pageNo) -> times answered with legs
        self.over_limit = 0
        self.tokens: list = []  # (token, minted at); the last is the only valid one
        self.mint_refusals = 0
        self._arrivals: list = []
        self._lock = threading.Lock()
        for path in (PAGE_PATH, TOKEN_PATH):
            httpserver.expect_request(path).respond_with_handler(self.handle)
        self.url = httpserver.url_for("/").rstrip("/")

    def add(self, legs: list) -> None:
        """Serve these legs under their CampaignName and CallDate."""
        for leg in legs:
            self.campaigns.add(leg["CampaignName"])
            self.days.setdefault((leg["CampaignName"], dt.date.fromisoformat(leg["CallDate"])), []).append(leg)

    def legs_of(self, campaign: str, day: dt.date) -> list:
        if campaign:
            return list(self.days.get((campaign, day), []))
        return [leg for (_, d), legs in sorted(self.days.items()) if d == day for leg in legs]

    def handle(self, request):
        now = self.clock.now()
        with self._lock:
            body = request.get_data()
            self.calls.append((request.method, request.path, now, request.args.get("pageNo"), body or None))
            self._arrivals = [t for t in self._arrivals if (now - t).total_seconds() < self.limit[1]] + [now]
            if len(self._arrivals) > self.limit[0]:
                self.over_limit += 1
                return Response('{"status":"false","message":"Too many requests"}', 429)
            if self.replies and request.path == PAGE_PATH:
                status, text = self.replies.pop(0)
                return Response(text, status, content_type="application/json")
        if request.path == TOKEN_PATH:
            return self.mint(request, now)
        if request.method != "GET":
            return Response("", 405)
        problem = self.refused(request, now)
        if problem:
            return problem
        try:
            params = json.loads(body)
        except ValueError:
            return self.reply({"status": "false", "message": "Invalid Json Pass Valid Json"})
        return self.page(params, request.args, now)

    def refused(self, request, now) -> Response | None:
        """The auth answer for a request that may not pass, else None."""
        if self.auth == "apikey":
            if request.headers.get("apiKey") != self.api_key:
                return Response(AUTH_FAILED, 401, content_type="application/json")
            return None
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            newest = self.tokens[-1] if self.tokens else None
        if newest is None or bearer != newest[0]:
            return Response(AUTH_FAILED, 401, content_type="application/json")
        if now - newest[1] >= dt.timedelta(minutes=60):
            return Response('{"status":"false","message":"Token Expired","data":null}', 401)
        return None

    def mint(self, request, now) -> Response:
        if request.method != "POST" or request.headers.get("apiKey") != self.api_key:
            return self.reply({"status": "false", "message": "Invalid userName or apiKey", "data": None})
        with self._lock:
            recent = [t for _, t in self.tokens if now - t < dt.timedelta(hours=1)]
            if len(recent) >= 10:
                self.mint_refusals += 1
                return self.reply({"status": "false", "message": "Token limit exceeded", "data": None})
            token = f"tok-{len(self.tokens) + 1}-{int(now.timestamp())}"
            self.tokens.append((token, now))
        return self.reply({"token": token, "message": ""})

    def page(self, params: dict, args, now) -> Response:
        if not isinstance(params, dict) or not params.get("fromDate") or not params.get("toDate"):
            return self.reply({"message": "Missing fromDate and toDate", "status": "fail"})
        if params.get("userName") != self.username:
            return Response(AUTH_FAILED, 401, content_type="application/json")
        try:
            start = dt.datetime.strptime(params["fromDate"], "%Y-%m-%d %H:%M:%S")
            end = dt.datetime.strptime(params["toDate"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self.reply(
                {
                    "message": "Invalid fromDate format. Please pass the date in the format yyyy-MM-dd HH:mm:ss",
                    "status": "fail",
                }
            )
        today = now.astimezone(IST).date()
        if start.date() > today or end.date() > today:
            return self.reply({"message": "fromDate and toDate should not be future dates", "status": "fail"})
        campaign = params.get("campaignName") or ""
        if campaign and campaign not in self.campaigns:
            return self.reply({"message": "Invalid campaignName", "status": "fail"})
        legs = [] if start.date() < today - dt.timedelta(days=15) else self.legs_of(campaign, start.date())
        page_no, size = int(args.get("pageNo", 1)), int(args.get("pageSize", 100))
        chunk = legs[(page_no - 1) * size : page_no * size]
        with self._lock:
            self.served[(campaign, start.date(), page_no)] += 1
        return self.reply({"status": "success", "totalCount": len(legs), "details": chunk})

    @staticmethod
    def reply(document: dict) -> Response:
        return Response(json.dumps(document), 200, content_type="application/json")

    def page_calls(self) -> list:
        """The calls made to the report path (not the token API)."""
        return [call for call in self.calls if call[1] == PAGE_PATH]

    def busiest_minute(self) -> int:
        """The most calls any 60 s of the clock saw (the limit is 2)."""
        times = sorted(call[2] for call in self.calls)
        return max(
            (sum(1 for u in times if dt.timedelta(0) <= u - t < dt.timedelta(seconds=60)) for t in times), default=0
        )
