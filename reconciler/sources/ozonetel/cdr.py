"""Ozonetel's CDR report: every call detail record of a day, page by page, landed as the push lands it.

A push can be lost (the endpoint down, Ozonetel's retry given up); the CDR report
(`fetchCdrByPagination`, docs/vendors.md §1.5) answers for a whole day, for the last 15
days. This source keeps a ledger of days (ozonetel_cdr_day): per campaign of OZONETEL_CAMPAIGNS,
or the whole account. A day is fetched once it has closed and settled (OZONETEL_CDR_SETTLE after
its midnight in OZONETEL_TIMEZONE: Ozonetel moves it to its history at midnight and serves it
after 03:00), then once more OZONETEL_CDR_REFETCH later for late changes (dispositions, late
legs), and never past the lookback: a day older than that ends `expired`, with the reason, and no
call. Each page is one call on the shared budget (2 a minute, OZONETEL_CDR_RATE_LIMIT); its reply is
stored as a raw callback (source ozonetel) and its legs land through Ozonetel's own landing code
(receiver/vendors/ozonetel/cdr.py says which call each leg is).

Request: a GET that carries a JSON body (the contract practitioners found: the same fields in the
query string, or a POST, are refused), pageNo and pageSize in the query string; auth by the
`apiKey` header, a shared token (cdr_token.py), or both (OZONETEL_CDR_AUTH).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass

from receiver import json_text
from receiver.database.connect import Connector
from receiver.landing import inbox
from receiver.landing.land import Outcome, RawRef, land
from receiver.landing.masking import mask_body
from receiver.vendors.ozonetel import CDR_LEDGER
from receiver.vendors.ozonetel.records import land_records
from receiver.vendors.ozonetel.settings import NAME, section
from reconciler.core import blocks
from reconciler.core.failures import FailurePolicy
from reconciler.core.vendor_http import (
    BadRequest,
    Misconfigured,
    RateLimited,
    ScopeMisconfigured,
    Transient,
    Unauthorized,
    VendorError,
    make_session,
    request_json,
)
from reconciler.sources.ozonetel import campaigns
from reconciler.sources.ozonetel.cdr_token import TokenStore

SOURCE = "ozonetel-cdr"
PAGE_PATH = "/ca_reports/fetchCdrByPagination"
PASSES = 2  # once settled, once more for late changes
AUTH_ERRORS = ("missing username or apikey", "username or apikey is invalid", "invalid username or apikey")
AUTH_FIX = (
    "Ozonetel refused the CDR request ({detail}): check OZONETEL_USERNAME and OZONETEL_API_KEY, and that "
    "OZONETEL_CDR_AUTH suits the account's API Authentication setting (apikey for BASIC_AUTH, token for TOKEN_AUTH; "
    "both sends the two headers); no day was charged a try"
)

ENSURE_DAY = """
INSERT INTO ozonetel_cdr_day (campaign_name, day, next_at) VALUES (%(campaign)s, %(day)s, %(next_at)s)
ON CONFLICT (campaign_name, day) DO NOTHING
"""
EXPIRE = """
UPDATE ozonetel_cdr_day SET state = 'expired',
    last_error = COALESCE(last_error || '; ', '') || 'expired: the day is older than Ozonetel keeps it ('
                 || %(lookback)s || ', OZONETEL_CDR_LOOKBACK) after ' || passes || ' of ' || %(passes)s || ' passes'
WHERE state = 'pending' AND day < %(oldest)s
"""
CLAIM = CDR_LEDGER.claim_query(
    "id, campaign_name, day, passes, next_page, tries", where="campaign_name <> ALL(%(blocked)s::text[])"
)
RESET_COUNTS = (
    "DELETE FROM ozonetel_cdr_count WHERE day = %(day)s AND (%(campaign)s = '' OR campaign_name = %(campaign)s)"
)
ADD_COUNTS = """
INSERT INTO ozonetel_cdr_count (day, campaign_name, legs, counted_at)
SELECT %(day)s, campaign, legs, %(now)s FROM jsonb_to_recordset(%(counts)s::jsonb) AS x(campaign text, legs int)
ON CONFLICT (day, campaign_name) DO UPDATE SET legs = ozonetel_cdr_count.legs + EXCLUDED.legs,
    counted_at = EXCLUDED.counted_at
