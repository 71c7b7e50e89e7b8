# SPDX-License-Identifier: MIT
"""Integration tests of monitor-aggregator's database care: --backup while the aggregator runs,
--restore (refused while it runs, then applied), one aggregator per database (lock file),
--check-db, and the automatic daily backup with pruning."""
import datetime
import os
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


class DailyBackupTest(Fixture):
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
