# SPDX-License-Identifier: MIT
"""Security checks of both daemons on 127.0.0.1 (ctest -L security): tokens never leak into
logs, responses or error messages; the admin API refuses every mutation without the right
token; allow_from on the agent; static files cannot leave web_root; SQL injection through
every text field and query parameter; oversized headers and bodies rejected early.
The dashboard's XSS checks are in tests/web/security.test.mjs, the constant-time compare in
test_constant_time.py (it needs callgrind)."""
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import BIN_DIR, free_port, http, scaled, wait_until  # noqa: E402
from securitylib import Fixture, get, http_from, raw  # noqa: E402


class TokenLeakTest(Fixture):
    """Distinctive random tokens are grepped in everything either daemon says."""

    def test_tokens_never_leak(self):
        tag = secrets.token_hex(6)
        agent_tok = f"AGENTTOK{tag}agent"
        other_tok = f"OTHERTOK{tag}other"
        stale_tok = f"STALETOK{tag}stale"    # what the aggregator stores for `other`: wrong
        admin_tok = f"ADMINTOK{tag}admin"
        added_tok = f"ADDEDTOK{tag}added"
        sent_wrong = f"WRONGTOK{tag}wrong"  # wrong tokens the test presents
        secrets_all = [agent_tok, other_tok, stale_tok, admin_tok, added_tok, sent_wrong]
        debug = {"MONITOR_DEBUG": "1"}
        proc = self.live_proc()
        a = self.agent(proc, token=agent_tok, env=debug)
        b = self.agent(proc, token=other_tok, env=debug, node_id="srv-other")
        failing = self.fake_agent("status:500")
        g = self.aggregator([
            {"name": "good", "host": "127.0.0.1", "agent_port": a.port, "token": agent_tok,
             "services": [], "enabled": True},
            {"name": "stale", "host": "127.0.0.1", "agent_port": b.port, "token": stale_tok,
             "services": [], "enabled": True},
            {"name": "broken", "host": "127.0.0.1", "agent_port": failing.port,
             "token": stale_tok, "services": [], "enabled": True},
        ], admin_token=admin_tok, env=debug)
        seen = []  # (what, text)

        def keep(what, r):
            seen.append((what, f"{r.status} {json.dumps(r.headers)} {r.body.decode(errors='replace')}"))
            return r

        servers = wait_until(lambda: (lambda s: s if s["good"]["online"] and
                                      s["stale"]["last_error"] and s["broken"]["last_error"]
                                      else None)(g.servers()), timeout=15, what="first polls")
        self.assertEqual(servers["stale"]["last_error"], "token rejected (HTTP 401)")
        ids = {n: s["id"] for n, s in servers.items()}
        base = g.base
        admin = {"X-Admin-Token": admin_tok}
        wrong = {"X-Admin-Token": sent_wrong}
        # Every read endpoint, for every server.
        keep("list", http("GET", base + "/api/servers"))
        for name, sid in ids.items():
            for path in ("", "/services", "/services/catalog", "/recent?metric=cpu_pct",
                         "/timeseries?metric=cpu_pct"):
                keep(f"{name}{path}", http("GET", f"{base}/api/servers/{sid}{path}"))
        keep("events", http("GET", base + "/api/events"))
        keep("health", http("GET", base + "/api/health"))
        # Error bodies: 400, 401, 403, 404, 409, 502.
        new = {"name": "added", "host": "127.0.0.1", "agent_port": 9, "token": added_tok}
        self.assertEqual(keep("400", http("POST", base + "/api/servers", headers=admin,
                                          body=dict(new, agent_port=0))).status, 400)
        self.assertEqual(keep("400 type", http("POST", base + "/api/servers", headers=admin,
                                               body=dict(new, token=[added_tok]))).status, 400)
        self.assertEqual(keep("401", http("POST", base + "/api/servers", headers=wrong,
                                          body=new)).status, 401)
        self.assertEqual(keep("401 bearer", http("DELETE", f"{base}/api/servers/{ids['good']}",
                                                 token=admin_tok)).status, 401)
        r = keep("201", http("POST", base + "/api/servers", headers=admin, body=new))
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(keep("409", http("POST", base + "/api/servers", headers=admin,
                                          body=new)).status, 409)
        self.assertEqual(keep("404", http("PUT", base + "/api/servers/999", headers=admin,
                                          body={"token": added_tok})).status, 404)
        r = keep("put", http("PUT", f"{base}/api/servers/{r.json()['id']}", headers=admin,
                             body={"token": added_tok + "2", "enabled": False}))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(keep("502 401", http("GET", f"{base}/api/servers/{ids['stale']}"
                                              "/services/catalog")).status, 502)
        self.assertEqual(keep("502 500", http("GET", f"{base}/api/servers/{ids['broken']}"
                                              "/services/catalog")).status, 502)
        # The agent's own answers: 401 with a wrong token, 403 outside allow_from, and the rest.
        for path in ("/v1/snapshot", "/v1/services", "/metrics", "/v1/health", "/nope"):
            keep(f"agent {path}", a.get(path))
            keep(f"agent {path} wrong", a.get(path, token=sent_wrong))
        denied = self.agent(proc, token=agent_tok, env=debug, extra={"allow_from": ["10.0.0.0/8"]},
                            start=False).start(wait=False)
        r = wait_until(lambda: (lambda x: x if x.status == 403 else None)(
            denied.get("/v1/snapshot")), timeout=10, what="403 outside allow_from")
        keep("agent 403", r)
        # A server without admin token configured: 403.
        g2 = self.aggregator(admin_token=None, env=debug)
        self.assertEqual(keep("403", http("POST", g2.base + "/api/servers", headers=admin,
                                          body=new)).status, 403)
        # Command-line error messages about tokens.
        cli = []
        bad = os.path.join(a.dir, "short.yaml")
        with open(bad, "w") as f:
            f.write(f'node_id: "x"\nlisten: "127.0.0.1:1"\ntoken: "{sent_wrong[:7]}"\n')
        cli.append(subprocess.run([os.path.join(BIN_DIR, "monitor-agent"), "--config", bad,
                                   "--check-config"], capture_output=True, timeout=30))
        with open(bad, "w") as f:
            f.write(f'node_id: "x"\nlisten: "127.0.0.1:1"\ntoken: ["{sent_wrong}"]\n')
        cli.append(subprocess.run([os.path.join(BIN_DIR, "monitor-agent"), "--config", bad,
                                   "--check-config"], capture_output=True, timeout=30))
        cli.append(subprocess.run([os.path.join(BIN_DIR, "monitor-agent"), "--config",
                                   a.config_path, "--print-snapshot"], capture_output=True,
                                  timeout=30, env=a.env))
        bad_agg = os.path.join(g.dir, "bad.yaml")
        with open(bad_agg, "w") as f:
            f.write(f'listen: "127.0.0.1:1"\nadmin_token: "{admin_tok}"\nservers:\n'
                    f'  - {{name: x, host: "bad host!", token: "{added_tok}"}}\n')
        cli.append(subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--config",
                                   bad_agg, "--check-config"], capture_output=True, timeout=30))
        with open(bad_agg, "w") as f:
            f.write(f'listen: "127.0.0.1:1"\nadmin_token: "{sent_wrong[:7]}"\n')
        cli.append(subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--config",
                                   bad_agg, "--check-config"], capture_output=True, timeout=30))
        for p in cli[:2] + cli[3:]:
            self.assertEqual(p.returncode, 1, p.stderr)
        for i, p in enumerate(cli):
            seen.append((f"cli {i}", (p.stdout + p.stderr).decode(errors="replace")))
        # Logs last, after the daemons said everything they will (stop flushes nothing more,
        # but a stopped daemon has logged its shutdown too).
        time.sleep(scaled(2))
        for d in (a, b, denied, g, g2):
            d.stop()
            seen.append((f"log {d.log_path}", d.output()))
        self.assertTrue(any("listening" in t for w, t in seen if w.startswith("log")))
        leaks = [(w, tok) for w, t in seen for tok in secrets_all if tok in t]
        self.assertEqual(leaks, [], "tokens found in responses, logs or messages")
        # The stored tokens did reach the agents (so the test is not vacuous).
        self.assertEqual(servers["good"]["status"], "online")


