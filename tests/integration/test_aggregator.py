# SPDX-License-Identifier: MIT
"""Integration tests of monitor-aggregator against real monitor-agent processes (live fixture
procfs, fake NVML) and misbehaving fake agents, on 127.0.0.1, with a real SQLite file or (with
LANMON_TEST_DB=postgresql, ctest's integration.aggregator.pg) a real PostgreSQL database."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (Agent, Aggregator, CleanupTestCase, DBusMock,  # noqa: E402
                            server_entry, wait_until)

INTERVAL = 1.0
TIMEOUT = 0.5
OFFLINE_AFTER = 2 * INTERVAL + TIMEOUT + INTERVAL  # the bound for server_down


class PollingTest(CleanupTestCase):
    def test_online_values_and_failures_isolated(self):
        proc = self.live_proc()
        good = self.agent(proc)
        wrong_token = self.agent(proc, token="agent-token-other-012345")
        hang, bad = self.fake_agent("hang"), self.fake_agent("malformed")
        huge = self.fake_agent("huge")
        g = self.aggregator([
            server_entry("good", good),
            server_entry("wrongtoken", good, agent_port=wrong_token.port),
            {"name": "hang", "host": "127.0.0.1", "agent_port": hang.port, "token": "t0123456"},
            {"name": "malformed", "host": "127.0.0.1", "agent_port": bad.port, "token": "t0123"},
            {"name": "huge", "host": "127.0.0.1", "agent_port": huge.port, "token": "t0123"},
            {"name": "refused", "host": "127.0.0.1", "agent_port": 1, "token": "t0123"},
            {"name": "nohost", "host": "no-such-host.invalid", "agent_port": 9109,
             "token": "t0123"},
        ])
        t0 = time.monotonic()
        wait_until(lambda: g.servers()["good"]["online"], timeout=INTERVAL + 1.5,
                   what="good server online within one interval")
        self.assertLess(time.monotonic() - t0, INTERVAL + 1.5)
        s = wait_until(lambda: (lambda x: x if x["latest"] and x["latest"]["cpu_pct"] == 25.0
                                else None)(g.servers()["good"]), timeout=10,
                       what="latest cpu 25.0")
        self.assertEqual(s["status"], "online")
        self.assertEqual(s["latest"]["mem_used_pct"], 75.0)
        self.assertEqual(s["latest"]["gpu_count"], 2)
        self.assertIsNone(s["last_error"])
        self.assertTrue(s["token_set"])
        self.assertNotIn("token", s)
        expected = {"wrongtoken": "token rejected (HTTP 401)", "hang": "timeout",
                    "huge": "reply too large", "refused": "connection refused",
                    "nohost": "host not found"}

        def errors_settled():
            all_ = g.servers()
            for name, err in expected.items():
                if all_[name]["last_error"] != err:
                    return None
            return all_ if all_["malformed"]["last_error"] else None
        all_ = wait_until(errors_settled, timeout=15, what="every failure reported")
        self.assertTrue(all_["malformed"]["last_error"].startswith("bad reply: "))
        for name in list(expected) + ["malformed"]:
            self.assertFalse(all_[name]["online"], name)
            self.assertEqual(all_[name]["status"], "offline", name)
        self.assertTrue(all_["good"]["online"])
        # no token appears anywhere in the API
        body = g.api("GET", "/api/servers").body.decode()
        self.assertNotIn(good.token, body)
        detail = g.api("GET", f"/api/servers/{all_['good']['id']}").json()
        self.assertEqual(len(detail["gpus"]), 2)
        self.assertEqual(detail["disks"][0]["mount"], "/")
        self.assertEqual(detail["agent"]["cpu_count"], 4)
        gid = all_["good"]["id"]
        recent = wait_until(lambda: (lambda r: r if len(r["data"]) >= 2 else None)(
            g.api("GET", f"/api/servers/{gid}/recent?metric=cpu_pct").json()), timeout=5,
            what="two recent samples")
        self.assertEqual(recent["data"][-1]["value"], 25.0)
        health = g.api("GET", "/api/health").json()
        self.assertEqual(health["servers"]["total"], 7)
        self.assertEqual(health["servers"]["online"], 1)

    def test_down_and_up_events(self):
        proc = self.live_proc()
        a = self.agent(proc)
        g = self.aggregator([server_entry("srv", a)])
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=5, what="online")
        a.stop(signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: not g.servers()["srv"]["online"], timeout=OFFLINE_AFTER + 1,
                   what="offline")
        wait_until(lambda: [e for e in g.events(server_id=sid) if e["type"] == "server_down"],
                   timeout=OFFLINE_AFTER + 1, what="server_down event")
        self.assertLess(time.monotonic() - t0, OFFLINE_AFTER + 1)
        self.assertEqual(g.servers()["srv"]["last_error"], "connection refused")
        time.sleep(2 * INTERVAL)
        downs = [e for e in g.events(server_id=sid) if e["type"] == "server_down"]
        self.assertEqual(len(downs), 1, downs)
        self.assertIn("srv", downs[0]["message"])
        b = Agent(proc.dir, port=a.port, token=a.token).start()
        self.cleanups.append(lambda: (b.stop(), b.close()))
        wait_until(lambda: [e for e in g.events(server_id=sid) if e["type"] == "server_up"],
                   timeout=5, what="server_up event")
        ups = [e for e in g.events(server_id=sid) if e["type"] == "server_up"]
        self.assertEqual(len(ups), 1)
        # A restart of the aggregator does not re-emit server_up for a server that was up.
        g.stop()
        g.start()
        time.sleep(3 * INTERVAL)
        self.assertTrue(g.servers()["srv"]["online"])
        ups = [e for e in g.events(server_id=sid) if e["type"] == "server_up"]
        self.assertEqual(len(ups), 1, ups)

    def test_unit_events(self):
        bus = DBusMock()
        self.cleanups.append(bus.close)
        proc = self.live_proc()
        a = self.agent(proc, env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address},
                       extra={"services_allowlist": ["*.service"]})
        g = self.aggregator([server_entry("srv", a, services=["nginx.service",
                                                              "myapp.service"])])
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=5, what="online")
        wait_until(lambda: len(g.api("GET", f"/api/servers/{sid}/services").json()) == 2,
                   timeout=5, what="unit states")
        bus.set_unit("myapp.service", "active", "running")
        wait_until(lambda: [e for e in g.events(server_id=sid)
                            if e["type"] == "service_recovered"], timeout=5,
                   what="service_recovered")
        bus.set_unit("myapp.service", "failed", "failed")
        ev = wait_until(lambda: [e for e in g.events(server_id=sid)
                                 if e["type"] == "service_failed"], timeout=5,
                        what="service_failed")
        self.assertIn("myapp.service", ev[0]["message"])
        # The whole list is served from a copy rebuilt every 0.5 s (docs/api.md).
        wait_until(lambda: g.servers()["srv"]["latest"]["services_failed_count"] == 1,
                   timeout=3, what="services_failed_count 1 in the list")
        units = {u["name"]: u for u in g.api("GET", f"/api/servers/{sid}/services").json()}
        self.assertEqual(units["myapp.service"]["active_state"], "failed")
        catalog = g.api("GET", f"/api/servers/{sid}/services/catalog")
        self.assertEqual(catalog.status, 200)
        names = [u["name"] for u in catalog.json()["services"]]
        self.assertIn("nginx.service", names)
        rows = g.query("SELECT COUNT(*) FROM service_status WHERE unit_name = ?",
                       ("myapp.service",))[0][0]
        self.assertGreaterEqual(rows, 2)


class CrudTest(CleanupTestCase):
    def test_crud_and_validation(self):
        proc = self.live_proc()
        a = self.agent(proc)
        g = self.aggregator()
        new = {"name": "added", "host": "127.0.0.1", "agent_port": a.port, "token": a.token,
               "services": [], "enabled": True}
        self.assertEqual(g.api("POST", "/api/servers", new, admin=False).status, 401)
        r = g.api("POST", "/api/servers", new, headers={"X-Admin-Token": "wrong-wrong"},
                  admin=False)
        self.assertEqual(r.status, 401)
        bad_cases = [
            ({"agent_port": 0}, "agent_port"), ({"agent_port": 70000}, "agent_port"),
            ({"agent_port": "80"}, "agent_port"), ({"name": ""}, "name"),
            ({"name": "x" * 65}, "name"), ({"host": "bad host!"}, "host"),
            ({"host": ""}, "host"), ({"token": ""}, "token"),
            ({"services": ["not a unit"]}, "services"),
            ({"services": [f"u{i}.service" for i in range(65)]}, "services"),
            ({"enabled": "yes"}, "enabled"), ({"bogus": 1}, "bogus"),
        ]
        for patch, field in bad_cases:
            r = g.api("POST", "/api/servers", dict(new, **patch))
            self.assertEqual(r.status, 400, (patch, r.body))
            self.assertIn(field, r.json()["fields"], (patch, r.body))
        r = g.api("POST", "/api/servers", b"{not json", )
        self.assertEqual(r.status, 400)
        r = g.api("POST", "/api/servers", new)
        self.assertEqual(r.status, 201, r.body)
        sid = r.json()["id"]
        self.assertNotIn("token", r.json())
        self.assertEqual(g.api("POST", "/api/servers", new).status, 409)
        wait_until(lambda: g.servers()["added"]["online"], timeout=5, what="added online")
        events = [e["type"] for e in g.events(server_id=sid)]
        self.assertIn("server_added", events)
        # edit: partial update, token kept when omitted
        r = g.api("PUT", f"/api/servers/{sid}", {"services": ["nginx.service"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["services"], ["nginx.service"])
        self.assertEqual(g.api("PUT", f"/api/servers/{sid}", {"agent_port": -1}).status, 400)
        self.assertEqual(g.api("PUT", f"/api/servers/{sid}", {"name": "x"}, admin=False).status,
                         401)
        # disable: no more polling → offline
        r = g.api("PUT", f"/api/servers/{sid}", {"enabled": False})
        self.assertEqual(r.status, 200)
        wait_until(lambda: g.servers()["added"]["status"] == "disabled", timeout=5,
                   what="disabled")
        r = g.api("PUT", f"/api/servers/{sid}", {"enabled": True})
        wait_until(lambda: g.servers()["added"]["online"], timeout=5, what="re-enabled")
        # delete removes it and its history
        self.assertEqual(g.api("DELETE", f"/api/servers/{sid}", admin=False).status, 401)
        self.assertEqual(g.api("DELETE", f"/api/servers/{sid}").status, 200)
        self.assertNotIn("added", g.servers())
        self.assertEqual(g.api("GET", f"/api/servers/{sid}").status, 404)
        self.assertEqual(g.api("DELETE", f"/api/servers/{sid}").status, 404)
        types = [e["type"] for e in g.events()]
        self.assertIn("server_removed", types)
        # SQL injection through text fields is stored verbatim and harmless
        evil = dict(new, name="x'); DROP TABLE servers;--", agent_port=1)
        r = g.api("POST", "/api/servers", evil)
        self.assertEqual(r.status, 201, r.body)
        self.assertIn("x'); DROP TABLE servers;--", g.servers())

    def test_admin_disabled_without_token(self):
        g = self.aggregator(admin_token=None)
        r = g.api("POST", "/api/servers", {"name": "a", "host": "h", "token": "t"}, admin=False,
                  headers={"X-Admin-Token": "anything-at-all"})
        self.assertEqual(r.status, 403)
        self.assertIn("admin_token", r.json()["error"])

    def test_bad_requests_and_traversal(self):
        g = self.aggregator()
        for path, status in [("/api/servers/999", 404), ("/api/servers/abc", 404),
                             ("/api/nope", 404),
                             ("/api/servers/1/timeseries?metric=bogus", 400),
                             ("/api/events?limit=0", 400), ("/api/events?limit=x", 400),
                             ("/api/events?type=bogus", 400)]:
            r = g.api("GET", path)
            self.assertEqual(r.status, status, path)
            self.assertIn("error", r.json())
        self.assertEqual(g.api("PATCH", "/api/servers").status, 405)
        for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                     "/%2e%2e%5c%2e%2e%5cetc%5cpasswd", "//etc/passwd", "/.git/config",
                     "/index.html/../../../../etc/passwd"]:
            r = g.api("GET", path)
            self.assertIn(r.status, (400, 404), path)
            self.assertNotIn(b"root:", r.body)


class HistoryTest(CleanupTestCase):
    def test_buckets_match_samples(self):
        proc = self.live_proc(busy=25)
        a = self.agent(proc)
        g = self.aggregator([server_entry("srv", a)], bucket="5s", checkpoint="1s")
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=5, what="online")
        # vary the load so that avg, max and min differ
        for busy in (25, 75, 50, 25, 75, 50, 25, 75):
            proc.set_busy(busy)
            time.sleep(2.5)
        t_recent = time.time()
        recent = g.api("GET", f"/api/servers/{sid}/recent?metric=cpu_pct").json()["data"]
        time.sleep(1.5)  # one more checkpoint
        rows = g.query("SELECT ts, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min "
                       "FROM samples_hourly WHERE server_id = ? ORDER BY ts", (sid,))
        import datetime
        by_bucket = {}
        for p in recent:
            if p["value"] is None:
                continue
            t = datetime.datetime.strptime(p["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            by_bucket.setdefault(int(t) // 5 * 5, []).append(p["value"])
        # Skip the first bucket (partial) and any that had not ended when `recent` was read.
        complete = [r for r in rows[1:] if r[0] in by_bucket and r[0] + 5 < t_recent]
        self.assertGreaterEqual(len(complete), 2, (rows, sorted(by_bucket)))
        for ts, samples, avg, mx, mn in complete:
            vals = by_bucket[ts]
            self.assertEqual(samples, len(vals), (ts, vals))
            self.assertAlmostEqual(avg, sum(vals) / len(vals), delta=0.01)
            self.assertAlmostEqual(mx, max(vals), delta=0.01)
            self.assertAlmostEqual(mn, min(vals), delta=0.01)
        self.assertTrue(any(r[3] > r[4] for r in complete), "load did not vary")
        # the unfinished bucket is marked (right after a rollover it may have no sample yet)
        ts = wait_until(lambda: (lambda t: t if t["data"][-1].get("partial") else None)(
            g.api("GET", f"/api/servers/{sid}/timeseries?metric=cpu_pct&agg=max").json()),
            timeout=5, what="a partial bucket")
        self.assertEqual(sum(1 for p in ts["data"] if p.get("partial")), 1)
        self.assertEqual(ts["bucket_s"], 5)
        r = g.api("GET", f"/api/servers/{sid}/timeseries?metric=cpu_pct&from=2026-02-01T00:00:00Z"
                         f"&to=2026-01-01T00:00:00Z")
        self.assertEqual(r.status, 400)
        self.assertIn("from", r.json()["error"])
        r = g.api("GET", f"/api/servers/{sid}/timeseries?metric=cpu_pct&from=yesterday")
        self.assertEqual(r.status, 400)

    def test_kill9_keeps_bucket_and_no_duplicate_events(self):
        proc = self.live_proc()
        a = self.agent(proc)
        g = self.aggregator([server_entry("srv", a)], bucket="1h", checkpoint="1s")
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=5, what="online")
        time.sleep(4)

        def stored():
            rows = g.query("SELECT ts, samples FROM samples_hourly WHERE server_id = ? "
                           "ORDER BY ts DESC LIMIT 1", (sid,))
            return rows[0] if rows else None
        before = wait_until(stored, timeout=5, what="a checkpointed bucket")
        events_before = g.events(server_id=sid)
        g.stop(signal.SIGKILL)
        g.start()
        time.sleep(3)
        after = wait_until(lambda: (lambda r: r if r and r[1] > before[1] or
                                    (r and r[0] != before[0]) else None)(stored()),
                           timeout=10, what="the bucket continued after restart")
        if after[0] == before[0]:
            self.assertGreater(after[1], before[1])
        n = g.query("SELECT COUNT(*) FROM samples_hourly WHERE server_id = ? AND ts = ?",
                    (sid, before[0]))[0][0]
        self.assertEqual(g.integrity(), "ok")
        self.assertEqual(n, 1)
        self.assertEqual(len(g.events(server_id=sid)), len(events_before))

    def test_retention(self):
        proc = self.live_proc()
        a = self.agent(proc)
        g = Aggregator([server_entry("srv", a)])
        self.cleanups.append(g.close)
        # create the schema and the server, then seed old and new rows directly
        import subprocess
        subprocess.run([os.path.join(os.environ["LANMON_BIN_DIR"], "monitor-aggregator"),
                        "--config", g.config_path, "--init-db"], check=True, timeout=30,
                       env=g.env, capture_output=True)
        now = int(time.time())
        sid = g.query("SELECT id FROM servers WHERE name = 'srv'")[0][0]
        rows = []
        for days in (40, 31, 29, 1):
            ts = (now - days * 86400) // 3600 * 3600
            rows += [("INSERT INTO samples_hourly (server_id, ts, samples, cpu_pct_avg) "
                      "VALUES (?, ?, 1, 5)", (sid, ts)),
                     ("INSERT INTO events (server_id, server_name, ts, type, message) "
                      "VALUES (?, 'srv', ?, 'server_up', 'old')", (sid, ts)),
                     ("INSERT INTO service_status (server_id, ts, unit_name, active_state, "
                      "sub_state) VALUES (?, ?, 'a.service', 'active', 'running')", (sid, ts))]
        g.execute(rows)
        g.start()
        self.cleanups.append(g.stop)

        def counts():
            return [g.query(f"SELECT COUNT(*) FROM {t} WHERE ts < ?", (now - 30 * 86400,))[0][0]
                    for t in ("samples_hourly", "events", "service_status")]
        wait_until(lambda: counts() == [0, 0, 0], timeout=30, what="old rows deleted")
        kept = g.query("SELECT COUNT(*) FROM samples_hourly WHERE ts >= ? AND ts < ?",
                       (now - 30 * 86400, now - 3600))[0][0]
        self.assertEqual(kept, 2)

    def test_locked_database_keeps_live_api(self):
        proc = self.live_proc()
        a = self.agent(proc)
        g = self.aggregator([server_entry("srv", a)], checkpoint="1s")
        wait_until(lambda: g.servers()["srv"]["online"], timeout=5, what="online")
        with g.db_locked():
            t_end = time.monotonic() + 8
            seen = set()
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                r = g.api("GET", "/api/servers", timeout=3)
                self.assertEqual(r.status, 200)
                self.assertLess(time.monotonic() - t0, 1.0)
                s = {x["name"]: x for x in r.json()}["srv"]
                self.assertTrue(s["online"])
                seen.add(s["latest"]["ts"])
                time.sleep(0.5)
            self.assertGreater(len(seen), 3, "live data stopped while the database was locked")
            h = g.api("GET", "/api/health", timeout=3).json()
            self.assertGreater(h["db"]["pending_writes"] + (0 if h["db"]["ok"] else 1), 0)
        wait_until(lambda: g.api("GET", "/api/health").json()["db"]["pending_writes"] == 0,
                   timeout=15, what="writes resumed")


class CommandLineTest(CleanupTestCase):
    def test_check_config_and_version(self):
        import subprocess
        exe = os.path.join(os.environ["LANMON_BIN_DIR"], "monitor-aggregator")
        p = subprocess.run([exe, "--version"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("monitor-aggregator", p.stdout.decode())
        g = Aggregator()
        self.cleanups.append(g.close)
        p = subprocess.run([exe, "--config", g.config_path, "--check-config"],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        bad = os.path.join(g.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listen: \"127.0.0.1:1\"\npoll: { interval: 5s, timeout: 2 }\n")
        p = subprocess.run([exe, "--config", bad, "--check-config"], capture_output=True,
                           timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{bad}:2:", p.stderr.decode())
        self.assertIn("poll.timeout", p.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
