"""Scale benchmark: a large contact centre's months of data on one Postgres, measured.

Loads N calls (default 10M; or --calls-per-day times --days) over --days days with COPY through the
real, partitioned schema: typed Ozonetel and Huawei rows, LeadSquared call logs and the Ozonetel
window ledger (bench/queries.py's loader), plus a raw callback and a sighting per push, a re-push
days later for 1 call in 10, and 1M open LeadSquared requests for the reconciler to claim from: four
loads at once, as COPY text lines, the typed calls and sightings without their indexes (made after),
call_rollup counted once after the typed COPYs (bench/README.md, "A million calls a day", says why).
Then, in one run:

  ingest   the real receiver (gunicorn as the Procfile runs it, wrk posting one record per
           request) into the full database and into an empty one, interleaved rounds; the
           ratio of the medians (target >= 0.9)
  queries  each example analyst query (sql/queries/*.sql) and the time-bounded raw-inbox reads
           the service itself makes: median and max ms (target <= 100 / <= 300 ms), and for
           the raw-inbox reads the partitions EXPLAIN says they touch, of how many
  typed    the typed call tables' monthly partitions (migration 0025): a time-bounded read by
           first_seen_at (partitions touched) and the landing's look-up of a call's month in
           every partition (callrecon_ozonetel_homes / callrecon_huawei_homes)
  claim    each reconciler source's claim query with the 1M open items
  prune    `callrecon prune` of the oldest four raw weeks, and of the oldest typed month:
           seconds to drop, bytes freed
  disk     bytes per call, all tables and indexes; and what lz4 saves on raw bodies over pglz

It says what the load needs on disk before it starts, and refuses where the database's disk cannot
hold it. Prints a table per part, and last one JSON line with calls, calls_per_day, days, load_s,
console_ms (per page: median and max), ingest_ratio_full_vs_empty,
query_median_ms, query_max_ms, claim_ms, prune_month_s, prune_bytes_freed, typed_prune_s, partitions
(per table) and bytes_per_call.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

import psycopg
from benchlib import DEFAULT_ADMIN_URL, ROOT, CopyLines, ensure_wrk, free_port, serve, stop
from psycopg import sql

sys.path.insert(0, str(ROOT))

import console  # noqa: E402  (bench/console.py: every /ops page, timed)
import queries  # noqa: E402  (bench/queries.py: the typed-row loader and the query list)

from receiver.database import migrations  # noqa: E402
from receiver.landing import partitions, retention, typed_retention  # noqa: E402
from reconciler.sources.huawei import detail as huawei
from reconciler.sources.leadsquared import polling as leadsquared
from reconciler.sources.ozonetel import dial_status as ozonetel  # noqa: E402

TOKEN = "scale-token-5b21e9"
APIKEY = "KKscale-apikey-77c1"
UTC = dt.timezone.utc
OPEN_ITEMS = 1_000_000
# Reads the service makes on raw_inbox, bounded in time: partition pruning should keep them to the
# weeks they ask about, however many weeks the table holds.
RAW_READS = {
    "source_health": "SELECT * FROM source_health",
    "raw_last_hour_ozonetel": "SELECT status, count(*) FROM raw_inbox "
    "WHERE source = 'ozonetel' AND received_at > now() - interval '1 hour' GROUP BY 1",
    "raw_count_one_day_a_month_ago": "SELECT count(*) FROM raw_inbox WHERE source = 'ozonetel' "
    "AND received_at >= now() - interval '31 days' AND received_at < now() - interval '30 days'",
    "landing_lag_window": "SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY parsed_at - received_at) "
    "FROM raw_inbox WHERE source = 'ozonetel' AND received_at > now() - interval '5 minutes'",
}
# Reads on the typed call tables (monthly partitions by first_seen_at): a bounded read touches only
# its months; the landing's look-up of a call's home probes every month's key index (its cost grows
# with the months kept, not the rows).
TYPED_READS = {
    "typed_calls_first_seen_one_day_a_month_ago": "SELECT count(*) FROM ozonetel_call "
    "WHERE first_seen_at >= now() - interval '31 days' AND first_seen_at < now() - interval '30 days'",
    "typed_calls_last_hour": "SELECT count(*) FROM huawei_call WHERE first_seen_at > now() - interval '1 hour'",
    "landing_home_lookup_ozonetel": "SELECT * FROM callrecon_ozonetel_homes(ARRAY['900000000001', 'no-such-call'])",
    "landing_home_lookup_huawei": "SELECT * FROM callrecon_huawei_homes(ARRAY[8, 8], ARRAY['1-1000', 'no-such'])",
}
CLAIMS = {
    "leadsquared": (leadsquared.CLAIM, {}),
    "huawei_detail": (huawei.CLAIM_CALL, {"horizon": dt.timedelta(days=30), "blocked": []}),
    "ozonetel_window": (ozonetel.CLAIM, {"blocked": []}),
}


def database(admin_url: str, name: str) -> str:
    """A fresh database migrated by this checkout's sql/ (not an installed callrecon's)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.upgrade(conn, ROOT / "sql")
    return url