class AdminApiTest(Fixture):
    def test_every_mutation_refused_without_the_right_token(self):
        g = self.aggregator(servers=[{"name": "srv", "host": "127.0.0.1", "agent_port": 9,
                                      "token": "tok-12345678", "enabled": False}])
        sid = g.servers()["srv"]["id"]
        before = sqlite3.connect(g.db)
        snapshot = list(before.iterdump())
        before.close()
        tok = g.admin_token
        refusals = [
            {},                                   # no header
            {"X-Admin-Token": ""},                # empty
            {"X-Admin-Token": "wrong-" + tok},    # wrong
            {"X-Admin-Token": tok[:-1]},          # prefix of the right one
            {"X-Admin-Token": tok + "x"},         # the right one plus a byte
            {"X-Admin-Token": tok.upper()},       # other letter case
            {"X-Admin-Token": " " + tok + " x"},  # padded
            {"Authorization": f"Bearer {tok}"},   # right token, wrong header
        ]
        routes = [("POST", "/api/servers", {"name": "new", "host": "127.0.0.1", "token": "t"}),
                  ("PUT", f"/api/servers/{sid}", {"name": "renamed"}),
                  ("DELETE", f"/api/servers/{sid}", None),
                  ("POST", f"/api/servers?admin_token={tok}", {"name": "q", "host": "h",
                                                                "token": "t"})]
        # One client address per route: five wrong tokens each, below the 20 after which an
        # address must wait (AuthThrottleTest), so every refusal here is the token's.
        for i, (method, path, body) in enumerate(routes):
            for hdrs in refusals:
                r = http_from(f"127.0.9.{i + 1}", method, g.base + path, headers=hdrs, body=body)
                self.assertEqual(r.status, 401, (method, path, hdrs, r.body))
                self.assertIn("admin token", r.json()["error"])
        self.assertEqual(g.api("PATCH", f"/api/servers/{sid}", {"name": "x"}).status, 405)
        after = sqlite3.connect(g.db)
        self.assertEqual(list(after.iterdump()), snapshot, "a refused request changed the data")
        after.close()
        self.assertEqual(set(g.servers()), {"srv"})
        # The right token works on every route (so the refusals above were about the token).
        self.assertEqual(g.api("PUT", f"/api/servers/{sid}", {"name": "renamed"}).status, 200)
        self.assertEqual(g.api("POST", "/api/servers", routes[0][2]).status, 201)
        self.assertEqual(g.api("DELETE", f"/api/servers/{sid}").status, 200)

    def test_no_admin_token_configured(self):
        g = self.aggregator(servers=[{"name": "srv", "host": "127.0.0.1", "agent_port": 9,
                                      "token": "tok-12345678", "enabled": False}],
                            admin_token=None)
        sid = g.servers()["srv"]["id"]
        for method, path, body in [("POST", "/api/servers", {"name": "a", "host": "h",
                                                             "token": "t"}),
                                   ("PUT", f"/api/servers/{sid}", {"enabled": True}),
                                   ("DELETE", f"/api/servers/{sid}", None)]:
            for hdrs in ({}, {"X-Admin-Token": "anything-at-all"}, {"X-Admin-Token": ""}):
                r = http(method, g.base + path, headers=hdrs, body=body)
                self.assertEqual(r.status, 403, (method, r.body))
                self.assertIn("admin_token", r.json()["error"])
        self.assertEqual(set(g.servers()), {"srv"})
        self.assertFalse(g.servers()["srv"]["enabled"])
        self.assertIn("no admin_token set", g.output())


