"""A ledger declared once: its work items, status counts, claims and the analyst views agree on every state."""

from __future__ import annotations

import datetime as dt

import pytest
import toy_vendor

from receiver import ledgers
from receiver.database import views
from receiver.vendors import VENDORS

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def work(db):
    """Items of every ledger in every state: open and due, open not due, failing, gave up, done."""
    for n, (status, final, error, next_at) in enumerate(
        [
            (None, None, None, NOW - HOUR),  # open, due
            (None, None, None, NOW + HOUR),  # open, not due
            (None, None, "HTTP 503: busy", NOW - HOUR),  # failing
            ("failed", NOW, "HTTP 400: bad; gave up after 10 failed tries", NOW),  # gave up
            ("expired", NOW, "still In-Queue after the poll horizon", NOW),  # gave up
            ("Success", NOW, None, NOW),  # done
        ]
    ):
        db.execute(
            "INSERT INTO lsq_request (request_id, kind, registered_at, status, final_at, last_error, next_poll_at) "
            "VALUES (%s, 'call-log', %s, %s, %s, %s, %s)",
            (f"req-{n}", NOW - dt.timedelta(days=1, minutes=n), status, final, error, next_at),
        )
    for n, (state, error) in enumerate(
        [
            ("pending", None),
            ("requested", None),
            ("timed-out", "no push within 15m"),
            ("failed", "gave up"),
            ("received", None),
        ]
    ):
        db.execute(
            "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, tries, next_at, last_error) "
            "VALUES ('Renewals', %s, %s, %s, 1, %s, %s)",
            (NOW - (n + 2) * HOUR, NOW - (n + 1) * HOUR, state, NOW - HOUR, error),
        )
    for n, (state, error) in enumerate(
        [("pending", None), ("pending", "0200001 bad"), ("failed", "x"), ("covered", None)]
    ):
        db.execute(
            "INSERT INTO huawei_discovery_window (vdn_id, campaign_id, day, state, next_at, last_error) "
            "VALUES (8, 1001, %s, %s, %s, %s)",
            (NOW.date() - dt.timedelta(days=n), state, NOW - HOUR, error),
        )
    for n, (state, error) in enumerate([("pending", None), ("pending", "HTTP 500"), ("failed", "x"), ("done", None)]):
        db.execute(
            "INSERT INTO huawei_call (vdn_id, call_id, source_timezone, first_seen_at, last_seen_at, detail_status, "
            "detail_error, detail_next_at) VALUES (8, %s, 'UTC', %s, %s, %s, %s, %s)",
            (f"c-{n}", NOW - HOUR, NOW - HOUR, state, error, NOW - HOUR),
        )
    return db


def by_state(db) -> dict:
    return {(s, st): n for s, st, n in db.execute("SELECT source, state, count(*) FROM reconcile_item GROUP BY 1, 2")}


def test_the_item_view_counts_what_the_work_pages_count(work):
    seen = by_state(work)
    for source, ledger in VENDORS.ledgers.items():
        counts = ledgers.counts(work, ledger, NOW)
        assert counts["open"] == seen.get((source, "open"), 0) + seen.get((source, "failing"), 0), source
        assert counts["failing"] == seen.get((source, "failing"), 0), source
        assert counts["gave_up"] == seen.get((source, "gave-up"), 0), source
        listed = {r["key"]: r["state"] for state in ledgers.STATES for r in ledgers.items(work, ledger, state)}
        in_view = dict(work.execute("SELECT key, state FROM reconcile_item WHERE source = %s", (source,)).fetchall())
        assert in_view == {key: state for key, state in listed.items() if key in in_view} and set(in_view) <= set(
            listed
        )
    assert seen == {
        ("leadsquared", "open"): 2,
        ("leadsquared", "failing"): 1,
        ("leadsquared", "gave-up"): 2,
        ("ozonetel", "open"): 2,
        ("ozonetel", "failing"): 1,
        ("ozonetel", "gave-up"): 1,
        ("huawei-discovery", "open"): 1,
        ("huawei-discovery", "failing"): 1,
        ("huawei-discovery", "gave-up"): 1,
        ("huawei", "open"): 1,
        ("huawei", "failing"): 1,
        ("huawei", "gave-up"): 1,
    }


def test_gave_up_view_is_the_item_views_gave_up_rows(work):
    gave_up = sorted(work.execute("SELECT source, kind, item, tries, reason FROM reconcile_gave_up").fetchall())
    items = work.execute(
        "SELECT source, kind, item, tries, last_error FROM reconcile_item WHERE state = 'gave-up'"
    ).fetchall()
    assert gave_up == sorted(items) and len(gave_up) == 5
    assert ("leadsquared", "call-log expired", "req-4") in {row[:3] for row in gave_up}


def test_status_counts_follow_the_declared_states(work):
    lsq = ledgers.status(work, VENDORS.ledgers["leadsquared"], NOW)
    assert (lsq["pending"], lsq["due_now"], lsq["failing"], lsq["expired"]) == (3, 2, 1, 1)
    assert lsq["final_by_status"] == {"failed": 1, "expired": 1, "Success": 1}
    ozonetel = ledgers.status(work, VENDORS.ledgers["ozonetel"], NOW)
    # a requested window is open but waits for its push: not due, not claimable
    assert (ozonetel["pending"], ozonetel["due_now"]) == (3, 2)
    assert ozonetel["final_by_status"] == {"failed": 1, "received": 1}


def test_claims_take_only_due_claimable_items(work):
    lsq = work.execute(VENDORS.ledgers["leadsquared"].claim_query("request_id"), {"now": NOW})
    assert lsq.fetchone() == ("req-0",)  # due and oldest next try; req-2 failed and is due too, later by id
    windows = work.execute(
        VENDORS.ledgers["ozonetel"].claim_query("state", where="campaign_name <> ALL(%(blocked)s::text[])"),
        {"now": NOW, "blocked": []},
    ).fetchall()
    assert windows in ([("pending",)], [("timed-out",)])


def test_a_vendor_added_to_the_registry_shows_in_the_views_after_an_upgrade(work):
    work.execute(toy_vendor.TOY_MIGRATION)
    work.execute("INSERT INTO toy_item (call_id, gave_up, last_error) VALUES ('t-1', false, NULL), ('t-2', true, 'no')")
    views.create(work, VENDORS.plus(toy_vendor.TOY).ledgers.values())
    assert work.execute("SELECT key, state FROM reconcile_item WHERE source = 'toy' ORDER BY key").fetchall() == [
        ("t-1", "open"),
        ("t-2", "gave-up"),
    ]
    assert work.execute("SELECT item, reason FROM reconcile_gave_up WHERE source = 'toy'").fetchall() == [("t-2", "no")]
