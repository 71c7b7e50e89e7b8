# SPDX-License-Identifier: MIT
"""Integration tests of monitor-aggregator on PostgreSQL that SQLite has no counterpart of:
--migrate-to of a database a real run filled (exact, table by table, then the aggregator
carries on from it), --check-db, --backup/--restore naming pg_dump/pg_restore, the password
from database_password_file or PGPASSFILE and never in any output, one aggregator per
database, and a refused libpq key=value string. Real agents, a D-Bus systemd mock and a
PostgreSQL 15 server (the CTest fixture's, or one started here) on 127.0.0.1."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (Agent, Aggregator, CleanupTestCase, DBusMock,  # noqa: E402
                            free_port, pg_server, server_entry, wait_until)

EXE = os.path.join(os.environ.get("LANMON_BIN_DIR", ""), "monitor-aggregator")
TABLES = {
    "servers": "id, name, host, agent_port, enabled, services, token, last_seen_at, created_at, "
               "last_online",
    "samples_hourly": "server_id, ts, id, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min, "
                      "mem_used_pct_avg, mem_used_pct_max, mem_used_pct_min, disk_used_pct, "
                      "disk_used_pct_max, disk_used_pct_min, disk_used_bytes, disk_total_bytes, "
                      "gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, gpu_mem_used_mb, "
                      "gpu_mem_total_mb, gpu_mem_used_mb_max, gpu_mem_used_mb_min",
    "gpu_samples_hourly": "server_id, ts, gpu_index, id, uuid, name, samples, util_pct_avg, "
                          "util_pct_max, mem_used_mb_avg, mem_used_mb_max, mem_total_mb, "
                          "temp_c_max, power_w_avg",
    "disk_samples_hourly": "server_id, ts, mount, id, samples, used_pct_avg, used_pct_max, "
                           "used_pct, used_bytes, total_bytes",
    "service_status": "id, server_id, ts, unit_name, active_state, sub_state",
    "unit_states": "server_id, unit_name, active_state, sub_state, since",
    "events": "id, server_id, server_name, ts, type, message",
    "seed_imports": "name, imported_at",
    "gpu_states": "server_id, gpu_index, uuid, state, since, low_since, idle_reported, "
                  "error_open, conditions, ecc_volatile, ecc_aggregate, xid_seen_at, xid_seen_n, "
                  "updated_at",
}


def run(g, *args, env=None, timeout=120):
    p = subprocess.run([EXE, "--config", g.config_path, *args], capture_output=True,
                       timeout=timeout, env=env or g.env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def table_rows(g, table):
    cols = TABLES[table]
    keys = ", ".join(c.strip() for c in cols.split(",")[:3])
    return g.query(f"SELECT {cols} FROM {table} ORDER BY {keys}")


class Fixture(CleanupTestCase):
    def agent(self, proc, **kw):
        a = Agent(proc.dir, **kw).start()
        self.cleanups.append(a.close)
        return a

    def aggregator(self, servers=(), start=True, **kw):
        g = Aggregator(servers=servers, **kw)
        self.cleanups.append(g.close)
        return g.start() if start else g


class MigrateTest(Fixture):
    def test_migrate_real_database_exactly_then_run_on_it(self):
        bus = DBusMock()
        self.cleanups.append(bus.close)
        proc = self.live_proc()
        a = self.agent(proc, env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address},
                       extra={"services_allowlist": ["*.service"]})
        g = self.aggregator([server_entry("srv", a, services=["nginx.service",
                                                              "myapp.service"])],
                            bucket="5s", checkpoint="1s", db="sqlite")
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=10, what="online")
        # A real run: buckets, GPU and disk rows, unit changes and their events, a server
        # added and one deleted (ids the copy must keep, and never hand out again).
        for busy in (25, 75, 50):
            proc.set_busy(busy)
            bus.set_unit("myapp.service", "failed" if busy == 75 else "active",
                         "failed" if busy == 75 else "running")
            time.sleep(2.5)
        r = g.api("POST", "/api/servers", {"name": "kept'; --", "host": "127.0.0.1",
                                           "agent_port": 1, "token": "t0123456"})
        self.assertEqual(r.status, 201, r.body)
        r = g.api("POST", "/api/servers", {"name": "gone", "host": "127.0.0.1",
                                           "agent_port": 1, "token": "t0123456"})
        self.assertEqual(r.status, 201, r.body)
        gone = r.json()["id"]
        self.assertEqual(g.api("DELETE", f"/api/servers/{gone}").status, 200)
        time.sleep(6)
        pg = pg_server()
        db = pg.create_db()
        self.cleanups.append(lambda: pg.drop_db(db))
        uri = pg.uri(db)
        # The running aggregator holds the SQLite file: refused until it is stopped.
        rc, out, err = run(g, "--migrate-to", uri)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("another monitor-aggregator is running", err)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        ts_url = f"/api/servers/{sid}/timeseries?metric=cpu_pct&agg=max&from={since}"
        live_series = g.api("GET", ts_url).json()["data"]
        events_before = g.api("GET", "/api/events?limit=1000").json()["events"]
        self.assertTrue(any(e["type"] == "service_failed" for e in events_before))
        g.stop()
        sqlite_rows = {t: table_rows(g, t) for t in TABLES}
        for t in ("samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
                  "service_status", "unit_states", "events", "gpu_states"):
            self.assertTrue(sqlite_rows[t], f"the run left no rows in {t}")

        rc, out, err = run(g, "--migrate-to", uri)
        self.assertEqual(rc, 0, out + err)
        for t in TABLES:
            line = [x for x in out.splitlines() if x.strip().startswith(t + " ")]
            self.assertEqual(len(line), 1, out)
            n = str(len(sqlite_rows[t]))
            self.assertEqual(line[0].split()[1:], [n, n], out)
        self.assertIn(f'database: "{uri}"', out)
        self.assertIn("database_password_file", out)
        self.assertIn("row counts match", out)

        # Table by table, value by value (floats compared exactly).
        g.switch_database(uri, "postgresql", db)
        for t in TABLES:
            self.assertEqual(table_rows(g, t), sqlite_rows[t], t)
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("integrity: ok", out)
        self.assertIn(f"rows events: {len(sqlite_rows['events'])}", out)
        self.assertIn("monthly partitions:", out)

        # A second copy into it is refused, and leaves it as it was.
        g.switch_database(os.path.join(g.dir, "data", "monitor.db"), "sqlite")
        rc, out, err = run(g, "--migrate-to", uri)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("not empty", err)
        g.switch_database(uri, "postgresql", db)
        self.assertEqual(table_rows(g, "events"), sqlite_rows["events"])

        # The aggregator carries on from the copy: same ids, same history, no new events for
        # states it already knew, and new ids past every id SQLite ever handed out.
        g.start()
        wait_until(lambda: g.servers()["srv"]["online"], timeout=10, what="online on PostgreSQL")
        self.assertEqual(g.servers()["srv"]["id"], sid)
        pg_series = g.api("GET", ts_url).json()["data"]
        closed = [p for p in live_series if not p.get("partial")]
        self.assertGreaterEqual(len(closed), 2)
        self.assertEqual([p for p in pg_series if p["ts"] in {q["ts"] for q in closed}], closed)
        time.sleep(2)
        # Newest first: exactly the events of the SQLite run, nothing new.
        self.assertEqual(g.api("GET", "/api/events?limit=1000").json()["events"], events_before)
        r = g.api("POST", "/api/servers", {"name": "new", "host": "127.0.0.1",
                                           "agent_port": 1, "token": "t0123456"})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["id"], gone + 1)  # not gone's: SQLite had handed it out
        self.assertGreater(gone, max(row[0] for row in sqlite_rows["servers"]))


class CommandLineTest(Fixture):
    def test_check_backup_restore_and_refusals(self):
        g = self.aggregator([{"name": "a", "host": "127.0.0.1", "agent_port": 1,
                              "token": "t0123456"}], start=False, db="postgresql")
        rc, out, err = run(g, "--init-db")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = run(g, "--check-db")
        self.assertEqual(rc, 0, out + err)
        for want in (f"database: {g.db}", "integrity: ok", "server: PostgreSQL 15",
                     "monthly partitions: 18", "schema version: 6", "rows servers: 1",
                     "rows events: 1", "rows seed_imports: 1"):
            self.assertIn(want, out)
        dump = os.path.join(g.dir, "x.dump")
        rc, out, err = run(g, "--backup", dump)
        self.assertEqual(rc, 1)
        self.assertIn("pg_dump --format=custom", err)
        self.assertIn(g.db, err)
        self.assertFalse(os.path.exists(dump))
        rc, out, err = run(g, "--restore", dump)
        self.assertEqual(rc, 1)
        self.assertIn("pg_restore --clean --if-exists", err)
        # A database that does not answer: exit 1 with libpq's reason.
        stopped = Aggregator(db="sqlite")
        self.cleanups.append(stopped.close)
        stopped.switch_database(f"postgresql://lanmon@127.0.0.1:{free_port()}/x", "sqlite")
        rc, out, err = run(stopped, "--check-db")
        self.assertEqual(rc, 1)
        self.assertIn("cannot open", out)
        self.assertIn("Connection refused", out)
        # A key=value string is not taken for a file name.
        bad = os.path.join(g.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write('database: "host=127.0.0.1 dbname=lanmon"\n')
        p = subprocess.run([EXE, "--config", bad, "--check-config"], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{bad}:1:", p.stderr.decode())
        self.assertIn("postgresql://USER@HOST", p.stderr.decode())

    def test_one_aggregator_per_database(self):
        g = self.aggregator(db="postgresql")
        second = Aggregator(db="sqlite")
        self.cleanups.append(second.close)
        second.switch_database(g.db, "sqlite")  # g's database (dropped by g, not by second)
        # Run from an empty folder: a URI is not a path, so no "<database>.lock" (nor the
        # "postgresql:" folder it would sit in) may appear; the server's lock refuses it.
        cwd = tempfile.mkdtemp(prefix="lanmon-pg-cwd-")
        self.cleanups.append(lambda: shutil.rmtree(cwd, ignore_errors=True))
        p = subprocess.run([EXE, "--config", second.config_path], capture_output=True,
                           timeout=30, env=second.env, cwd=cwd)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another monitor-aggregator is running on the database", p.stderr.decode())
        self.assertNotIn(".lock", p.stderr.decode())
        p = subprocess.run([EXE, "--config", second.config_path, "--check-db"],
                           capture_output=True, timeout=60, env=second.env, cwd=cwd)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(os.listdir(cwd), [])
        self.assertEqual(g.api("GET", "/api/health").status, 200)


class StartTest(Fixture):
    def test_start_waits_for_the_database_server(self):
        # A boot that starts PostgreSQL and the aggregator together: the aggregator waits.
        from pgserver import PgServer
        pg = PgServer(prefix="lanmon-pg-start-").start()
        self.cleanups.append(pg.close)
        g = self.aggregator(start=False, pg=pg)
        pg.stop()
        log = open(g.log_path, "ab")
        self.cleanups.append(log.close)
        g.proc = subprocess.Popen([EXE, "--config", g.config_path], env=g.env, stdout=log,
                                  stderr=subprocess.STDOUT)
        self.cleanups.append(lambda: g.stop())
        wait_until(lambda: "cannot reach the database" in g.output(), timeout=10,
                   what="the first attempt")
        self.assertIsNone(g.proc.poll())
        pg.start()
        wait_until(lambda: g.api("GET", "/api/health", timeout=1).status == 200, timeout=20,
                   what="the aggregator up once the server is")
        self.assertIn("trying again in 5 s", g.output())
        self.assertEqual(g.stop()[0], 0)


class PasswordTest(Fixture):
    def test_password_sources_never_printed(self):
        pg = pg_server()
        proc = self.live_proc()
        a = self.agent(proc)
        g = self.aggregator([server_entry("srv", a)], start=False, db="postgresql")
        pg.sql(f'ALTER DATABASE "{g.pg_db}" OWNER TO lanmon_pw')
        uri = f"postgresql://lanmon_pw@127.0.0.1:{pg.port}/{g.pg_db}"
        secret = os.path.join(g.dir, "db.pass")
        with open(secret, "w") as f:
            f.write(pg.password + "\n")
        os.chmod(secret, 0o600)

        # No password anywhere: libpq's reason, exit 1.
        g.switch_database(uri, "postgresql", g.pg_db)
        env = {k: v for k, v in g.env.items() if k not in ("PGPASSFILE", "PGPASSWORD")}
        rc, out, err = run(g, "--init-db", env=env)
        self.assertEqual(rc, 1)
        self.assertIn("no password supplied", err)
        # A wrong password in the URI: named without it.
        g.switch_database(uri.replace("lanmon_pw@", "lanmon_pw:Wr0ng-pass@"), "postgresql",
                          g.pg_db)
        rc, out, err = run(g, "--check-db", env=env)
        self.assertEqual(rc, 1)
        self.assertIn("password authentication failed", out)
        self.assertIn(uri, out)
        self.assertNotIn("Wr0ng-pass", out + err)
        # PGPASSFILE.
        passfile = os.path.join(g.dir, "pgpass")
        with open(passfile, "w") as f:
            f.write(f"127.0.0.1:{pg.port}:*:lanmon_pw:{pg.password}\n")
        os.chmod(passfile, 0o600)
        g.switch_database(uri, "postgresql", g.pg_db)
        rc, out, err = run(g, "--check-db", env=dict(env, PGPASSFILE=passfile))
        self.assertEqual(rc, 0, out + err)
        # database_password_file, the daemon itself: its log, its health and the API never
        # show the password, also when the URI carries one.
        g.switch_database(uri, "postgresql", g.pg_db,
                          extra=[f'database_password_file: "{secret}"'])
        g.env = env
        g.start()
        wait_until(lambda: g.servers()["srv"]["online"], timeout=10, what="online")
        g.stop()
        g.switch_database(uri.replace("lanmon_pw@", f"lanmon_pw:{pg.password}@"), "postgresql",
                          g.pg_db)
        g.start()
        wait_until(lambda: g.servers()["srv"]["online"], timeout=10, what="online")
        pg.terminate(g.pg_db)  # a reconnect, whose failures would be logged
        time.sleep(2)
        health = g.api("GET", "/api/health").body.decode()
        g.stop()
        self.assertIn(f"database {uri}", g.output())
        for text in (g.output(), health):
            self.assertNotIn(pg.password, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