"""
PAGE_LANDED = """
UPDATE ozonetel_cdr_day SET next_page = next_page + 1, legs = CASE WHEN next_page = 1 THEN 0 ELSE legs END + %(legs)s,
    total_count = %(total)s, first_fetched_at = COALESCE(first_fetched_at, %(now)s), last_fetched_at = %(now)s,
    next_at = %(now)s, tries = 0, last_error = NULL
WHERE id = %(id)s
"""
PASS_LANDED = """
UPDATE ozonetel_cdr_day SET passes = passes + 1, next_page = 1,
    legs = CASE WHEN next_page = 1 THEN 0 ELSE legs END + %(legs)s, total_count = %(total)s,
    first_fetched_at = COALESCE(first_fetched_at, %(now)s), last_fetched_at = %(now)s,
    state = CASE WHEN passes + 1 >= %(passes)s THEN 'done' ELSE 'pending' END,
    next_at = %(next_at)s, tries = 0, last_error = NULL
WHERE id = %(id)s
"""
FAILED = """
UPDATE ozonetel_cdr_day SET tries = tries + 1, next_at = %(next_at)s, last_error = %(error)s, state = %(state)s
WHERE id = %(id)s
"""
HOLD = "UPDATE ozonetel_cdr_day SET next_at = %(next_at)s, last_error = %(error)s WHERE id = %(id)s"


@dataclass(frozen=True)
class Day:
    """One day (of one campaign, or the account) at the page its pass fetches next."""

    id: int
    campaign: str
    day: dt.date
    passes: int
    page: int
    tries: int


@dataclass(frozen=True)
class Page:
    """One page of a day as Ozonetel sent it: the reply's text, its legs, and the legs it says the day has."""

    text: str
    legs: list
    total: int | None


class TokenExpired(RateLimited):
    """Ozonetel says the token expired: a new one is made for the next call; no try is counted."""

    reason = "token_expired"


def classify(message: str) -> VendorError:
    """The domain error for one of Ozonetel's documented CDR replies (docs/vendors.md §1.5), by its message."""
    folded = message.lower()
    if "token expired" in folded:
        return TokenExpired(f"Ozonetel: {message[:200]}", None, 0.0)
    if any(words in folded for words in AUTH_ERRORS):
        return Unauthorized(f"Ozonetel: {message[:200]}")
    if "invalid campaignname" in folded:
        return ScopeMisconfigured(f"Ozonetel: {message[:200]}")
    if "invalid json" in folded:
        return Misconfigured(
            f"Ozonetel answered {message[:200]!r}: the JSON body of the request did not reach it. Ozonetel reads "
            "it from a GET, and a proxy between callrecon and OZONETEL_CDR_URL may drop the body of a GET: "
            "let the reconciler reach Ozonetel without it"
        )
    if "fromdate" in folded or "todate" in folded or "future" in folded:
        return BadRequest(f"Ozonetel: {message[:200]}")
    return Transient(f"Ozonetel replied: {message[:200]}")


