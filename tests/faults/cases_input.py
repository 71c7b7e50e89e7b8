# SPDX-License-Identifier: MIT
"""Fault cases of hostile input and load: malformed agent replies and request bodies,
slow-loris clients, connection floods."""
import json
import socket
import time

from faultlib import (INTERVAL, RESET, FakeAgent, Prober, SlowClients, case,
                      check, events_of, fd_count, http, http_reply, raw_request, server_by_name,
                      server_entry, settle_fds, snapshot_body, status_of, wait_online, wait_until)

DOCUMENTED_ERRORS = ("timeout", "connection refused", "host not found",
                     "token rejected (HTTP 401)", "forbidden (HTTP 403)", "reply too large",
                     "connection reset")


def documented(err):
    """True when err is one of the last_error forms the README promises."""
    return bool(err) and (err in DOCUMENTED_ERRORS or err.startswith("bad reply: ") or
                          (err.startswith("HTTP ") and err[5:].isdigit()))


def snapshot_with(**changes):
    s = json.loads(snapshot_body())
    s.update(changes)
    return json.dumps(s)


def bad_agent_replies():
    """(label, raw reply) pairs an agent must never be able to crash the aggregator with."""
    good = snapshot_body().encode()
    gpu = {"index": 0, "name": "g", "util_pct": 1}
    disk = {"mount": "/", "used_bytes": 1, "total_bytes": 2, "used_pct": 50}
    unit = {"name": "a.service", "active_state": "active", "sub_state": "running"}
    return [
        ("malformed JSON", http_reply('{"node_id": "x", "cpu_pct": ')),
        ("truncated body", http_reply(good[:60], content_length=len(good))),
        ("wrong types", http_reply('{"ts": 5, "cpu_pct": "high", "disks": {}, "gpus": "none"}')),
        ("wrong nested types", http_reply(snapshot_with(disks=[{"mount": 7}]))),
        ("NaN", http_reply(snapshot_body().replace('"cpu_pct": 10.0', '"cpu_pct": NaN'))),
        ("1e999", http_reply(snapshot_body().replace('"cpu_pct": 10.0', '"cpu_pct": 1e999'))),
        ("huge numbers", http_reply(snapshot_with(uptime_s=1e300, cpu_count=1e20,
                                                  mem={"used_bytes": 1e308, "total_bytes": 1,
                                                       "used_pct": 50}))),
        ("negative pct", http_reply(snapshot_with(cpu_pct=-5))),
        ("10 MB body", http_reply('{"pad": "' + "x" * (10 * 1024 * 1024) + '"}')),
        ("10,000 GPUs", http_reply(snapshot_with(gpus=[gpu] * 10000))),
        ("10,000 disks", http_reply(snapshot_with(disks=[disk] * 10000))),
        ("10,000 units", http_reply(snapshot_with(services=[unit] * 10000))),
        ("10,000-deep nesting", http_reply('{"a": ' + "[" * 10000 + "]" * 10000 + "}")),
        ("not an object", http_reply("[1, 2, 3]")),
        ("empty 200", http_reply("")),
        ("invalid UTF-8", http_reply(snapshot_body().replace('"fake"', '"f\xff\xfe"')
                                     .encode("latin-1"))),
        ("not HTTP", b"HELLO\r\n\r\n"),
        ("closed at once", None),
        ("reset", RESET),
    ]


def check_api_json(g, what):
    """Every view of the server list decodes as strict UTF-8 JSON."""
    r = g.api("GET", "/api/servers")
    check(r.status == 200, f"{what}: /api/servers {r.status}")
    servers = json.loads(r.body.decode("utf-8"))
    for s in servers:
        d = g.api("GET", f"/api/servers/{s['id']}")
        check(d.status == 200, f"{what}: detail {d.status}")
        json.loads(d.body.decode("utf-8"))
    return servers


@case(4, "malformed input",
      "malformed/truncated/mistyped/NaN/huge agent replies, 10 MB bodies and 10,000-element "
      "arrays give a documented last_error or a 4xx, never a crash, 5xx or invalid JSON")