class AllowFromTest(Fixture):
    def check(self, a):
        """127.0.0.1 is answered 403 when it connects, before any of its request is read (so
        before any token check); 127.0.0.2 is let through to the token check."""
        ok = "Authorization: Bearer " + a.token + "\r\n"
        st, head, body, _ = get(a.port, b"/v1/snapshot", ok.encode(), src="127.0.0.1")
        self.assertEqual(st, 403, head)
        self.assertIn("allow_from", json.loads(body)["error"])
        for path in (b"/v1/health", b"/metrics", b"/v1/services", b"/nope"):
            st, head, _, _ = get(a.port, path, src="127.0.0.1")
            self.assertEqual(st, 403, (path, head))
            self.assertNotIn("WWW-Authenticate", head)  # no token check happened
        st, head, body, _ = get(a.port, b"/v1/snapshot", ok.encode(), src="127.0.0.2")
        self.assertEqual(st, 200, head)
        self.assertEqual(json.loads(body)["node_id"], "srv-test")
        st, head, _, _ = get(a.port, b"/v1/snapshot", src="127.0.0.2")
        self.assertEqual(st, 401, head)  # allowed address, then the token check
        st, _, _, _ = get(a.port, b"/v1/snapshot", ok.encode(), src="127.0.0.3")
        self.assertEqual(st, 403)
        # Refused at accept: nothing of the request was even read; logged with the address.
        st, head, _, _ = raw(a.port, b"", src="127.0.0.1", timeout=2)
        self.assertEqual(st, 403, head)
        self.assertIn("outside allow_from (latest 127.0.0.1", a.output())

    def test_ipv4(self):
        a = self.agent(self.live_proc(), extra={"allow_from": ["127.0.0.2/32"]}, start=False)
        a.start(wait=False)
        wait_until(lambda: get(a.port, b"/v1/health", src="127.0.0.2")[0] == 200, timeout=10,
                   what="agent up")
        self.check(a)

    def test_ipv4_mapped_ipv6(self):
        # An IPv6 socket bound to ::ffff:127.0.0.1 sees IPv4 clients as ::ffff:127.0.0.x.
        port = free_port()
        a = self.agent(self.live_proc(), port=port, start=False,
                       extra={"allow_from": ["127.0.0.2/32"],
                              "listen": f"[::ffff:127.0.0.1]:{port}"})
        a.start(wait=False)
        wait_until(lambda: get(a.port, b"/v1/health", src="127.0.0.2")[0] == 200, timeout=10,
                   what="agent up")
        self.check(a)


