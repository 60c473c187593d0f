"""Vendor sources callrecon accepts callbacks from: how each lands, and how it wants its reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from receiver.vendors import huawei, ozonetel


def json_reply(status_code: int, body: dict) -> tuple[int, dict]:
    """Our own JSON reply, unchanged (Ozonetel documents no expected reply)."""
    return status_code, body


def huawei_reply(status_code: int, body: dict) -> tuple[int, dict]:
    """Huawei re-pushes on anything but HTTP 200 + retCode "0" (§2.4); a stored body must not be re-pushed."""
    stored = body.get("status") in ("landed", "note", "stored")
    message = "success" if stored else f"stored; quarantined: {body.get('error')}"
    return 200, {**huawei.ACK, "retMsg": message, "raw_id": body.get("raw_id")}


def no_check(records, settings) -> None:
    """Sources whose pushes carry nothing to verify (Huawei sends no credentials, §2.4)."""
    return None


@dataclass(frozen=True)
class Source:
    """One vendor's callback handling: `check` runs on the decoded records before masking."""

    land: Callable
    reply: Callable = json_reply
    check: Callable = no_check


SOURCES = {
    ozonetel.SOURCE: Source(ozonetel.land_records, check=ozonetel.check_apikeys),
    huawei.SOURCE: Source(huawei.land_records, huawei_reply),
}
LANDERS = {name: source.land for name, source in SOURCES.items()}