BODY = (
    '{{"monitorUCID": "9{n:011d}", "UCID": "9{n:011d}", "CampaignName": "Campaign_{campaign:02d}", '
    '"CallerID": "98{caller:08d}", "StartTime": "{start}", "EndTime": "{end}", "Status": "Answered", '
    '"Duration": "00:01:38", "AgentID": "agent{agent}", "Disposition": "Interested", "Apikey": "***"}}'
)


def ozonetel_body(n: int, start: dt.datetime, rng: random.Random) -> bytes:
    """One pushed Ozonetel record as stored (Apikey masked), about 330 bytes: what json.dumps makes of
    it, from a template (at 30M calls, json.dumps and strftime were a fifth of the load's CPU)."""
    return BODY.format(
        n=n,
        campaign=rng.randrange(20),
        caller=rng.randrange(10**8),
        start=start.isoformat(" ")[:19],
        end=(start + dt.timedelta(seconds=98)).isoformat(" ")[:19],
        agent=rng.randrange(200),
    ).encode()


def load_raw(url: str, calls: int, days: int, seed: int = 11) -> dict:
    """COPY a raw callback and a sighting per pushed call (and a re-push for 1 in 10) into the partitions.

    Three connections stream the three COPYs side by side, so nothing is held in memory."""
    rng = random.Random(seed)
    now = dt.datetime.now(UTC)
    ozonetel_calls = calls * 6 // 10
    rows = {"raw_inbox": 0, "ozonetel_sighting": 0, "huawei_sighting": 0}
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(psycopg.connect(url)) for _ in range(3)]
        next_id = conns[0].execute("SELECT COALESCE(max(id), 0) + 1 FROM raw_inbox").fetchone()[0]
        raw_copy = CopyLines(
            stack.enter_context(
                conns[0]
                .cursor()
                .copy(
                    "COPY raw_inbox (id, received_at, source, content_type, body, body_sha256, body_bytes, "
                    "status, record_count, landed_count, parsed_at, parse_count) FROM STDIN"
                )
            )
        )
        sighting_copy = {
            "ozonetel": CopyLines(
                stack.enter_context(
                    conns[1]
                    .cursor()
                    .copy("COPY ozonetel_sighting (raw_id, record_index, call_key, received_at) FROM STDIN")
                )
            ),
            "huawei": CopyLines(
                stack.enter_context(
                    conns[2]
                    .cursor()
                    .copy("COPY huawei_sighting (raw_id, record_index, vdn_id, call_id, received_at) FROM STDIN")
                )
            ),
        }
        for n in range(calls):
            vendor = "ozonetel" if n < ozonetel_calls else "huawei"
            share = n / ozonetel_calls if vendor == "ozonetel" else (n - ozonetel_calls) / (calls - ozonetel_calls)
            start = now - dt.timedelta(seconds=days * 86400 * (1 - share) + rng.uniform(0, 600))
            pushes = [start + dt.timedelta(seconds=100)]
            if rng.random() < 0.1:  # a re-push of the same call, days later (often another week)
                pushes.append(min(start + dt.timedelta(days=rng.uniform(1, 4)), now))
            body = ozonetel_body(n, start, rng)
            digest = hashlib.sha256(body).hexdigest()
            key = f"9{n:011d}" if vendor == "ozonetel" else f"8\t{n}"
            text = body.decode()  # as bytea's escape format: the JSON has no backslash to escape
            for at in pushes:
                parsed, received = at + dt.timedelta(milliseconds=80), at.isoformat()
                raw_copy.add(
                    f"{next_id}\t{received}\t{vendor}\tapplication/json\t{text}\t{digest}\t"
                    f"{len(body)}\tlanded\t1\t1\t{parsed.isoformat()}\t1\n"
                )
                sighting_copy[vendor].add(f"{next_id}\t0\t{key}\t{received}\n")
                rows["raw_inbox"] += 1
                rows[f"{vendor}_sighting"] += 1
                next_id += 1
        for lines in (raw_copy, *sighting_copy.values()):
            lines.flush()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setval(pg_get_serial_sequence('raw_inbox', 'id'), %s)", (next_id,))
    return rows


