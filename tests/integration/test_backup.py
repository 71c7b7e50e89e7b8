# SPDX-License-Identifier: MIT
"""Integration tests of monitor-aggregator's database care: --backup while the aggregator runs,
--restore (refused while it runs, then applied; a schema with a part missing refused), one
aggregator per database file under any name, --check-db, the integrity check at start, a
database file emptied, deleted or replaced, and the automatic daily backup with pruning and
retries."""
import datetime
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import Aggregator, CleanupTestCase, free_port, wait_until  # noqa: E402

EXE = os.path.join(os.environ.get("LANMON_BIN_DIR", ""), "monitor-aggregator")
TABLES = ("servers", "events", "samples_hourly", "service_status", "unit_states", "seed_imports")


def seed(name):
    # An agent that is not there: the server row and its server_added event exist.
    return {"name": name, "host": "127.0.0.1", "agent_port": free_port(),
            "token": "token-0123456789", "services": [], "enabled": True}


def run(g, *args, timeout=60):
    p = subprocess.run([EXE, "--config", g.config_path, *args], capture_output=True,
                       timeout=timeout, env=g.env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def dump(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            "servers": con.execute("SELECT id, name, host, agent_port FROM servers ORDER BY id")
            .fetchall(),
            "events": con.execute("SELECT id, server_name, ts, type FROM events ORDER BY id")
            .fetchall(),
        }
    finally:
        con.close()


def integrity(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return con.execute("PRAGMA integrity_check").fetchone()[0], tables
    finally:
        con.close()


class Fixture(CleanupTestCase):
    def aggregator(self, **kw):
        g = Aggregator(**kw)
        self.cleanups.append(g.close)
        return g


class BackupRestoreTest(Fixture):
    def test_backup_restore_lock_and_check(self):
        g = self.aggregator(servers=[seed("alpha"), seed("beta")])
        g.start()
        wait_until(lambda: len(g.events()) >= 2, timeout=20, what="server_added events")
        time.sleep(2)  # a few polls (offline) and checkpoints on the aggregator's connections

        # --backup while the aggregator runs (WAL, its own connections busy).
        dest = os.path.join(g.dir, "copy.db")
        rc, out, err = run(g, "--backup", dest)
        self.assertEqual(rc, 0, err)
        self.assertIn(dest, out)
        check, tables = integrity(dest)
        self.assertEqual(check, "ok")
        for t in TABLES:
            self.assertIn(t, tables)
        snap = dump(dest)
        self.assertEqual([s[1] for s in snap["servers"]], ["alpha", "beta"])
        self.assertGreaterEqual(len([e for e in snap["events"] if e[3] == "server_added"]), 2)

        # Never overwrites an existing file.
        size = os.path.getsize(dest)
        rc, out, err = run(g, "--backup", dest)
        self.assertNotEqual(rc, 0)
        self.assertIn("exists", err)
        self.assertEqual(os.path.getsize(dest), size)

        # --restore is refused while the service runs, and the database is untouched.
        rc, out, err = run(g, "--restore", dest)
        self.assertNotEqual(rc, 0)
        self.assertIn("running", err)
        self.assertEqual(g.proc.poll(), None)
        self.assertEqual(g.api("GET", "/api/health").status, 200)

        # A second aggregator on the same database refuses to start.
        p = subprocess.run([EXE, "--config", g.config_path], capture_output=True, timeout=20,
                           env=g.env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("another monitor-aggregator is running", p.stderr.decode())

        # More history after the backup: the restore must take it away again.
        g.api("DELETE", "/api/servers/%d" % snap["servers"][1][0])
        wait_until(lambda: len(g.servers()) == 1, what="server deleted")
        rc, _ = g.stop()
        self.assertEqual(rc, 0)
        self.assertNotEqual(dump(g.db)["servers"], snap["servers"])

        # A corrupt file is refused and changes nothing.
        bad = os.path.join(g.dir, "bad.db")
        with open(bad, "wb") as f:
            f.write(b"not a database " * 1000)
        before = dump(g.db)
        rc, out, err = run(g, "--restore", bad)
        self.assertNotEqual(rc, 0)
        self.assertIn("refused", err)
        self.assertEqual(dump(g.db), before)

        # Stopped: --restore works and the data is the backup's.
        rc, out, err = run(g, "--restore", dest)
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(g.db + "-wal"))
        self.assertEqual(dump(g.db), snap)

        # --check-db: integrity, size, journal mode and row counts.
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 0, err)
        self.assertIn("integrity: ok", out)
        self.assertIn("journal mode: wal", out)
        self.assertRegex(out, r"size: \d+ bytes")
        self.assertIn("rows servers: 2", out)
        self.assertIn("rows events: %d" % len(snap["events"]), out)

        # The restored database serves again.
        g.start()
        self.assertEqual(sorted(g.servers()), ["alpha", "beta"])

    def test_check_db_fails_on_a_corrupt_database(self):
        g = self.aggregator()
        rc, out, err = run(g, "--init-db")
        self.assertEqual(rc, 0, err)
        con = sqlite3.connect(g.db)
        con.execute("CREATE TABLE filler (x TEXT)")
        con.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 2000)
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 0, out + err)
        size = os.path.getsize(g.db)
        with open(g.db, "r+b") as f:
            f.seek(size // 2 // 4096 * 4096)
            f.write(b"\xa5" * 8192)
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("integrity: ok", out)

    def test_missing_database_is_an_error(self):
        g = self.aggregator()
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 1)
        self.assertIn("does not exist", out)
        rc, out, err = run(g, "--backup", os.path.join(g.dir, "x.db"))
        self.assertEqual(rc, 1)
        self.assertFalse(os.path.exists(os.path.join(g.dir, "x.db")))


