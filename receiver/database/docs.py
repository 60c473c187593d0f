"""`callrecon db docs`: docs/schema.md from the COMMENT ON text in the database (the one source)."""

from __future__ import annotations

from receiver.database.roles import SERVICES, WORDS

# A partitioned table is documented once, as its parent; its weekly partitions come and go by date.
TABLES = """
SELECT c.oid, c.relname, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY CASE c.relkind WHEN 'v' THEN 0 ELSE 1 END, c.relname
"""
COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum)
FROM pg_attribute a WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
FUNCTIONS = """
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', obj_description(p.oid, 'pg_proc')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname LIKE 'callrecon%%' ORDER BY 1
"""


# One definition per analyst question; the views, the shipped queries (sql/queries/) and the column
# comments use these, and tests/test_analyst_layer.py checks that they agree.
DEFINITIONS = """## Definitions

- **Business day**: the date of a call's `ring_time` in the `callrecon.business_timezone` setting
  (`BUSINESS_TIMEZONE`, default UTC), as `completeness_daily.day` and the shipped queries use it.
  Calls without a `ring_time` (e.g. an Ozonetel dial-status lead row with no StartTime) have no
  day and are counted in no daily figure.
- **Answered**: `call.outcome = 'answered'` (`callrecon_ozonetel_outcome`, `callrecon_huawei_outcome`).
- **Answer rate**: answered calls divided by all calls of that day with a `ring_time`, `unknown`
  outcomes included in the denominator (an outcome we could not read is still a dial).
- **Missing detail** (Huawei): `huawei_call.detail_status <> 'done'`, i.e. pending, not-found or
  failed; `completeness_daily.calls_missing_detail` and `sql/queries/calls_missing_detail.sql`
  count exactly these.
"""


# Why the big tables are partitioned as they are (migrations 0017, 0025); README "Partitions" has the operations.
PARTITIONS = """## Partitions

- `raw_inbox`, `ozonetel_sighting` and `huawei_sighting` are partitioned by week (Monday 00:00
  UTC) of the raw callback's `received_at`; `callrecon_partitions` lists the weeks. Query the
  tables by their names: a filter on `received_at` reads only the weeks it covers.
- Why weekly: `callrecon prune` drops whole weeks and deletes row by row only in the week at the
  retention age, so a week bounds that work; 52 partitions a year keep planning cheap.
- Why keys stay unique: a raw row's `received_at` never changes and a sighting carries its raw
  row's, so one raw id lives in one week, and each week's primary key (`id`; `raw_id,
  record_index`) is unique overall.
- `ozonetel_call` and `huawei_call` are partitioned by month (the 1st, 00:00 UTC) of
  `first_seen_at`, when callrecon first stored the call, which is set once and never updated. Not
  by the vendor's call time: it can be missing (a dial-status lead, an empty `callTimeStr`) and
  changes between pushes of one call (a re-dialled lead, an earlier attempt re-pushed). Their keys
  are `(call_key, first_seen_at)` and `(vdn_id, call_id, first_seen_at)`; the landing code finds a
  known call's `first_seen_at` in any month (`callrecon_ozonetel_homes`, `callrecon_huawei_homes`,
  which lock the call until commit), so a re-push months later updates the same row. A filter on
  `first_seen_at` reads only the months it covers; a filter on the call's own time (`start_time`,
  `ring_time`) reads each month's index.
- Why monthly: typed rows are kept for months or years (`TYPED_RETENTION`), and every landing
  looks a call up in each month; `callrecon prune --typed-older-than` drops whole months.
- Rows from before partitioning are in `<table>_legacy` (no row was copied); rows no partition
  covers land in `<table>_default`.
"""


# Why the aggregations read pre-summed rows (migrations 0023, 0024); README "Scale" has the figures.
ROLLUPS = """## Rollups

- `call_rollup` holds, per vendor, campaign and 15-minute slot (UTC) of `ring_time`, the counts of
  the `call` view's calls: calls, answered, by source, missing detail. Statement triggers on
  `ozonetel_call` and `huawei_call` append each statement's change (whatever wrote it: receiver,
  lander, replay, reconciler, COPY), and each reconciler pass folds the changes into one row per
  key (`callrecon_rollup_compact()`). Sum the rows of a key. `answer_rate_by_campaign_day`,
  `gaps_last_7_days`, `completeness_daily` and the console's completeness page read it and give
  the numbers counting the calls would (tests/test_rollup.py).
- Why 15-minute UTC slots: the business day is a query-time choice (`callrecon.business_timezone`);
  a slot lies within one business day in every zone a whole number of quarter hours from UTC
  (all zones in use today, e.g. Asia/Kolkata +05:30, Asia/Kathmandu +05:45). Hourly slots would
  split India's days.
- `call_log_link` holds each successful LeadSquared call log with the end time of the call it logs
  (the link rule of `call_end_to_crm_log.sql`), kept by triggers on `lsq_request` and on the call
  tables (a call inserted, moved or ended near a log links it again). `call_end_to_crm_log` computes
  exact medians and p90 over these rows: percentiles cannot be summed, so nothing is estimated from
  a histogram. One edge: a call and a log of the same number written at the same instant by two
  transactions do not see each other until either changes again.
"""


def _cell(text) -> str:
    """Table-safe Markdown text."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


ROLES_NOTE = """## Who may read and write what

`callrecon db upgrade` grants each table and view to the group roles `callrecon_web`,
`callrecon_reconciler` and `callrecon_analyst` exactly as the shared list (`receiver/database/roles.py`)
and each vendor's registry entry (`grants`) say (names carry `DB_ROLE_PREFIX`, default `callrecon`);
`callrecon_owner` owns them all and alone may change the schema.
No role gets `TRUNCATE`. Each section below has an **Access** line.
"""


def access_line(relation: str, rights: dict) -> str:
    """'**Access**: web select, insert; ...' for one relation, from the same list the grants come from."""
    if relation not in rights:
        return "**Access**: owner only (in no role's list yet: receiver/database/roles.py, or its vendor's grants)"
    parts = []
    for role, letters in zip(SERVICES, rights[relation], strict=True):
        parts.append(f"{role} {', '.join(WORDS[letter].lower() for letter in letters)}" if letters else f"{role} none")
    return "**Access**: " + "; ".join(parts)


def render(conn, rights: dict) -> str:
    """The whole schema reference as Markdown."""
    out = [
        "# callrecon schema",
        "",
        "Generated by `callrecon db docs` from the `COMMENT ON` text in `sql/`; do not edit by hand.",
        "Views first (what analysts query), then tables. Times are `timestamptz` in UTC.",
        "",
        DEFINITIONS,
        ROLES_NOTE,
        PARTITIONS,
        ROLLUPS,
    ]
    for oid, name, kind, comment in conn.execute(TABLES).fetchall():
        out += [
            f"## {name} ({kind})",
            "",
            _cell(comment),
            "",
            access_line(name, rights),
            "",
            "| column | type | description |",
            "|---|---|---|",
        ]
        for column, type_, not_null, description in conn.execute(COLUMNS, {"oid": oid}).fetchall():
            type_text = f"{type_} not null" if not_null else type_
            out.append(f"| `{column}` | {type_text} | {_cell(description)} |")
        out.append("")
    functions = conn.execute(FUNCTIONS).fetchall()
    if functions:
        out += ["## Functions", "", "| function | description |", "|---|---|"]
        out += [f"| `{name}` | {_cell(comment)} |" for name, comment in functions]
        out.append("")
    return "\n".join(out)
