"""Apply sql/NNNN_name.sql in order, each in its own transaction, recorded in schema_migrations."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_KEY = 7_110_001  # pg_advisory_xact_lock key: one upgrade at a time across processes

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_migrations IS
    'Which sql/NNNN_*.sql migrations have been applied, written by callrecon db upgrade.';
COMMENT ON COLUMN schema_migrations.version IS 'The NNNN number of the migration file.';
COMMENT ON COLUMN schema_migrations.name IS 'The file name the migration was applied from.';
COMMENT ON COLUMN schema_migrations.checksum IS
    'SHA-256 of the file when applied; a later edit shows as modified in db status.';
COMMENT ON COLUMN schema_migrations.applied_at IS 'When the migration was applied (UTC).';
"""
APPLIED = "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version"
LEDGER_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s)"


class MigrationError(Exception):
    """The sql/ folder or the ledger is not in a state we can upgrade from."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        """The file's SQL text."""
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        """SHA-256 of the file, to notice edits after it was applied."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


# Edits to applied migrations that touched only comments, with the checksum each file had before:
# `db status` does not flag those as modified (the schema they built is the same).
COMMENT_ONLY_EDITS = {
    "0002": {
        "4ebdac5490806b9aa4d13af63d0a287878ad2f0da940d4ea57ab0b5ecc674e74"
    },  # the vendor-facts citation now points at docs/vendors.md in this repository
    # the headers no longer name the tracker's numbers (the schema is the same):
    "0009": {"8c9044102445a983d32a69ae909ac04c1849bcf69d543de8e4277251e01c25ef"},
    "0010": {"2d539eccf15702f5ada9535f0d443883d773a22fbde777925e490aceed3ccbb2"},
    "0017": {"73bff6438449215b48313f51ecdda7d269bc9eef7bc632325d93fa9e96b85f4a"},
    "0018": {"fa2f0a6a99bdbd9925c33a1e0f6406b199741d967038b1dbb8eeb2008c1ddeed"},
    "0020": {"4d5384b0fcc61a56745d8ec1ccee9ad6efede01a13e406fe47fab9b8780232e3"},
    "0021": {"b6d8a437a357289930a5314e45af01ee4846ced4a44621335946531675636fd0"},
    "0022": {"88c8b9e8a06c90f706a47bfcf52f0dee8cdadee3a097a7df1632d8c412f1fcdc"},
    "0023": {"3ae464029296bf9e62fd0e6bf2d624358b9463bca1bd567a8cf7a296d3ca20ae"},
    "0024": {"dd7f7bd588097a585374dc0fc8154ccb9ebdcbb601ed7fd7b4fe6f9694c691aa"},
    "0025": {"5828a44a1351fe1667375a48a894083014eed8791f1c551072cb7a8470e41439"},
    "0026": {"02ff431eb403409d2e2ea56789e42338f65bcceb5c5ecf000fa2cf634872c166"},
    "0027": {"78cdc509f9510c40c8b1e4c0f5f50759bde49108ed6c65dbde12268a80b9db92"},
}


def discover(sql_dir: Path) -> list[Migration]:
    """Migration files in version order; duplicate numbers are an error."""
    if not sql_dir.is_dir():
        raise MigrationError(f"migrations folder {sql_dir} not found: set CALLRECON_SQL_DIR to the sql/ folder")
    found = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = FILENAME.match(path.name)
        if not match:
            continue
        version = match.group(1)
        if version in found:
            raise MigrationError(
                f"two migrations numbered {version}: {found[version].name} and {path.name}; renumber one"
            )
        found[version] = Migration(version, path.name, path)
    return [found[v] for v in sorted(found)]


def applied(conn) -> dict:
    """{version: (checksum, applied_at)} of applied migrations; empty before the first upgrade."""
    if not conn.execute(LEDGER_EXISTS).fetchone()[0]:
        return {}
    return {v: (c, at) for v, c, at in conn.execute(APPLIED).fetchall()}


def pending(conn, sql_dir: Path) -> list[Migration]:
    """Migrations in sql_dir not yet applied."""
    done = applied(conn)
    return [m for m in discover(sql_dir) if m.version not in done]


def upgrade(conn, sql_dir: Path) -> list[Migration]:
    """Apply every pending migration; safe to run again and from two processes at once."""
    migrations = discover(sql_dir)
    ran = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(CREATE_LEDGER)
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            if migration.version in applied(conn):
                continue
            conn.execute(migration.sql)
            conn.execute(RECORD, {"version": migration.version, "name": migration.name, "checksum": migration.checksum})
        ran.append(migration)
    return ran


def status(conn, sql_dir: Path) -> list[tuple[Migration, str]]:
    """Each migration with its state: applied <time>, modified since applied, or pending."""
    done = applied(conn)
    rows = []
    for migration in discover(sql_dir):
        if migration.version not in done:
            rows.append((migration, "pending"))
            continue
        checksum, at = done[migration.version]
        state = f"applied {at:%Y-%m-%d %H:%M:%S %Z}"
        if checksum != migration.checksum and checksum not in COMMENT_ONLY_EDITS.get(migration.version, ()):
            state += " (file modified since)"
        rows.append((migration, state))
    return rows


def apply_database_settings(conn, values: dict) -> None:
    """ALTER DATABASE ... SET each callrecon.* value, for the analyst views (new sessions see them)."""
    from psycopg import sql

    dbname = conn.execute("SELECT current_database()").fetchone()[0]
    for name, value in values.items():
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(dbname), sql.SQL(".").join(map(sql.Identifier, name.split("."))), sql.Literal(value)
            )
        )
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