def malformed_input(ctx):
    proc = ctx.live_proc()
    a = ctx.agent(proc)
    fakes = []
    for label, raw in bad_agent_replies():
        f = FakeAgent(lambda req, raw=raw: raw)
        ctx.defer(f.close)
        fakes.append((label, f))
    servers = [server_entry("good", a)] + [
        {"name": f"bad{i}", "host": "127.0.0.1", "agent_port": f.port, "token": "t0123456"}
        for i, (_, f) in enumerate(fakes)]
    g = ctx.aggregator(servers)
    wait_online(g, "good")

    def settled():
        by = {s["name"]: s for s in g.api("GET", "/api/servers").json()}
        return all(by[f"bad{i}"]["last_error"] for i in range(len(fakes))) and by
    by = wait_until(settled, timeout=15, what="every bad reply reported")
    time.sleep(2 * INTERVAL)  # a few more rounds of the same bad replies
    by = {s["name"]: s for s in check_api_json(g, "agent replies")}
    errors = {}
    for i, (label, f) in enumerate(fakes):
        s = by[f"bad{i}"]
        check(not s["online"] and s["status"] == "offline", f"{label}: {s['status']}")
        check(documented(s["last_error"]), f"{label}: undocumented last_error "
                                           f"{s['last_error']!r}")
        check(f.requests >= 2, f"{label}: polled {f.requests} times")
        errors[label] = s["last_error"]
    check(by["good"]["online"] and by["good"]["latest"]["cpu_pct"] == 25.0,
          f"good server {by['good']['status']}")

    # The aggregator's API: bad bodies and parameters get a 4xx with a JSON error.
    statuses = {}
    base = {"name": "n1", "host": "127.0.0.1", "agent_port": 9109, "token": "t0123456"}

    def post(label, body, method="POST", path="/api/servers"):
        r = g.api(method, path, body)
        statuses[label] = r.status
        check(400 <= r.status < 500, f"API {label}: HTTP {r.status} {r.body[:200]!r}")
        if r.status != 413 or r.body:
            check("error" in json.loads(r.body.decode("utf-8")), f"API {label}: no error field")

    post("malformed JSON", b'{"name": ')
    post("wrong types", {"name": 5, "host": [], "agent_port": "x", "enabled": "yes",
                         "services": "a", "token": {}})
    post("NaN", json.dumps(base).replace("9109", "NaN").encode())
    post("1e999", json.dumps(base).replace("9109", "1e999").encode())
    post("huge port", dict(base, agent_port=1e308))
    post("fraction port", dict(base, agent_port=80.5))
    post("2^53+1 port", json.dumps(base).replace("9109", "9007199254740993").encode())
    post("10,000 services", dict(base, services=[f"u{i}.service" for i in range(10000)]))
    post("10,000-deep nesting", b'{"name": ' + b"[" * 10000 + b"]" * 10000 + b"}")
    post("not an object", b"[1, 2, 3]")
    post("empty body", b"")
    post("invalid UTF-8", json.dumps(base).replace("n1", "n\xff").encode("latin-1"))
    for label, path in (("limit overflow", "/api/events?limit=99999999999999999999"),
                        ("before overflow", "/api/events?before=-99999999999999999999"),
                        ("id overflow", "/api/servers/99999999999999999999"),
                        ("range overflow", "/api/servers/1/timeseries?metric=cpu_pct"
                                           "&from=0001-01-01&to=9999-12-31")):
        r = g.api("GET", path)
        statuses[label] = r.status
        check(400 <= r.status < 500, f"API {label}: HTTP {r.status}")
    # 10 MB body: refused from its Content-Length, before it is read.
    big = b"x" * (10 * 1024 * 1024)
    raw = raw_request(g.port, b"POST /api/servers HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nX-Admin-Token: " + g.admin_token.encode() +
                      b"\r\nContent-Length: " + str(len(big)).encode() + b"\r\n\r\n" + big)
    statuses["10 MB body"] = status_of(raw)
    check(status_of(raw) == 413, f"10 MB body: {raw[:100]!r}")
    # 10 MB chunked (no Content-Length): refused with 411 before any chunk is read.
    chunks = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in [b"y" * 65536] * 160) + \
        b"0\r\n\r\n"
    raw = raw_request(g.port, b"POST /api/servers HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nX-Admin-Token: " + g.admin_token.encode() +
                      b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    statuses["10 MB chunked"] = status_of(raw)
    check(status_of(raw) == 411, f"10 MB chunked: {raw[:100]!r}")
    # Truncated body: the client half-closes after 10 of 1000 announced bytes.
    raw = raw_request(g.port, b"POST /api/servers HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nX-Admin-Token: " + g.admin_token.encode() +
                      b"\r\nContent-Length: 1000\r\n\r\n{\"name\": \"", shutdown=True,
                      timeout=20)
    statuses["truncated body"] = status_of(raw)
    check(status_of(raw) in (None, 400), f"truncated body: {raw[:100]!r}")
    # Nothing was added, and the server list is as before.
    names = {s["name"] for s in check_api_json(g, "after bad requests")}
    check(names == {s["name"] for s in servers}, f"servers changed: {names}")
    post("PUT wrong types", {"agent_port": "x"}, "PUT", f"/api/servers/{by['good']['id']}")
    check(server_by_name(g, "good")["agent_port"] == a.port, "PUT with bad body changed it")

    # The agent: bodies are refused, oversized request lines and headers answered.
    agent_status = {}
    for label, data in (
            ("body", b"GET /v1/snapshot HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"),
            ("10,000 units in query", b"GET /v1/snapshot?services=" +
             b",".join(b"u%d.service" % i for i in range(10000)) + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("64 KB header", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 65536 +
             b"\r\n\r\n"),
            ("garbage", b"\x00\xff\xfe GARBAGE\r\n\r\n"),
            ("bad token bytes", b"GET /v1/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                b"Bearer \xff\xfe\r\n\r\n")):
        raw = raw_request(a.port, data)
        agent_status[label] = status_of(raw)
        check(status_of(raw) is None or 400 <= status_of(raw) < 500,
              f"agent {label}: {raw[:100]!r}")
    r = a.get("/v1/snapshot")
    check(r.status == 200, f"agent after bad requests: {r.status}")
    ctx.fig("bad_replies", len(fakes))
    ctx.fig("last_errors", len(set(errors.values())))
    ctx.fig("api_4xx", len(statuses))
    ctx.fig("agent_4xx", len(agent_status))
    print("agent reply -> last_error:\n" + "\n".join(f"  {k}: {v}" for k, v in errors.items()))
    print("API request -> status: " + ", ".join(f"{k}: {v}" for k, v in statuses.items()))
    print("agent request -> status: " + ", ".join(f"{k}: {v}" for k, v in agent_status.items()))


@case(5, "slow-loris against the agent and the aggregator API",
      "64 slow clients (header or body a byte per second) on each daemon do not block a normal "
      "client (every request answered, < 2 s) nor the aggregator's polls")
def slow_loris(ctx):
    proc, a, g, sid = ctx.watched_agent()
    fds_a, fds_g = fd_count(a.proc.pid), fd_count(g.proc.pid)
    tok = g.admin_token.encode()
    slow = [SlowClients(a.port, 64, b"GET /v1/snapshot HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                        src_net="127.0.5."),
            SlowClients(g.port, 32, b"GET /api/servers HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                        src_net="127.0.6."),
            SlowClients(g.port, 32, b"POST /api/servers HTTP/1.1\r\nHost: x\r\nX-Admin-Token: " +
                        tok + b"\r\nContent-Type: application/json\r\nContent-Length: 60000"
                        b"\r\n\r\n{", src_net="127.0.7.")]
    for s in slow:
        ctx.defer(s.close)
    pa = Prober(a.base + "/v1/snapshot", token=a.token)
    pg = Prober(g.base + "/api/servers")
    time.sleep(15)  # longer than either daemon's idle timeout (10 s, 15 s)
    held = [s.held() for s in slow]
    pa.stop()
    pg.stop()
    for s in slow:
        s.close()
    check(not pa.failures(), f"agent: normal client failed {len(pa.failures())} of "
                             f"{len(pa.results)}: {pa.failures()[:3]}")
    check(not pg.failures(), f"aggregator: normal client failed {len(pg.failures())} of "
                             f"{len(pg.results)}: {pg.failures()[:3]}")
    check(pa.max_latency() < 2.0, f"agent: max latency {pa.max_latency():.2f}s")
    check(pg.max_latency() < 2.0, f"aggregator: max latency {pg.max_latency():.2f}s")
    check(server_by_name(g, "srv")["online"], "agent looked offline during the slow-loris")
    check(events_of(g, sid, {"server_down"}) == [], "server_down during the slow-loris")
    settle_fds(a.proc.pid, fds_a + 2)
    settle_fds(g.proc.pid, fds_g + 2)
    ctx.fig("agent_max_s", pa.max_latency())
    ctx.fig("api_max_s", pg.max_latency())
    ctx.fig("requests", len(pa.results) + len(pg.results))
    ctx.fig("slow_held_after_15s", "/".join(str(h) for h in held))


def flood(port, n, pid, hold_s=3.0):
    """Opens n connections (half with a partial request), holds them, closes them; returns
    (connected, peak fds of pid, ok) where ok says whether the daemon stayed alive."""
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if i % 2:
                s.send(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            s.close()
            continue
        socks.append(s)
    peak = 0
    end = time.monotonic() + hold_s
    while time.monotonic() < end:
        peak = max(peak, fd_count(pid))
        time.sleep(0.2)
    for s in socks:
        s.close()
    return len(socks), peak


@case(6, "2,000 concurrent connections to each daemon",
      "no crash; the daemon's fd count stays bounded and returns to its baseline; normal "
      "requests work afterwards")
def connection_flood(ctx):
    proc, a, g, sid = ctx.watched_agent()
    for label, d, path, limit in (("agent", a, "/v1/health", 256),
                                  ("aggregator", g, "/api/health", 1024)):
        pid = d.proc.pid
        base = fd_count(pid)
        connected, peak = flood(d.port, 2000, pid)
        check(d.proc.poll() is None, f"{label} died under the flood: {d.output()[-2000:]}")
        after = settle_fds(pid, base + 2)
        check(peak <= base + limit + 16, f"{label}: {peak} fds for a limit of {limit}")
        r = http("GET", d.base + path, timeout=5)
        check(r.status == 200, f"{label} after the flood: {r.status}")
        ctx.fig(f"{label}_fds", f"{base}/{peak}/{after}")
        ctx.fig(f"{label}_connected", connected)
    time.sleep(2 * INTERVAL)
    check(server_by_name(g, "srv")["online"], "agent offline after the flood")
    check(events_of(g, sid, {"server_down"}) == [], "server_down during the flood")