def load_open_items(url: str, count: int, seed: int = 13) -> None:
    """`count` LeadSquared requests not final yet: most polled again later, a thousand due now."""
    rng = random.Random(seed)
    now = dt.datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY lsq_request (request_id, kind, registered_at, status, next_poll_at) FROM STDIN") as copy:
            for n in range(count):
                due = (
                    now - dt.timedelta(seconds=rng.uniform(0, 60))
                    if n < 1000
                    else now + dt.timedelta(seconds=rng.uniform(30, 12 * 3600))
                )
                copy.write_row((f"open-{n}", "call-log", now - dt.timedelta(hours=1), "In-Queue", due))
        conn.commit()


def timed(conn, text: str, params: dict, runs: int) -> list[float]:
    """ms of each run after one warm-up, each in a transaction rolled back (claims lock rows)."""
    timings = []
    for _ in range(runs + 1):
        with conn.transaction(force_rollback=True):
            t0 = time.perf_counter()
            conn.execute(text, params).fetchall()
            timings.append((time.perf_counter() - t0) * 1000)
    return timings[1:]


def partitions_touched(conn, text: str, table: str = "raw_inbox") -> set[str]:
    """`table`'s partitions in the plan of `text` (after planning-time pruning)."""
    plan = json.dumps(conn.execute("EXPLAIN (FORMAT JSON) " + text).fetchone()[0])
    return set(re.findall(rf'"Relation Name": "({table}_[a-z0-9_]+)"', plan))


def wal_lsn(url: str):
    """The cluster's current WAL position."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]


def wal_bytes(url: str, since) -> int:
    """WAL written since `since` (cluster-wide: run nothing else against it meanwhile to read it alone)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (since,)).fetchone()[0]


def ingest(urls: dict, seconds: int, rounds: int, connections: int) -> dict:
    """Median req/s of the real receiver per database, from interleaved wrk rounds; WAL bytes per request."""
    results = {name: [] for name in urls}
    wal = {name: [] for name in urls}
    drains = {name: [] for name in urls}
    servers = {}
    try:
        for name, url in urls.items():
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "OZONETEL_CALLBACK_TOKENS": TOKEN,
                "OZONETEL_API_KEY": APIKEY,
                "PYTHONPATH": str(ROOT),
                "CALLRECON_SQL_DIR": str(ROOT / "sql"),
            }
            port = free_port()
            servers[name] = (serve(env, port, f"/tmp/callrecon-scale-{name}.log"), port)
        for n in range(rounds):
            order = list(servers.items()) if n % 2 == 0 else list(reversed(servers.items()))
            for name, (_, port) in order:  # each goes first in turn: a warm-up or a busy spell hits both
                load_env = {
                    **os.environ,
                    "INGEST_PATH": f"/callbacks/ozonetel/{TOKEN}",
                    "INGEST_RECORDS": "1",
                    "INGEST_APIKEY": APIKEY,
                    "INGEST_PREFIX": f"scale{n}{name}",
                }
                argv = [
                    "wrk",
                    "-t2",
                    f"-c{connections}",
                    f"-d{seconds}s",
                    "-s",
                    str(ROOT / "bench" / "ingest_post.lua"),
                ]
                before = wal_lsn(urls[name])
                out = subprocess.run(
                    [*argv, f"http://127.0.0.1:{port}"], env=load_env, capture_output=True, text=True, check=True
                ).stdout
                requests = int(re.search(r"(\d+) requests in", out).group(1))
                drains[name].append(drain(urls[name]))  # the next round starts without this one's backlog
                wal[name].append(float(wal_bytes(urls[name], before)) / max(requests, 1))
                results[name].append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
    finally:
        for proc, _ in servers.values():
            stop(proc)
    medians = {name: statistics.median(values) for name, values in results.items()}
    return medians | {
        "rounds": results,
        "wal_per_request": {n: statistics.median(v) for n, v in wal.items()},
        "drain_s": {n: statistics.median(v) for n, v in drains.items()},
    }