def day_start(day: dt.date, zone) -> dt.datetime:
    """Midnight of `day` in `zone`, in UTC."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)


class OzonetelCdrSource:
    """Fetches Ozonetel's CDR report day by day, within its 2-calls-a-minute limit, and lands every leg."""

    name = budget_name = SOURCE
    since_help = ""

    def __init__(self, settings, rng: random.Random | None = None):
        self.settings = settings
        self.config = section(settings)
        self.rate_limit = self.config.cdr_rate_limit
        self.call_timeout = self.config.timeout
        self.rng = rng or random.Random()
        self.policy = FailurePolicy(
            self.config.retry_first_interval,
            self.config.retry_max_interval,
            self.config.cdr_max_tries,
            "OZONETEL_CDR_MAX_TRIES",
        )
        self.campaign_config = blocks.config_hash(
            self.config.cdr_url, self.config.username, sorted(self.config.campaigns)
        )
        self.session = make_session(SOURCE, {"Content-Type": "application/json"})
        self.tokens = TokenStore(
            Connector.of(settings),
            self.session,
            self.config.cdr_url,
            self.config.username,
            self.config.api_key,
            self.config.timeout,
        )
        self.secrets = settings.secret_values()

    def problems(self) -> list[str]:
        """Configuration errors that keep this source from running."""
        return self.config.cdr_problems()

    def is_configured(self) -> bool:
        """True once OZONETEL_CDR_URL is given: the CDR pull runs only when asked for."""
        return bool(self.config.cdr_url)

    def explain(self, exc) -> str:
        """The operator message for an error that stops the source."""
        if isinstance(exc, Unauthorized):
            return AUTH_FIX.format(detail=exc.detail)
        if isinstance(exc, Misconfigured):
            return exc.detail if exc.status is None else f"Ozonetel's CDR URL answered {exc}: check OZONETEL_CDR_URL"
        return str(exc)

    def days_wanted(self, now: dt.datetime) -> tuple[list[dt.date], dt.date]:
        """(the closed days within the lookback, oldest first; the oldest day Ozonetel still keeps)."""
        today = now.astimezone(self.config.timezone).date()
        oldest = today - dt.timedelta(days=int(self.config.cdr_lookback // 86400))
        return [oldest + dt.timedelta(days=n) for n in range((today - oldest).days)], oldest

    def prepare(self, conn, now, since=None) -> None:
        """Add each closed day of the lookback (per campaign, or the account); expire what fell out of it."""
        days, oldest = self.days_wanted(now)
        campaigns = self.config.campaigns or ("",)
        settle = dt.timedelta(seconds=self.config.cdr_settle)
        with conn.transaction():
            for campaign in campaigns:
                for day in days:
                    due = day_start(day + dt.timedelta(days=1), self.config.timezone) + settle
                    conn.execute(ENSURE_DAY, {"campaign": campaign, "day": day, "next_at": due})
            lookback = f"{self.config.cdr_lookback / 86400:g} days"
            conn.execute(EXPIRE, {"oldest": oldest, "lookback": lookback, "passes": PASSES})

    def claim(self, conn, now) -> Day | None:
        """The most overdue day no other process holds, outside campaigns Ozonetel refused."""
        blocked = sorted(blocks.active(conn, SOURCE, "campaign", self.campaign_config, now))
        row = conn.execute(CLAIM, {"now": now, "blocked": blocked}).fetchone()
        return Day(*row) if row else None

    def headers(self, now) -> dict:
        """The auth headers OZONETEL_CDR_AUTH asks for: apiKey, a shared token, or both."""
        headers = {}
        if self.config.cdr_auth in ("apikey", "both"):
            headers["apiKey"] = self.config.api_key
        if self.config.cdr_auth in ("token", "both"):
            headers["Authorization"] = f"Bearer {self.tokens.token(now, self.secrets)}"
        return headers

    def body(self, item: Day) -> dict:
        """The JSON body of one request: the whole day, in OZONETEL_TIMEZONE, for one campaign or the account."""
        body = {
            "fromDate": f"{item.day} 00:00:00",
            "toDate": f"{item.day} 23:59:59",
            "userName": self.config.username,
        }
        if item.campaign:
            body["campaignName"] = item.campaign
        return body

    def fetch(self, item: Day, now) -> Page:
        """GET one page of the day, with its JSON body; Ozonetel's documented error replies become domain errors."""
        headers = self.headers(now)
        token = headers.get("Authorization", "").removeprefix("Bearer ") or None
        secrets = (*self.secrets, token) if token else self.secrets
        try:
            text, payload = request_json(
                self.session,
                "GET",
                self.config.cdr_url + PAGE_PATH,
                timeout=self.call_timeout,
                secrets=secrets,
                now=now,
                params={"pageNo": item.page, "pageSize": self.config.cdr_page_size},
                data=json.dumps(self.body(item)).encode(),
                headers=headers,
                decode=lambda body: (body, json.loads(body)),  # ids past 2^53 stay exact: Python ints
            )
        except Unauthorized as exc:
            error = classify(exc.detail)
            if token and isinstance(error, TokenExpired):
                self.tokens.spent(token, now)
            if isinstance(error, (TokenExpired, Unauthorized)):
                raise error from None
            raise
        return self.page(text, payload, token, now)

    def page(self, text: str, payload, token, now) -> Page:
        """The legs of a successful reply; any other reply raises what it means."""
        if not isinstance(payload, dict):
            raise Transient(f"unexpected reply: {text[:100]!r}")
        status = str(payload.get("status", "")).lower()
        legs = payload.get("details")
        if status not in ("success", "true") or not isinstance(legs, list):
            error = classify(str(payload.get("message") or payload.get("status") or "no message"))
            if token and isinstance(error, TokenExpired):
                self.tokens.spent(token, now)
            raise error
        total = payload.get("totalCount")
        return Page(text, legs, total if isinstance(total, int) else None)

    def land(self, conn, item: Day, payload: Page, now) -> str:
        """Store the page as a raw callback, land its legs as pushes land, and move the day on."""
        body = mask_body(payload.text.encode(), self.secrets)
        fetched = f"{PAGE_PATH} {item.campaign or 'account'} {item.day} pass {item.passes + 1} page {item.page}"
        raw_id, received_at = inbox.store(
            conn,
            source=NAME,
            client_addr=None,
            content_type="application/json",
            headers={"X-Callrecon-Fetched": fetched},
            body=body,
            received_bytes=len(body),
        )
        if payload.legs:
            land(conn, land_records, RawRef(raw_id, received_at), payload.legs, self.settings)
        else:
            inbox.record_outcome(conn, raw_id, Outcome(notes=["an empty CDR page: no legs"]), received_at)
        self.count(conn, item, payload.legs, now)
        params = {"id": item.id, "legs": len(payload.legs), "total": payload.total, "now": now, "passes": PASSES}
        if (
            payload.legs
            and len(payload.legs) >= self.config.cdr_page_size
            and (payload.total is None or item.page * self.config.cdr_page_size < payload.total)
        ):
            conn.execute(PAGE_LANDED, params)
            return "page"
        params["next_at"] = now + dt.timedelta(seconds=self.config.cdr_refetch)
        conn.execute(PASS_LANDED, params)
        blocks.lift(conn, SOURCE, "campaign", item.campaign)
        return "day-fetched" if item.passes + 1 < PASSES else "day-done"

    def count(self, conn, item: Day, legs: list, now) -> None:
        """Add the page's legs to the day's counts per campaign (a pass's first page starts them again)."""
        if item.page == 1:
            conn.execute(RESET_COUNTS, {"day": item.day, "campaign": item.campaign})
        per_campaign = Counter(str(leg.get("CampaignName") or item.campaign) for leg in legs if isinstance(leg, dict))
        if per_campaign:
            counts = [{"campaign": c, "legs": n} for c, n in per_campaign.items()]
            conn.execute(ADD_COUNTS, {"day": item.day, "now": now, "counts": json_text.dumps(counts)})

    def failed(self, conn, item: Day, exc, run_id, now) -> str:
        """A failed call counts a try; an invalid campaign stops that campaign; an expired token costs nothing."""
        if isinstance(exc, TokenExpired):
            conn.execute(
                HOLD, {"id": item.id, "next_at": now, "error": "the shared token had expired; a new one is made"}
            )
            return "token-renewed"
        if isinstance(exc, ScopeMisconfigured):
            conn.execute(HOLD, {"id": item.id, "next_at": now, "error": f"campaign stopped: {exc.detail}"})
            config, recheck = self.campaign_config, self.config.recheck
            campaigns.stop(conn, SOURCE, item.campaign, exc.detail, config=config, recheck=recheck, now=now)
            return "campaign-misconfigured"
        # The day can be read while it is within the lookback: until the lookback has passed since it ended.
        horizon_at = day_start(item.day + dt.timedelta(days=1), self.config.timezone) + dt.timedelta(
            seconds=self.config.cdr_lookback
        )
        verdict = self.policy.after_failure(item.tries + 1, now, self.rng, horizon_at=horizon_at)
        error = str(exc)[:400] + (f"; {verdict.why}" if verdict.give_up else "")
        state = ("expired" if now >= horizon_at else "failed") if verdict.give_up else "pending"
        conn.execute(FAILED, {"id": item.id, "next_at": verdict.next_at, "error": error, "state": state})
        return "failed" if verdict.give_up else "retry"