class StaticTest(Fixture):
    def test_cannot_leave_web_root(self):
        src = os.environ["LANMON_WEB_ROOT"]
        top = tempfile.mkdtemp(prefix="lanmon-web-")
        self.cleanups.append(lambda: shutil.rmtree(top, ignore_errors=True))
        web = os.path.join(top, "web")
        os.mkdir(web)
        shutil.copy(os.path.join(src, "index.html"), web)
        os.mkdir(os.path.join(web, "js"))
        marker = "LANMON-OUTSIDE-" + secrets.token_hex(4)
        outside = os.path.join(top, "outside")
        os.mkdir(outside)
        for d in (top, outside):
            with open(os.path.join(d, "secret.txt"), "w") as f:
                f.write(marker)
        os.symlink(os.path.join(top, "secret.txt"), os.path.join(web, "link-out.txt"))
        os.symlink(outside, os.path.join(web, "dir-out"))
        os.symlink("/etc/passwd", os.path.join(web, "passwd.txt"))
        os.symlink("index.html", os.path.join(web, "alias.html"))  # inside: allowed
        g = self.aggregator(start=False)
        with open(g.config_path) as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith("web_root:")]
        with open(g.config_path, "w") as f:
            f.write("\n".join(lines + [f"web_root: {json.dumps(web)}"]) + "\n")
        g.start()
        for path in (b"/", b"/index.html", b"/alias.html"):
            st, head, body, _ = get(g.port, path)
            self.assertEqual(st, 200, (path, head))
            self.assertIn(b"<html", body)
        attacks = [
            b"/../secret.txt", b"/./../secret.txt", b"/js/../../secret.txt", b"/js/..",
            b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/.%2e/secret.txt",
            b"/..%2fsecret.txt", b"/%2e%2e%2fsecret.txt", b"/js%2f..%2f..%2fsecret.txt",
            b"/%252e%252e/secret.txt", b"/%252e%252e%252fsecret.txt",  # double-encoded
            b"/..\\secret.txt", b"/..%5csecret.txt", b"/%5c..%5csecret.txt", b"\\..\\secret.txt",
            b"//etc/passwd", b"/etc/passwd", b"/%2fetc%2fpasswd", b"///etc/passwd",
            b"http://127.0.0.1/../secret.txt", b"/index.html/../../secret.txt",
            b"/%00../secret.txt", b"/index.html%00/../../secret.txt", b"/..%00/secret.txt",
            b"/%c0%ae%c0%ae/secret.txt", b"/....//secret.txt", b"/..;/secret.txt",
            b"/link-out.txt", b"/dir-out/secret.txt", b"/dir-out/", b"/dir-out",
            b"/passwd.txt", b"/js/../dir-out/secret.txt", b"/.git/config",
        ]
        for path in attacks:
            for method in (b"GET", b"HEAD"):
                st, head, body, _ = raw(g.port, method + b" " + path + b" HTTP/1.1\r\n"
                                        b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
                self.assertIn(st, (400, 404), (method, path, head))
                self.assertNotIn(marker.encode(), body, path)
                self.assertNotIn(b"root:", body, path)
        # What follows "?" is a query, not a path: the index page, nothing else.
        st, _, body, _ = get(g.port, b"/?/../secret.txt")
        self.assertEqual(st, 200)
        self.assertNotIn(marker.encode(), body)
        # Still serving afterwards.
        self.assertEqual(get(g.port, b"/index.html")[0], 200)


class SqlInjectionTest(Fixture):
    PAYLOADS = ["x'); DROP TABLE servers;--", "\" OR 1=1 --", "'||(SELECT 1)||'",
                "%' OR '1'='1", "a\\'b", "名前'; DELETE FROM events;--", "x' UNION SELECT token"]

    def test_api_text_fields_and_parameters(self):
        g = self.aggregator()
        con = self.db(g)
        made = 0
        for i, p in enumerate(self.PAYLOADS):
            body = {"name": p, "host": "127.0.0.1", "agent_port": 9, "token": p + "-tok",
                    "services": [], "enabled": False}
            r = g.api("POST", "/api/servers", body)
            self.assertEqual(r.status, 201, r.body)
            made += 1
            sid = r.json()["id"]
            row = con.execute("SELECT name, host, token FROM servers WHERE id = ?",
                              (sid,)).fetchone()
            self.assertEqual(row, (p, "127.0.0.1", p + "-tok"))
            self.assertEqual(g.api("GET", f"/api/servers/{sid}").json()["name"], p)
            # Renamed through PUT, with the payload in a new token too.
            r = g.api("PUT", f"/api/servers/{sid}", {"name": p + "#2", "token": "t2" + p})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(con.execute("SELECT name, token FROM servers WHERE id = ?",
                                         (sid,)).fetchone(), (p + "#2", "t2" + p))
            # host and services are validated: refused, not executed.
            for bad in ({"host": p}, {"services": [p]}, {"services": [p + ".service"]}):
                r = g.api("POST", "/api/servers", dict(body, name=f"v{i}", **bad))
                self.assertEqual(r.status, 400, (bad, r.body))
        self.assert_db_intact(g, made)
        sid = con.execute("SELECT MIN(id) FROM servers").fetchone()[0]
        # Every query parameter and the path id.
        probes = [f"/api/servers/{sid} OR 1=1", f"/api/servers/{sid}'--", "/api/servers/1;DROP",
                  f"/api/servers/{sid}/timeseries?metric=cpu_pct;DROP TABLE servers",
                  f"/api/servers/{sid}/timeseries?metric=cpu_pct&agg=avg' OR '1'='1",
                  f"/api/servers/{sid}/timeseries?metric=cpu_pct&from=2026-01-01T00:00:00Z' OR 1=1--",
                  f"/api/servers/{sid}/timeseries?metric=cpu_pct&to=1; DROP TABLE events",
                  f"/api/servers/{sid}/recent?metric=' OR 1=1--",
                  f"/api/servers/{sid}/services?at=latest' OR 1=1--",
                  "/api/events?server_id=1 OR 1=1", "/api/events?server_id=1;DROP TABLE events",
                  "/api/events?type=server_added' OR '1'='1", "/api/events?type=%27",
                  "/api/events?before=1 OR 1=1", "/api/events?limit=1;DROP TABLE servers",
                  "/api/events?type=server_added%00' OR 1=1"]
        for path in probes:
            q = path.replace(" ", "%20").replace("'", "%27").replace(";", "%3B")
            r = g.api("GET", q)
            self.assertIn(r.status, (400, 404), (path, r.body))
            self.assertIn("error", r.json())
        # Events still list exactly what happened.
        ev = g.events(limit=1000)
        self.assertEqual(sum(1 for e in ev if e["type"] == "server_added"), made)
        self.assertEqual({e["server_name"] for e in ev}, set(self.PAYLOADS))
        self.assert_db_intact(g, made)
        # After a restart the stored values come back exactly.
        g.stop()
        g.start()
        names = set(g.servers())
        self.assertEqual(names, {p + "#2" for p in self.PAYLOADS})

    def test_agent_supplied_strings(self):
        strings = {
            "node_id": "n'); DROP TABLE servers;--",
            "agent_version": "1' OR '1'='1",
            "mount": "/mnt/x'); DELETE FROM disk_samples_hourly;--",
            "disk_error": "e'); DROP TABLE events;--",
            "gpu_name": "NVIDIA'); DROP TABLE gpu_samples_hourly;--",
            "gpu_uuid": "GPU-'||(SELECT token FROM servers)||'",
            "gpu_error": "lost'); DROP TABLE samples_hourly;--",
            "unit": "u--a\\x27b.service",  # watched units are unit names; SQL in the states
            "active_state": "a');DROP TABLE unit_states;--",
            "sub_state": "';DROP TABLE events;--",
            "unit_error": "x'); DELETE FROM service_status;--",
            "agent_error": "unused",
        }
        fake = self.snapshot_agent(strings)
        token = "tok'); DROP TABLE servers;--"
        g = self.aggregator([{"name": "srv", "host": "127.0.0.1", "agent_port": fake.port,
                              "token": token, "enabled": True,
                              "services": [strings["unit"], "odd.service", "broken.service"]}],
                            checkpoint="1s", bucket="5s")
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=10, what="fake agent online")
        # The stored token reaches the agent byte for byte.
        self.assertEqual(fake.log[-1].headers.get("authorization"), "Bearer " + token)
        fake.reply.unit_state = "failed"
        wait_until(lambda: [e for e in g.events(server_id=sid) if e["type"] == "service_failed"],
                   timeout=10, what="service_failed")
        con = self.db(g)

        def stored():
            rows = {
                "gpu": con.execute("SELECT DISTINCT uuid, name FROM gpu_samples_hourly "
                                   "WHERE server_id = ? AND gpu_index = 0", (sid,)).fetchall(),
                "disk": con.execute("SELECT DISTINCT mount FROM disk_samples_hourly "
                                    "WHERE server_id = ?", (sid,)).fetchall(),
                "unit": con.execute("SELECT unit_name, active_state, sub_state FROM "
                                    "unit_states WHERE server_id = ? ORDER BY unit_name",
                                    (sid,)).fetchall(),
                "status": con.execute("SELECT DISTINCT unit_name, active_state, sub_state FROM "
                                      "service_status WHERE server_id = ? ORDER BY unit_name",
                                      (sid,)).fetchall(),
            }
            return rows if all(rows.values()) and (strings["unit"], "failed", strings[
                "sub_state"]) in rows["unit"] else None
        rows = wait_until(stored, timeout=15, what="agent strings stored")
        self.assertEqual(rows["gpu"], [(strings["gpu_uuid"], strings["gpu_name"])])
        self.assertIn((strings["mount"],), rows["disk"])
        self.assertEqual(rows["unit"], [
            ("odd.service", strings["active_state"], strings["sub_state"]),
            (strings["unit"], "failed", strings["sub_state"])])
        self.assertEqual(sorted(rows["status"]), sorted([
            ("odd.service", strings["active_state"], strings["sub_state"]),
            (strings["unit"], "active", strings["sub_state"]),
            (strings["unit"], "failed", strings["sub_state"])]))
        # A unit the server does not watch is not stored at all.
        self.assertEqual(con.execute("SELECT COUNT(*) FROM service_status WHERE unit_name = ?",
                                     ("x<b>.service",)).fetchone()[0], 0)
        msg = [e for e in g.events(server_id=sid) if e["type"] == "service_failed"][0]["message"]
        self.assertIn(strings["unit"], msg)
        # The API returns every string exactly as the agent sent it.
        d = g.api("GET", f"/api/servers/{sid}").json()
        self.assertEqual(d["agent"]["node_id"], strings["node_id"])
        self.assertEqual(d["agent"]["agent_version"], strings["agent_version"])
        self.assertEqual(d["gpus"][0]["name"], strings["gpu_name"])
        self.assertEqual(d["gpus"][0]["uuid"], strings["gpu_uuid"])
        self.assertEqual(d["gpus"][1]["error"], strings["gpu_error"])
        self.assertEqual({x["mount"]: x.get("error") for x in d["disks"]},
                         {strings["mount"]: None, "/data": strings["disk_error"]})
        units = {u["name"]: u for u in d["service_states"]}
        self.assertEqual(units[strings["unit"]]["sub_state"], strings["sub_state"])
        self.assertEqual(units["odd.service"]["active_state"], strings["active_state"])
        self.assertNotIn("x<b>.service", units)
        self.assert_db_intact(g, 1)
        # After a restart the stored states are loaded again (no new service_failed event for
        # a unit that was already failed) and nothing was damaged.
        g.stop()
        self.assertEqual(con.execute("SELECT unit_name, active_state, sub_state FROM "
                                     "unit_states WHERE server_id = ? ORDER BY unit_name",
                                     (sid,)).fetchall(), rows["unit"])
        g.start()
        wait_until(lambda: {u["name"]: u["sub_state"] for u in g.api(
            "GET", f"/api/servers/{sid}/services").json()}.get(strings["unit"]) ==
            strings["sub_state"], timeout=10, what="unit states after the restart")
        evs = [e for e in g.events(server_id=sid) if e["type"] == "service_failed"]
        self.assertEqual(len(evs), 1, evs)
        self.assert_db_intact(g, 1)