def health(g):
    return g.api("GET", "/api/health").json()


def config_for(g, database, name):
    """A copy of g's configuration with another `database:` value and listen port."""
    lines = [ln for ln in g.lines if not ln.startswith(("listen:", "database:"))]
    lines = [f"listen: {json.dumps(f'127.0.0.1:{free_port()}')}",
             f"database: {json.dumps(database)}"] + lines
    path = os.path.join(g.dir, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_config(g, config, *args, timeout=20):
    """Runs the aggregator with another configuration; a daemon that keeps running past timeout
    is stopped and reported as rc None."""
    p = subprocess.Popen([EXE, "--config", config, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=g.env)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate(timeout=20)
        return None, out.decode(errors="replace"), err.decode(errors="replace")


def corrupt_middle(path):
    """Overwrites two pages in the middle of a database file of at least a few hundred KB."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(b"\xa5" * 8192)


def add_filler(path):
    """A table of ~1 MB that the aggregator never reads, so damaging it leaves start-up alone."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE filler (x TEXT)")
    con.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 2000)
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


class DatabaseFileTest(Fixture):
    """Issue 11 items 5, 6 and 7: what happens to the database file around the aggregator."""

    def test_integrity_check_at_start_reports_corrupt_pages(self):
        # Item 5: damaged pages used to start with /api/health "ok".
        g = self.aggregator()
        rc, out, err = run(g, "--init-db")
        self.assertEqual(rc, 0, err)
        add_filler(g.db)
        corrupt_middle(g.db)
        g.start()
        h = wait_until(lambda: (lambda h: h["db"]["integrity"]["state"] != "checking" and h)(
            health(g)), timeout=20, what="the integrity check's result")
        self.assertEqual(h["db"]["integrity"]["state"], "failed", h)
        self.assertTrue(h["db"]["integrity"]["detail"], h)
        self.assertIsNotNone(h["db"]["integrity"]["checked_at"])
        self.assertEqual(h["status"], "degraded")
        self.assertIn("integrity check of the database", g.output())
        self.assertIn("FAILED", g.output())

        # A healthy database checks ok and stays "ok".
        g2 = self.aggregator()
        g2.start()
        h = wait_until(lambda: (lambda h: h["db"]["integrity"]["state"] == "ok" and h)(
            health(g2)), timeout=20, what="integrity ok")
        self.assertEqual(h["status"], "ok")
        self.assertGreaterEqual(h["db"]["integrity"]["duration_ms"], 0)

    def test_empty_database_file_is_refused_not_replaced(self):
        # Item 5: SQLite takes a 0-byte file as a new database; the aggregator used to start on
        # it with an empty schema, hiding that the data was gone.
        g = self.aggregator(servers=[seed("alpha")])
        rc, out, err = run(g, "--init-db")
        self.assertEqual(rc, 0, err)
        with open(g.db, "r+b") as f:
            f.truncate(0)
        for p in (g.db + "-wal", g.db + "-shm"):
            if os.path.exists(p):
                os.remove(p)
        rc, out, err = run_config(g, g.config_path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("empty (0 bytes)", err)
        self.assertEqual(os.path.getsize(g.db), 0)
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 1)
        self.assertIn("empty (0 bytes)", out + err)
        self.assertEqual(os.path.getsize(g.db), 0)
        # Deleting it is the way to start over.
        os.remove(g.db)
        g.start()
        self.assertEqual(sorted(g.servers()), ["alpha"])

    def test_database_deleted_replaced_or_emptied_while_running_is_reported(self):
        # Item 5: the daemon keeps writing to the file it opened; the loss must show.
        g = self.aggregator(servers=[seed("alpha")])
        g.start()
        self.assertTrue(health(g)["db"]["file"]["ok"])
        keep = os.path.join(g.dir, "keep.db")
        os.link(g.db, keep)

        def problem(word):
            def pred():
                h = health(g)
                f = h["db"]["file"]
                return not f["ok"] and word in (f["problem"] or "") and h["status"] == \
                    "degraded" and h
            return pred

        os.remove(g.db)
        h = wait_until(problem("deleted"), timeout=15, what="the deleted file reported")
        self.assertIsNotNone(h["db"]["file"]["since"])
        os.link(keep, g.db)
        wait_until(lambda: health(g)["db"]["file"]["ok"], timeout=15, what="the file back")
        other = os.path.join(g.dir, "other.db")
        shutil.copy(keep, other)
        os.replace(other, g.db)
        wait_until(problem("replaced"), timeout=15, what="the replaced file reported")
        os.replace(keep, g.db)
        wait_until(lambda: health(g)["db"]["file"]["ok"], timeout=15, what="the file back")
        with open(g.db, "r+b") as f:
            f.truncate(0)
        wait_until(problem("emptied"), timeout=15, what="the emptied file reported")
        out = g.output()
        for word in ("was deleted", "was replaced", "was emptied", "is in place again"):
            self.assertIn(word, out)

    def test_restore_and_start_refuse_a_schema_with_a_table_or_column_missing(self):
        # Item 6: --restore said "restored" (rc 0) for a file without the events table, and
        # every request failed afterwards.
        g = self.aggregator(servers=[seed("alpha")])
        g.start()
        wait_until(lambda: len(g.events()) >= 1, timeout=20, what="server_added event")
        copy = os.path.join(g.dir, "copy.db")
        rc, out, err = run(g, "--backup", copy)
        self.assertEqual(rc, 0, err)
        rc, _ = g.stop()
        self.assertEqual(rc, 0)
        before = dump(g.db)

        cases = (("no-events.db", "DROP TABLE events", "table events is missing"),
                 ("no-token.db", "ALTER TABLE servers DROP COLUMN token",
                  "table servers has no column token TEXT NOT NULL"))
        for name, sql, why in cases:
            bad = os.path.join(g.dir, name)
            shutil.copy(copy, bad)
            con = sqlite3.connect(bad)
            con.execute(sql)
            con.commit()
            con.close()
            rc, out, err = run(g, "--restore", bad)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("restore refused", err)
            self.assertIn(why, err)
            self.assertEqual(dump(g.db), before)

        # The same check at start and in --check-db (a file put in place by hand).
        shutil.copy(os.path.join(g.dir, "no-events.db"), g.db)
        for p in (g.db + "-wal", g.db + "-shm"):
            if os.path.exists(p):
                os.remove(p)
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 1)
        self.assertIn("table events is missing", out + err)
        rc, out, err = run_config(g, g.config_path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("table events is missing", err)

        # A complete copy is restored.
        rc, out, err = run(g, "--restore", copy)
        self.assertEqual(rc, 0, err)
        self.assertEqual([s[1] for s in dump(g.db)["servers"]], ["alpha"])

    def test_one_aggregator_per_database_file_under_any_name(self):
        # Item 7: the lock was "<path>.lock", so a hard link, a symlink or "./" spelling of the
        # same file let a second aggregator run on it (with its own -wal: corruption).
        g = self.aggregator(servers=[seed("alpha")])
        g.start()
        hard = os.path.join(g.dir, "data", "hard.db")
        os.link(g.db, hard)
        sym = os.path.join(g.dir, "sym.db")
        os.symlink(g.db, sym)
        dotted = os.path.join(g.dir, ".", "data", "..", "data", "monitor.db")
        for i, name in enumerate((hard, sym, dotted)):
            config = config_for(g, name, f"second-{i}.yaml")
            rc, out, err = run_config(g, config)
            self.assertEqual(rc, 1, f"{name}: a second aggregator ran (rc {rc}): {err[-500:]}")
            self.assertIn("another monitor-aggregator is running", err)
            rc, out, err = run_config(g, config, "--restore", g.db)
            self.assertEqual(rc, 1, f"{name}: --restore under another name: {out} {err}")
            self.assertIn("another monitor-aggregator is running", err)
        self.assertIsNone(g.proc.poll())
        self.assertEqual(health(g)["status"], "ok")
        self.assertFalse(os.path.exists(hard + "-wal"), "the refused aggregator opened the file")
        # Stopped: the same file under another name is usable (one at a time).
        rc, _ = g.stop()
        self.assertEqual(rc, 0)
        rc, out, err = run_config(g, config_for(g, hard, "third.yaml"), "--check-db")
        self.assertEqual(rc, 0, out + err)


class DailyBackupTest(Fixture):
    def test_failed_backup_is_retried_and_shown_in_health(self):
        # Item 16: a failed daily backup waited a whole day for the next try, and /api/health
        # did not show it.
        g = self.aggregator(servers=[seed("alpha")],
                            extra=['backup: { dir: "backups", keep_days: 7 }'])
        bdir = os.path.join(g.dir, "backups")
        with open(bdir, "w") as f:  # a file where the folder should be: every backup fails
            f.write("x")
        g.start()
        self.assertEqual(health(g)["backup"]["enabled"], True)
        h = wait_until(lambda: (lambda h: h["backup"]["ok"] is False and h)(health(g)),
                       timeout=25, what="the failed backup in /api/health")
        b = h["backup"]
        self.assertEqual(h["status"], "degraded")
        self.assertEqual(b["failures"], 1)
        self.assertTrue(b["last_error"])
        self.assertIsNone(b["last_success_at"])
        tried = datetime.datetime.strptime(b["last_attempt_at"], "%Y-%m-%dT%H:%M:%SZ")
        nxt = datetime.datetime.strptime(b["next_attempt_at"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertLessEqual((nxt - tried).total_seconds(), 60, b)
        self.assertIn("daily backup failed", g.output())
        os.remove(bdir)
        os.makedirs(bdir)
        h = wait_until(lambda: (lambda h: h["backup"]["ok"] and h)(health(g)), timeout=40,
                       what="the retried backup")
        b = h["backup"]
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        self.assertTrue(b["last_file"].endswith(f"monitor-{today}.db"), b)
        self.assertTrue(os.path.exists(os.path.join(bdir, f"monitor-{today}.db")))
        self.assertEqual(b["failures"], 0)
        self.assertIsNone(b["last_error"])
        self.assertEqual(h["status"], "ok")
        nxt = datetime.datetime.strptime(b["next_attempt_at"], "%Y-%m-%dT%H:%M:%SZ")
        tried = datetime.datetime.strptime(b["last_attempt_at"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertGreater((nxt - tried).total_seconds(), 23 * 3600)

    def test_first_backup_soon_after_start_and_pruning(self):
        g = self.aggregator(servers=[seed("alpha")],
                            extra=['backup: { dir: "backups", keep_days: 7 }'])
        bdir = os.path.join(g.dir, "backups")
        os.makedirs(bdir)
        old = os.path.join(bdir, "monitor-20200101.db")
        recent = os.path.join(bdir, "monitor-20200102.db")
        other = os.path.join(bdir, "keep-me.txt")
        ten_days_ago = time.time() - 10 * 86400
        for p, t in ((old, ten_days_ago), (recent, time.time() - 2 * 86400),
                     (other, ten_days_ago)):
            with open(p, "w") as f:
                f.write("x")
            os.utime(p, (t, t))
        t0 = time.monotonic()
        g.start()
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        path = os.path.join(bdir, f"monitor-{today}.db")
        wait_until(lambda: os.path.exists(path) and not os.path.exists(old), timeout=20,
                   what="daily backup")
        self.assertLess(time.monotonic() - t0, 20)
        self.assertTrue(os.path.exists(recent))
        self.assertTrue(os.path.exists(other))
        check, tables = integrity(path)
        self.assertEqual(check, "ok")
        self.assertIn("servers", tables)
        self.assertEqual([s[1] for s in dump(path)["servers"]], ["alpha"])
        rc, _ = g.stop()
        self.assertEqual(rc, 0)
        self.assertIn("daily backup written", g.output())

    def test_config_section_is_strict(self):
        g = self.aggregator(extra=['backup: { dir: "b", keep_days: 7, every: 1h }'])
        rc, out, err = run(g, "--check-config")
        self.assertEqual(rc, 1)
        self.assertIn("backup.every", err)
        g2 = self.aggregator(extra=['backup: { keep_days: 0 }'])
        rc, out, err = run(g2, "--check-config")
        self.assertEqual(rc, 1)
        self.assertIn("keep_days", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