def drain(url: str, limit_s: float = 300.0) -> float:
    """Seconds until the web server's landers have landed every callback of the round (none 'received').

    Both servers run through all rounds, so a round's backlog, landed after its burst, would otherwise
    take the CPU from the other database's next round: the slower database to land (the full one)
    would slow its rival's round, and the ratio would measure that instead.
    """
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT EXISTS (SELECT 1 FROM raw_inbox WHERE status = 'received')").fetchone()[0]:
            if time.monotonic() - t0 > limit_s:
                raise RuntimeError(f"the landers left callbacks unlanded for {limit_s:.0f} s: see the server log")
            time.sleep(0.2)
    return time.monotonic() - t0


def lz4_saving(url: str, sample: int = 5000) -> dict:
    """Bytes and insert time of 20-record pushes (the size at which TOAST compresses) as lz4 and as pglz."""
    with psycopg.connect(url, autocommit=True) as conn:
        bodies = []
        rng = random.Random(5)
        start = dt.datetime(2026, 11, 23, tzinfo=UTC)
        for n in range(sample):
            bodies.append(b"[" + b",".join(ozonetel_body(n * 20 + k, start, rng) for k in range(20)) + b"]")
        result = {"raw_bytes": sum(map(len, bodies))}
        for method in ("pglz", "lz4"):
            conn.execute(f"DROP TABLE IF EXISTS scale_compression_{method}")
            conn.execute(f"CREATE TABLE scale_compression_{method} (body bytea COMPRESSION {method})")
            t0 = time.perf_counter()
            with conn.cursor().copy(f"COPY scale_compression_{method} (body) FROM STDIN") as copy:
                for body in bodies:
                    copy.write_row((body,))
            result[f"{method}_load_s"] = time.perf_counter() - t0
            result[f"{method}_bytes"] = conn.execute(
                f"SELECT pg_total_relation_size('scale_compression_{method}')"
            ).fetchone()[0]
            t0 = time.perf_counter()
            conn.execute(f"SELECT sum(length(body)) FROM scale_compression_{method}").fetchone()
            result[f"{method}_read_s"] = time.perf_counter() - t0
            conn.execute(f"DROP TABLE scale_compression_{method}")
    return result


# What a loaded call costs on disk, all tables and indexes, at its heaviest in the runs of bench/README.md
# (1M calls), and the room the load needs beside it (WAL, the VACUUM's and the indexes' work).
BYTES_PER_CALL = 1650
HEADROOM = 1.3
SPARE_BYTES = 5 * 2**30


def disk_problem(admin_url: str, calls: int) -> str | None:
    """Say what the load needs on disk, and why it cannot start (None when it can): the server's data
    directory must be on this machine to be checked; elsewhere the need is only said."""
    need = calls * BYTES_PER_CALL * HEADROOM + SPARE_BYTES
    with psycopg.connect(admin_url, autocommit=True) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        # The bench's own databases from an earlier run are dropped before the load: their room counts as free.
        reused = conn.execute(
            "SELECT COALESCE(sum(pg_database_size(datname)), 0) FROM pg_database WHERE datname = ANY(%s)",
            (["callrecon_scale", "callrecon_scale_empty"],),
        ).fetchone()[0]
    if not os.path.isdir(data_dir):
        print(f"bench/scale: {calls} calls need about {need / 2**30:.0f} GiB on the database server", file=sys.stderr)
        return None
    free = shutil.disk_usage(data_dir).free + int(reused)
    print(
        f"bench/scale: {calls} calls need about {need / 2**30:.0f} GiB; {free / 2**30:.0f} GiB free at {data_dir} "
        "(with the bench's databases of an earlier run, dropped first)",
        file=sys.stderr,
    )
    if need > free:
        return (
            f"not enough disk for {calls} calls: about {need / 2**30:.0f} GiB needed, {free / 2**30:.0f} GiB free at "
            f"{data_dir}; free some, or load fewer (--calls-per-day, --days)"
        )
    return None


# The tables the load fills by the million whose keys arrive in no order (a phone number, a Huawei
# call id): their indexes and keys are made after the COPYs. raw_inbox's arrive in time order.
BULK_TABLES = ("ozonetel_call", "huawei_call", "ozonetel_sighting", "huawei_sighting")


