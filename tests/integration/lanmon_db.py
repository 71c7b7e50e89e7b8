# SPDX-License-Identifier: MIT
"""The database of the aggregators a suite starts, whichever backend: the test's own
connection, queries and writes (AggregatorDatabase, a mix-in of lanmon_testlib.Aggregator)."""
import atexit
import contextlib
import os
import sqlite3

# ---- the database backend of the aggregators a suite starts -----------------------------
# LANMON_TEST_DB=postgresql (ctest's integration.aggregator.pg) gives every Aggregator a new
# database in one PostgreSQL server per test process (the CTest fixture's when
# LANMON_PG_FIXTURE is set, else one started here and stopped at exit); anything else, SQLite
# files. Tests reach the database through Aggregator.query() and friends, never sqlite3 directly.
TEST_DB = os.environ.get("LANMON_TEST_DB", "sqlite")
_pg = None


def pg_server():
    """The PostgreSQL server of this process (started on first use)."""
    global _pg
    if _pg is None:
        from pgserver import PgServer  # beside this file
        _pg = PgServer.shared()
        atexit.register(_pg.close)
    return _pg


def pg_partition(con, table, ts):
    """Creates the monthly partition (the aggregator's naming) of table that holds ts, for rows
    a test writes directly into an old month."""
    import datetime
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    start = datetime.datetime(d.year, d.month, 1, tzinfo=datetime.timezone.utc)
    nxt = datetime.datetime(d.year + (d.month == 12), d.month % 12 + 1, 1,
                            tzinfo=datetime.timezone.utc)
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table}_p{d.year:04d}{d.month:02d} PARTITION OF "
                    f"{table} FOR VALUES FROM ({int(start.timestamp())}) TO "
                    f"({int(nxt.timestamp())})")


class AggregatorDatabase:
    """Needs self.backend ("sqlite" or "postgresql"), self.db (the file) and, for PostgreSQL,
    self.pg and self.pg_db."""

    @contextlib.contextmanager
    def db_connection(self):
        """A connection of the test's own (sqlite3 or psycopg2, autocommit)."""
        if self.backend == "postgresql":
            con = self.pg.connect(self.pg_db)
        else:
            con = sqlite3.connect(self.db, timeout=5, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql, args=()):
        """Rows of sql ('?' placeholders, SQLite style) as a list of tuples."""
        with self.db_connection() as con:
            if self.backend == "postgresql":
                with con.cursor() as cur:
                    cur.execute(sql.replace("?", "%s"), tuple(args))
                    return cur.fetchall() if cur.description else []
            return con.execute(sql, tuple(args)).fetchall()

    def execute(self, statements):
        """Runs (sql, args) pairs in one transaction; for PostgreSQL, rows with a ts get the
        partition of their month first (as the aggregator's own writes do)."""
        with self.db_connection() as con:
            if self.backend == "postgresql":
                with con.cursor() as cur:
                    for sql, args in statements:
                        words = sql.split()
                        if words[:2] == ["INSERT", "INTO"] and words[2] in (
                                "samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
                                "service_status") and "ts" in sql:
                            cols = sql[sql.index("(") + 1:sql.index(")")].replace(" ", "")
                            pg_partition(con, words[2], args[cols.split(",").index("ts")])
                        cur.execute(sql.replace("?", "%s"), tuple(args))
            else:
                con.execute("BEGIN")
                for sql, args in statements:
                    con.execute(sql, tuple(args))
                con.execute("COMMIT")

    def integrity(self):
        """"ok" when the database passes its own check (SQLite: integrity_check; PostgreSQL:
        every table reads)."""
        if self.backend == "postgresql":
            for t in ("servers", "samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
                      "service_status", "unit_states", "events", "seed_imports"):
                self.query(f"SELECT COUNT(*) FROM {t}")
            return "ok"
        return self.query("PRAGMA integrity_check")[0][0]

    @contextlib.contextmanager
    def db_locked(self):
        """Holds a lock that blocks every write of the aggregator until the block ends."""
        with self.db_connection() as con:
            if self.backend == "postgresql":
                con.autocommit = False
                with con.cursor() as cur:
                    cur.execute("LOCK TABLE servers, samples_hourly, gpu_samples_hourly, "
                                "disk_samples_hourly, service_status, unit_states, events, "
                                "seed_imports IN EXCLUSIVE MODE")  # reads still pass
                try:
                    yield
                finally:
                    con.rollback()
            else:
                con.execute("BEGIN EXCLUSIVE")
                try:
                    yield
                finally:
                    con.execute("ROLLBACK")
