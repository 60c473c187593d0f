"""Huawei CC-iSales replies, read exactly as documented (seed 004, vendors.md §2.1-2.3).

CC-iSales documents two HTTP statuses: 200 (the body's returnCode says how it went) and 401 (the
AK/SK signature was refused). Only the 401 is about our credentials, so only it stops the source;
any other status (400, 403, 404, 429, 5xx) is something Huawei never promised, and is retried
under the failure policy like a transient error, with an explanation for the operator.
"""

from __future__ import annotations

import datetime as dt
import json

from receiver.vendors.huawei.settings import section
from reconciler.core.vendor_http import Transient, VendorError, make_session, request_json
from reconciler.sources.huawei.signing import signer

OK = "0200000"
NOT_FOUND = "0200007"
# Table 5 of seed 004: parameter errors that no retry can fix.
PERMANENT = {"0200001"} | {f"020000{n:02d}" for n in range(1, 12)}
API = "/rest/isales/v1/openapi/campaigns"
DOCUMENTED_STATUSES = (200, 401)


class UndocumentedStatus(Transient):
    """An HTTP status CC-iSales does not document: retried, then failed with this explanation."""

    reason = "undocumented_status"

    def __str__(self) -> str:
        return (
            f"HTTP {self.status}: {self.detail} (CC-iSales documents only 200 and 401: check HUAWEI_BASE_URL "
            "is https://host:port of CC-iSales and that the VDN exists there; retried up to HUAWEI_MAX_TRIES)"
        )


class HuaweiClient:
    """Signed JSON calls to CC-iSales; one Session, the configured signer, secrets masked."""

    def __init__(self, settings):
        self.config = section(settings)
        self.secrets = settings.secret_values()
        self.sign = signer(self.config.signer)
        self.session = make_session("huawei", {"Content-Type": "application/json; charset=UTF-8"})
        if self.config.ca_bundle:
            self.session.verify = self.config.ca_bundle

    def call(self, method: str, path: str, body: dict | None, now: dt.datetime) -> dict:
        """One signed call; returns the decoded body. Only a 401 raises Unauthorized (stops the source)."""
        url = self.config.base_url + path
        data = json.dumps(body).encode() if body is not None else b""
        headers = self.sign(
            method, url, {"Content-Type": "application/json; charset=UTF-8"}, data, self.config.ak, self.config.sk, now
        )
        try:
            payload = request_json(
                self.session,
                method,
                url,
                data=data or None,
                headers=headers,
                timeout=self.config.timeout,
                secrets=self.secrets,
                now=now,
            )
        except VendorError as exc:
            if exc.status is None or exc.status in DOCUMENTED_STATUSES:
                raise  # no answer, an unreadable 200, or the documented 401
            raise UndocumentedStatus(exc.detail, exc.status) from None
        if not isinstance(payload, dict):
            raise Transient(f"expected a JSON object, got {type(payload).__name__}")
        return payload


def return_code(payload: dict) -> tuple[str, str]:
    """(code, description) of a CC-iSales answer.

    resultDesc comes first: Table 5 sends the operator to it ("For details about the error, see
    resultDesc"); returnDesc is kept after it when it says something else.
    """
    code = str(payload.get("returnCode") or payload.get("resultCode") or "")
    result_desc = str(payload.get("resultDesc") or "").strip()
    return_desc = str(payload.get("returnDesc") or "").strip()
    if result_desc and return_desc and return_desc != result_desc:
        return code, f"{result_desc[:200]} (returnDesc: {return_desc[:200]})"
    return code, (result_desc or return_desc)[:200]


def about_the_vdn(code: str, desc: str) -> bool:
    """A parameter error whose description names the vdnId: the VDN is wrong, not this call."""
    return code in PERMANENT and "vdn" in desc.lower()