def defer_indexes(conn, tables=BULK_TABLES) -> list[list[str]]:
    """Drop the indexes and keys of the partitioned `tables` (with their partitions'), and return what
    makes them again as the migrations made them (definition, then comment), a list per table, each
    in the order the migrations made them (so the partitions' indexes get the same names).

    A COPY into an indexed table inserts every row into every index: one leaf page per row for keys
    that arrive in no order, each a read and a dirty page once the index outgrows the buffers.
    Sorting the rows once per index after the load is PostgreSQL's own advice for a bulk load
    ("Populating a Database")."""
    rows = conn.execute(
        "SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid), con.conname, pg_get_constraintdef(con.oid), "
        "obj_description(x.indexrelid, 'pg_class') "
        "FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = c.oid "
        "WHERE c.relkind = 'p' AND c.relname = ANY(%s) ORDER BY array_position(%s, c.relname::text), x.indexrelid",
        (list(tables), list(tables)),
    ).fetchall()
    remake = {table: [] for table in tables}
    for table, index, definition, constraint, constraint_definition, comment in rows:
        if constraint:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(*map(sql.Identifier, (table, constraint))))
            remake[table].append(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}')
        else:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
            remake[table].append(definition.replace(" ON ONLY ", " ON ", 1))  # the parent's, with its partitions'
        if comment is not None:
            remake[table].append(
                sql.SQL("COMMENT ON INDEX {} IS {}").format(sql.Identifier(index), sql.Literal(comment)).as_string(conn)
            )
    return [statements for statements in remake.values() if statements]


def remake_indexes(url: str, remake: list[list[str]], connections: int = 2) -> None:
    """Run what defer_indexes() returned: a table at a time per connection (a core each)."""
    pending = list(remake)

    def work():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")  # the connections are the parallelism
            while pending:
                try:
                    statements = pending.pop(0)
                except IndexError:
                    return
                for statement in statements:
                    conn.execute(statement)

    with concurrent.futures.ThreadPoolExecutor(max_workers=connections) as pool:
        for done in [pool.submit(work) for _ in range(connections)]:
            done.result()


def load(full: str, args, note) -> None:
    """Load the calls into the fresh database `full`.

    The rows are made in Python, four loads at once: the Ozonetel calls, the Huawei calls, the raw
    callbacks with their sightings, and the open requests; on 2 cores, whichever finishes first
    leaves its core to the others. The big tables take them without indexes, which are made after,
    before the call logs: those link to their calls through the phone-number indexes."""
    with psycopg.connect(full, autocommit=True) as conn:
        partitions.ensure(conn, 4, since=dt.datetime.now(UTC) - dt.timedelta(days=args.days + 1))
        remake = defer_indexes(conn)
    queries.DAYS = args.days
    with concurrent.futures.ProcessPoolExecutor(max_workers=4) as pool:
        ozonetel_load = pool.submit(queries.load_ozonetel, full, args.calls)
        huawei_load = pool.submit(queries.load_huawei, full, args.calls)
        raw_load = pool.submit(load_raw, full, args.calls, args.days)
        open_load = pool.submit(load_open_items, full, OPEN_ITEMS)
        ozonetel_calls, linkable = ozonetel_load.result()
        note(f"typed calls loaded: {{'ozonetel_call': {ozonetel_calls}, 'huawei_call': {huawei_load.result()}}}")
        note(f"raw callbacks and sightings loaded: {raw_load.result()}")
        open_load.result()
    note(f"{OPEN_ITEMS} open items loaded")
    remake_indexes(full, remake)
    note(f"{sum(map(len, remake))} index statements run")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        rollup = pool.submit(rebuild_rollup, full)  # the typed COPYs ran without their triggers
        note(f"call logs loaded: {queries.load_call_logs(full, args.calls, linkable)}")
        rollup.result()
    note("call_rollup counted")


