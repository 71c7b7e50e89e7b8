# SPDX-License-Identifier: MIT
"""What the security suites (test_security*.py) share: raw clients that choose their bytes and
source address, the fixtures whose daemons must exit cleanly, and the replies of their fake
agents (lanmon_testlib's FakeAgent)."""
import datetime
import http.client as http_client
import json
import os
import select
import socket
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (CleanupTestCase, Prober, Response,  # noqa: E402
                            http_reply, json_reply, scaled, snapshot, wait_until)

TABLES = {"servers", "samples_hourly", "gpu_samples_hourly", "disk_samples_hourly",
          "service_status", "unit_states", "events", "seed_imports", "gpu_states",
          "gpu_usage_hourly", "gpu_usage_daily", "gpu_usage_user_hourly", "gpu_usage_user_daily"}


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def raw(port, data, src="127.0.0.1", timeout=5.0, chunks=None):
    """Sends raw bytes (no client-side normalisation of the path) and reads until the server
    closes or goes quiet. With chunks, sends them one by one after data and stops sending as
    soon as a reply arrives. Returns (status, head, body, bytes of chunks sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    out, sent = b"", 0
    try:
        s.settimeout(scaled(timeout))
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        for c in chunks or ():
            # Give the server 50 ms to answer before each further piece.
            if select.select([s], [], [], 0.05)[0]:
                break
            s.sendall(c)
            sent += len(c)
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
    except (socket.timeout, ConnectionError):
        pass
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else 0
    return status, head.decode(errors="replace"), body, sent


def http_from(src, method, url, headers=None, body=None, timeout=5.0):
    """http() from a chosen loopback source address (a client of its own)."""
    u = urllib.parse.urlsplit(url)
    conn = http_client.HTTPConnection(u.hostname, u.port, timeout=scaled(timeout),
                                      source_address=(src, 0))
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=data,
                     headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def get(port, path, extra=b"", src="127.0.0.1"):
    return raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
               extra + b"\r\n", src=src)


class AgentStrings:
    """The reply of a fake agent (FakeAgent(AgentStrings(...))): a well-formed snapshot whose
    strings the test chooses (GPU names, mounts, unit names and states, node_id, errors) and a
    /v1/services catalog (an error with strings["agent_error"] when catalog_status is not 200).
    unit_state may be changed while it serves."""

    def __init__(self, strings, catalog=None, catalog_status=200):
        self.strings = dict(strings)
        self.unit_state = "active"
        self.catalog = catalog or []
        self.catalog_status = catalog_status

    def __call__(self, req):
        if req.path.startswith("/v1/snapshot"):
            return json_reply(200, self.snapshot())
        if req.path.startswith("/v1/services"):
            code = self.catalog_status
            return json_reply(code, {"services": self.catalog} if code == 200 else
                              {"error": self.strings["agent_error"]})
        return json_reply(404, {"error": "not found"})

    def snapshot(self):
        p, now = self.strings, int(time.time())
        return {
            "node_id": p["node_id"], "ts": iso(now), "agent_version": p["agent_version"],
            "uptime_s": 1000, "cpu_count": 4, "load": [0.5, 0.4, 0.3], "cpu_pct": 12.5,
            "mem": {"used_bytes": 1000, "total_bytes": 4000, "used_pct": 25.0},
            "disks": [{"mount": p["mount"], "used_bytes": 10, "total_bytes": 40, "used_pct": 25.0},
                      {"mount": "/data", "used_bytes": None, "total_bytes": None,
                       "used_pct": None, "error": p["disk_error"]}],
            "gpus": [{"index": 0, "name": p["gpu_name"], "uuid": p["gpu_uuid"], "util_pct": 40.0,
                      "mem_used_mb": 100, "mem_total_mb": 1000, "temp_c": 50.0, "power_w": 70.0},
                     {"index": 1, "name": "ok gpu", "uuid": "GPU-1", "util_pct": None,
                      "mem_used_mb": None, "mem_total_mb": None, "temp_c": None,
                      "power_w": None, "error": p["gpu_error"]}],
            "services": [{"name": p["unit"], "active_state": self.unit_state,
                          "sub_state": p["sub_state"], "since": iso(now - 60)},
                         {"name": "odd.service", "active_state": p["active_state"],
                          "sub_state": p["sub_state"]},
                         {"name": "broken.service", "error": p["unit_error"]},
                         {"name": p.get("unwatched", "x<b>.service"), "active_state": "failed",
                          "sub_state": "failed"}],
            "health": "degraded",
        }


class Fixture(CleanupTestCase):
    def snapshot_agent(self, strings, **kw):
        """A FakeAgent serving AgentStrings(strings, **kw) (its .reply)."""
        return self.fake_agent(AgentStrings(strings, **kw))

    def db(self, g):
        con = sqlite3.connect(g.db, timeout=10)
        self.cleanups.append(con.close)
        return con

    def assert_db_intact(self, g, servers):
        con = sqlite3.connect(g.db, timeout=10)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
            self.assertEqual(tables, TABLES)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM servers").fetchone()[0], servers)
        finally:
            con.close()


class Hardening(Fixture):
    def prober(self, *a, **kw):
        kw.setdefault("every", 0.2)
        p = Prober(*a, **kw)
        self.cleanups.append(p.stop)
        return p

    def counting_agent(self, catalog_delay=0.0, snapshot_body=None, shared=None):
        """A fake agent on kept-alive connections: /v1/snapshot answers snapshot_body() at
        once, /v1/services after catalog_delay s. Its requests and max_in_flight count the
        catalog calls only; shared (an InFlight) counts them over several agents."""
        body = snapshot_body or (lambda: json.dumps(snapshot()).encode())

        def catalog(req):
            return req.path.startswith("/v1/services")

        def reply(req):
            if catalog(req):
                time.sleep(catalog_delay)
                return json_reply(200, {"services": [{"name": "a.service"}]}, close=False)
            return http_reply(body(), close=False)
        return self.fake_agent(reply, keep_alive=True, counted=catalog, shared=shared)

    def watched(self, agent_extra=None, agg_extra=None, **agg_kw):
        """A live agent polled by an aggregator as "srv"; returns (agent, aggregator, id)."""
        a = self.agent(self.live_proc(), extra=agent_extra or {})
        g = self.aggregator([{"name": "srv", "host": "127.0.0.1", "agent_port": a.port,
                              "token": a.token, "enabled": True}], extra=agg_extra, **agg_kw)
        sid = wait_until(lambda: g.servers()["srv"]["online"] and g.servers()["srv"]["id"],
                         timeout=10, what="srv online")
        return a, g, sid

    def assert_stayed_online(self, g, sid):
        s = g.servers()["srv"]
        self.assertTrue(s["online"], s)
        self.assertIsNone(s["last_error"], s)
        downs = [e for e in g.events(server_id=sid) if e["type"] == "server_down"]
        self.assertEqual(downs, [])