class LimitsTest(Fixture):
    def daemons(self):
        a = self.agent(self.live_proc())
        g = self.aggregator()
        return [("agent", a.port, b"/v1/health"), ("aggregator", g.port, b"/api/health")], g

    def test_oversized_headers(self):
        daemons, _ = self.daemons()
        for name, port, path in daemons:
            def request(size):
                line = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                pad = size - len(line) - len(b"X-Pad: \r\n\r\n")
                return line + b"X-Pad: " + b"a" * pad + b"\r\n\r\n"
            st, head, _, _ = raw(port, request(8000))
            self.assertEqual(st, 200, (name, head))
            for size in (8193, 8300, 12 * 1024, 16 * 1024):
                st, head, body, _ = raw(port, request(size))
                self.assertEqual(st, 431, (name, size, head))
                self.assertIn("8192", json.loads(body)["error"])
            # Far larger: refused while the client is still sending (the reply comes after at
            # most ~32 KiB of the 1 MiB were sent).
            big = request(1024 * 1024)
            st, head, _, sent = raw(port, big[:4096], chunks=[big[i:i + 4096] for i in
                                                             range(4096, len(big), 4096)])
            self.assertEqual(st, 431, (name, head))
            self.assertLess(sent, 64 * 1024, name)
            # Many small header lines add up too.
            many = (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                    b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 20) for i in range(400)) + b"\r\n")
            self.assertEqual(raw(port, many)[0], 431, name)
            self.assertEqual(raw(port, request(600))[0], 200, name)

    def test_bodies_refused_before_they_are_sent(self):
        daemons, g = self.daemons()
        tok = g.admin_token.encode()
        cases = [
            ("agent", daemons[0][1], b"POST /v1/snapshot", b"", 413),
            ("aggregator", g.port, b"POST /api/servers", b"X-Admin-Token: " + tok + b"\r\n", 413),
            ("aggregator", g.port, b"PUT /api/servers/1", b"X-Admin-Token: " + tok + b"\r\n", 413),
        ]
        for name, port, line, extra, want in cases:
            for length in (b"1000000000", b"65537", b"99999999999999999999999", b"-1", b"1x"):
                head = (line + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                        b"\r\nContent-Length: " + length + b"\r\n" + extra + b"\r\n")
                t0 = time.monotonic()
                st, h, body, _ = raw(port, head)  # no body byte is sent
                if length == b"99999999999999999999999":  # libmicrohttpd's own 413 (HTML)
                    self.assertEqual(st, 413, (name, line, length, h))
                else:
                    self.assertIn(st, (want, 400), (name, line, length, h))
                if length in (b"1000000000", b"65537"):
                    self.assertEqual(st, want)
                    self.assertIn("too large" if name == "aggregator" else "not accepted",
                                  json.loads(body)["error"])
                self.assertLess(time.monotonic() - t0, scaled(4.0), "the reply waited for a body")
            # A chunked body announces no size: refused before any chunk is sent.
            head = (line + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n" +
                    extra + b"\r\n")
            st, h, body, _ = raw(port, head)
            self.assertEqual(st, 413 if name == "agent" else 411, (name, h))
            self.assertIn("error", json.loads(body))
        # A body right at the cap is read and answered (here: not valid JSON, 400).
        body = b"[" + b" " * (64 * 1024 - 2) + b"]"
        st, h, resp, _ = raw(g.port, b"POST /api/servers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                             b"X-Admin-Token: " + tok + b"\r\nConnection: close\r\n\r\n" + body)
        self.assertEqual(st, 400, h)
        self.assertIn("JSON object", json.loads(resp)["error"])
        self.assertEqual(http("GET", g.base + "/api/health").status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