def rebuild_rollup(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT callrecon_rollup_rebuild()")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=180, help="days the calls spread over (default 180)")
    parser.add_argument(
        "--calls-per-day", type=int, help="calls a day: loads this times --days calls (instead of --calls)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (default 5)")
    parser.add_argument("--ingest-seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds (default 3)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the callrecon_scale an earlier run loaded (no load; load_s null)"
    )
    args = parser.parse_args()
    if args.calls_per_day:
        args.calls = args.calls_per_day * args.days
    problem = None if args.reuse else disk_problem(args.database_url, args.calls)
    if problem:
        print(f"bench/scale: {problem}", file=sys.stderr)
        return 2
    ensure_wrk()  # before the load, so a machine without it fails in seconds, not after it
    began = time.monotonic()

    def note(text):
        print(f"[{time.monotonic() - began:6.0f} s] {text}", file=sys.stderr, flush=True)

    empty = database(args.database_url, "callrecon_scale_empty")
    if args.reuse:
        full, load_s = psycopg.conninfo.make_conninfo(args.database_url, dbname="callrecon_scale"), None
        with psycopg.connect(full, autocommit=True) as conn:
            migrations.upgrade(conn, ROOT / "sql")
        note("reusing callrecon_scale as an earlier run loaded it (its ingest rounds grew it a little)")
    else:
        full = database(args.database_url, "callrecon_scale")
        load(full, args, note)
    with psycopg.connect(full, autocommit=True) as conn:
        t0 = time.monotonic()
        conn.execute(
            "SELECT callrecon_rollup_compact(), callrecon_latency_compact(), callrecon_lsq_failure_compact()"
        )  # as every reconciler pass
        compact_s = time.monotonic() - t0
        rollup_rows = conn.execute("SELECT count(*) FROM call_rollup").fetchone()[0]
        conn.execute("VACUUM ANALYZE")
    note("compacted and vacuumed")
    if not args.reuse:
        load_s = time.monotonic() - began

    with psycopg.connect(full, autocommit=True) as conn:
        sizes = partitions.table_bytes(conn)
        per_table = dict(conn.execute("SELECT parent, count(*) FROM callrecon_partitions GROUP BY 1 ORDER BY 1"))
        weeks = per_table["raw_inbox"]
    total_bytes = sum(v or 0 for v in sizes.values())
    bytes_per_call = total_bytes / args.calls

    speed = ingest({"empty": empty, "full": full}, args.ingest_seconds, args.rounds, args.connections)
    ratio = speed["full"] / speed["empty"]
    note("ingest measured")

    pages, readyz_ms, page_plans = console.measure(full, args.runs)
    note("console pages measured")

    medians, maxes, touched = {}, {}, {}
    with psycopg.connect(full, autocommit=True) as conn:
        for path in queries.QUERIES:
            timings = timed(conn, path.read_text(encoding="utf-8"), {}, args.runs)
            medians[path.stem], maxes[path.stem] = statistics.median(timings), max(timings)
        for name, text in RAW_READS.items():
            timings = timed(conn, text, {}, args.runs)
            medians[name], maxes[name] = statistics.median(timings), max(timings)
            touched[name] = len(partitions_touched(conn, text))
        for name, text in TYPED_READS.items():
            timings = timed(conn, text, {}, args.runs)
            medians[name], maxes[name] = statistics.median(timings), max(timings)
            if name.startswith("typed_"):
                table = "ozonetel_call" if "ozonetel_call" in text else "huawei_call"
                touched[name] = (len(partitions_touched(conn, text, table)), per_table[table])
        rollup_plans = {
            path.stem: sorted(queries.plan_indexes(conn, path.read_text(encoding="utf-8"))) for path in queries.QUERIES
        }
        claim_ms = {}
        for name, (text, params) in CLAIMS.items():
            timings = timed(conn, text, {"now": dt.datetime.now(UTC), **params}, args.runs)
            claim_ms[name] = statistics.median(timings)
        oldest = conn.execute(
            "SELECT min(from_at) FROM callrecon_partitions WHERE parent = 'raw_inbox' AND from_at IS NOT NULL"
        ).fetchone()[0]
        t0 = time.monotonic()
        pruned = retention.prune_partitions(conn, oldest + dt.timedelta(weeks=4), False, dry_run=False)
        prune_wall_s = time.monotonic() - t0
        oldest_month = conn.execute(
            "SELECT min(to_at) FROM callrecon_partitions WHERE parent = 'ozonetel_call' AND NOT is_default"
        ).fetchone()[0]
        t0 = time.monotonic()
        typed = typed_retention.prune_typed(conn, oldest_month, dry_run=False)
        typed_wall_s = time.monotonic() - t0
    note("queries, claims and prune measured")
    saving = lz4_saving(full)

    print(f"\nbench/scale: {args.calls} calls over {args.days} days; partitions (default included): {per_table}")
    print(f"loaded in {load_s:.0f} s" if load_s is not None else "reused an earlier run's database (no load)")
    print(f"\n{'part':28} {'figure':>14}  target")
    print(f"{'ingest empty db':28} {speed['empty']:>10.0f} req/s")
    print(f"{'ingest full db':28} {speed['full']:>10.0f} req/s")
    print(f"{'ingest ratio full/empty':28} {ratio:>14.2f}  >= 0.9")
    print(f"{'WAL per callback, full db':28} {speed['wal_per_request']['full']:>8.0f} bytes")
    print(
        f"{'landed after each burst':28} {speed['drain_s']['full']:>10.1f} s full, "
        f"{speed['drain_s']['empty']:.1f} s empty (median; the next round waits for it)"
    )
    print(f"\n{'query':32} {'median_ms':>10} {'max_ms':>8}  partitions touched")
    for name in medians:
        parts = "-"
        if isinstance(touched.get(name), tuple):
            parts = f"{touched[name][0]} of {touched[name][1]}"
        elif name in touched:
            parts = f"{touched[name]} of {weeks}"
        print(f"{name:32} {medians[name]:>10.1f} {maxes[name]:>8.1f}  {parts}")
    print(f"{'(target)':32} {'<= 100':>10} {'<= 300':>8}")
    for name, used in rollup_plans.items():
        print(f"  {name}: {', '.join(used) or '-'}")
    print(f"\ncall_rollup: {rollup_rows} rows after compaction ({compact_s:.1f} s)")
    print(f"\nconsole pages (bench/console.py) on this database, target median <= {console.LIMIT_MS:g} ms")
    console_ok = console.report(pages, readyz_ms, page_plans)
    print(f"\n{'claim (1M open items)':32} {'median_ms':>10}")
    for name, ms in claim_ms.items():
        print(f"{name:32} {ms:>10.2f}")
    print(
        f"\nprune oldest 4 weeks: dropped {len(pruned.weeks)} weeks in {pruned.seconds:.3f} s "
        f"({prune_wall_s:.2f} s with the edge batches), freed {pruned.bytes_freed} bytes"
    )
    dropped = ", ".join(p for m in typed.weeks for p in m.partitions)
    print(
        f"prune oldest typed month: dropped {len(typed.weeks)} month(s) ({dropped}) "
        f"in {typed.seconds:.3f} s ({typed_wall_s:.2f} s with the edge batches), freed {typed.bytes_freed} bytes"
    )
    print(f"\ndisk: {total_bytes} bytes in all tables and indexes = {bytes_per_call:.0f} bytes per call")
    for table, size in list(sizes.items())[:8]:
        print(f"  {table:30} {size or 0:>14}")
    print(
        f"raw bodies, 20-record pushes ({saving['raw_bytes']} bytes): pglz {saving['pglz_bytes']} bytes "
        f"({saving['pglz_load_s']:.2f} s load, {saving['pglz_read_s']:.3f} s read), lz4 {saving['lz4_bytes']} "
        f"bytes ({saving['lz4_load_s']:.2f} s load, {saving['lz4_read_s']:.3f} s read)"
    )
    print(f"total {time.monotonic() - began:.0f} s")
    figures = {
        "calls": args.calls,
        "calls_per_day": round(args.calls / args.days),
        "days": args.days,
        "ingest_ratio_full_vs_empty": round(ratio, 3),
        "query_median_ms": {k: round(v, 2) for k, v in medians.items()},
        "query_max_ms": {k: round(v, 2) for k, v in maxes.items()},
        "claim_ms": {k: round(v, 3) for k, v in claim_ms.items()},
        "prune_month_s": round(pruned.seconds, 4),
        "prune_bytes_freed": pruned.bytes_freed,
        "typed_prune_s": round(typed.seconds, 4),
        "typed_prune_bytes_freed": typed.bytes_freed,
        "partitions": per_table,
        "bytes_per_call": round(bytes_per_call, 1),
        "ingest_rps": {"empty": speed["empty"], "full": speed["full"]},
        "wal_bytes_per_callback": speed["wal_per_request"],
        "landing_drain_s": speed["drain_s"],
        "partitions_touched": touched,
        "raw_inbox_partitions": weeks,
        "compression": saving,
        "console_ms": {k: {"median": v["median_ms"], "max": v["max_ms"]} for k, v in pages.items()},
        "console_median_ms": {k: v["median_ms"] for k, v in pages.items()},
        "console_max_ms": {k: v["max_ms"] for k, v in pages.items()},
        "console_within_target": console_ok,
        "rollup_rows": rollup_rows,
        "load_s": None if load_s is None else round(load_s, 1),
        "total_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
