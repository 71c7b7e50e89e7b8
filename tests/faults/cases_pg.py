# SPDX-License-Identifier: MIT
"""Fault cases of the aggregator on PostgreSQL, each with a server of its own (initdb + pg_ctl
in a temp folder, tests/integration/pgserver.py): the server stopped for 30 s mid-run, the
server ending the aggregator's sessions (pg_terminate_backend), kill -9 of the aggregator
around checkpoints."""
import os
import random
import subprocess
import time

from faultlib import (BIN_DIR, INTERVAL, case, check, events_of, server_by_name, server_entry,
                      wait_online, wait_until)
from pgserver import PgServer


def pg_server(ctx):
    s = PgServer(prefix="lanmon-fault-pg-").start()
    ctx.defer(s.close)
    return s


def bucket_rows(g, sid):
    return g.query("SELECT ts, samples FROM samples_hourly WHERE server_id = ? ORDER BY ts",
                   (sid,))


def total_samples(g, sid):
    return sum(n for _, n in bucket_rows(g, sid))


def db_health(g):
    return g.api("GET", "/api/health", timeout=5).json()["db"]


@case(15, "PostgreSQL server stopped for 30 s mid-run",
      "the live API keeps fresh values (< 2 s), /api/health says the database is down with "
      "libpq's reason; when the server is back the backlog lands: the event of a server that "
      "went down meanwhile once, every sample in the buckets, nothing dropped",
      background=True, limit_s=200)
def pg_server_stopped(ctx):
    pg = pg_server(ctx)
    proc = ctx.live_proc()
    a = ctx.agent(proc)
    b = ctx.agent(proc, label="agent going down", node_id="srv-b")
    g = ctx.aggregator([server_entry("srv", a), server_entry("down", b)], checkpoint="1s",
                       pg=pg)
    sid, bid = wait_online(g, "srv"), wait_online(g, "down")
    wait_until(lambda: total_samples(g, sid) > 0, timeout=10, what="a first checkpoint")
    time.sleep(1.5)
    before = total_samples(g, sid)
    pg.stop("fast")
    down_at = time.monotonic()
    api_max, pending_max, fresh, post, reason = 0.0, 0, set(), None, ""
    while time.monotonic() - down_at < 30:
        t0 = time.monotonic()
        r = g.api("GET", "/api/servers", timeout=5)
        api_max = max(api_max, time.monotonic() - t0)
        check(r.status == 200, f"/api/servers {r.status} with the database down")
        s = {x["name"]: x for x in r.json()}["srv"]
        check(s["online"], "server shown offline while the database was down")
        fresh.add(s["latest"]["ts"])
        h = db_health(g)
        pending_max = max(pending_max, h["pending_writes"])
        if not h["ok"] and h["last_error"]:
            reason = h["last_error"]
        if b.proc.poll() is None and time.monotonic() - down_at > 5:
            ctx.kill9(b)
        if post is None and time.monotonic() - down_at > 10:
            t0 = time.monotonic()
            r = g.api("POST", "/api/servers", {"name": "during-outage", "host": "127.0.0.1",
                                               "agent_port": 1, "token": "t0123456"},
                      timeout=15)
            post = (r.status, time.monotonic() - t0)
        time.sleep(0.5)
    check(not server_by_name(g, "down")["online"], "killed agent still online")
    check("database write failed" in reason and
          ("refused" in reason or "could not connect" in reason or "closed" in reason),
          f"/api/health while the server was down: {reason!r}")
    outage = time.monotonic() - down_at
    pg.start()
    t0 = time.monotonic()
    wait_until(lambda: (lambda d: d["ok"] and d["pending_writes"] == 0)(db_health(g)),
               timeout=30, what="the backlog written")
    drain = time.monotonic() - t0
    check(api_max < 2.0, f"/api/servers took {api_max:.2f}s with the database down")
    check(len(fresh) >= 20, f"only {len(fresh)} distinct sample times in 30 s")
    check(pending_max > 0, "no write waited for the database")
    check(post and post[0] >= 500 and post[1] < 10, f"POST while down: {post}")
    check(db_health(g)["dropped_writes"] == 0, f"dropped writes: {db_health(g)}")
    downs = events_of(g, bid, {"server_down"})
    check(len(downs) == 1, f"server_down events after the outage: {len(downs)}")
    # ~30 polls at 1 s happened during the outage; they are all in the buckets now.
    wait_until(lambda: total_samples(g, sid) >= before + 28, timeout=10,
               what="the outage's samples in the buckets")
    r = g.api("POST", "/api/servers", {"name": "after-outage", "host": "127.0.0.1",
                                       "agent_port": 1, "token": "t0123456"})
    check(r.status == 201, f"POST after the outage: {r.status}")
    ctx.fig("down_s", outage)
    ctx.fig("api_max_s", api_max)
    ctx.fig("fresh_samples", len(fresh))
    ctx.fig("pending_max", pending_max)
    ctx.fig("post_during", f"{post[0]} in {post[1]:.1f}s")
    ctx.fig("drain_s", drain)
    ctx.fig("samples", f"{before}->{total_samples(g, sid)}")
    ctx.fig("reason", reason[:60])


@case(16, "PostgreSQL ends the aggregator's sessions (pg_terminate_backend) every 2 s for 20 s",
      "no API request fails (a read retries once on a new session), no write is dropped or "
      "left pending, the sessions come back, no event is duplicated")
def pg_sessions_terminated(ctx):
    pg = pg_server(ctx)
    proc = ctx.live_proc()
    a = ctx.agent(proc)
    g = ctx.aggregator([server_entry("srv", a)], checkpoint="1s", pg=pg)
    sid = wait_online(g, "srv")
    wait_until(lambda: total_samples(g, sid) > 0, timeout=10, what="a first checkpoint")
    before = total_samples(g, sid)
    # Every read that goes to the database, and the live list.
    paths = ["/api/servers", "/api/events?limit=10", f"/api/events?server_id={sid}&limit=5",
             f"/api/servers/{sid}/timeseries?metric=cpu_pct"]
    killed, requests, failures, api_max = 0, 0, [], 0.0
    for _ in range(10):
        killed += pg.terminate(g.pg_db)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for p in paths:
                t0 = time.monotonic()
                r = g.api("GET", p, timeout=5)
                api_max = max(api_max, time.monotonic() - t0)
                requests += 1
                if r.status != 200:
                    failures.append((p, r.status, r.body[:200]))
            time.sleep(0.2)
    check(killed >= 20, f"only {killed} sessions ended")
    check(not failures, f"requests failed: {failures[:3]}")
    wait_until(lambda: (lambda d: d["ok"] and d["pending_writes"] == 0)(db_health(g)),
               timeout=15, what="writes settled")
    h = db_health(g)
    check(h["dropped_writes"] == 0, f"dropped writes: {h}")
    wait_until(lambda: total_samples(g, sid) >= before + 18, timeout=10,
               what="the buckets kept growing")
    # The sessions in use are back (a connection nobody used since stays closed until used),
    # and the one-aggregator lock with them.
    sessions = pg.sessions(g.pg_db)
    check(sessions >= 2, f"{sessions} sessions after the kills")
    locks = pg.sql("SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                   "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 7809911 AND "
                   "l.objid = 2 AND d.datname = %s", (g.pg_db,))[0][0]
    check(locks == 1, f"the instance lock is held {locks} times after the kills")
    types = [e["type"] for e in events_of(g, sid)]
    check(types == ["server_added"], f"events: {types}")
    ctx.fig("sessions_ended", killed)
    ctx.fig("requests", requests)
    ctx.fig("api_max_s", api_max)
    ctx.fig("samples", f"{before}->{total_samples(g, sid)}")
    ctx.fig("sessions_after", sessions)


@case(17, "aggregator kill -9 at random moments during 10 checkpoints (PostgreSQL)",
      "after every kill one row per bucket, stored samples never go down and a restart "
      "continues them (the old session's lock released), --check-db passes, no duplicate "
      "events")
def pg_kill9_checkpoints(ctx):
    seed = int(os.environ.get("LANMON_FAULT_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    pg = pg_server(ctx)
    proc = ctx.live_proc()
    a = ctx.agent(proc)
    g = ctx.aggregator([server_entry("srv", a)], checkpoint="1s", pg=pg)
    sid = wait_online(g, "srv")
    wait_until(lambda: total_samples(g, sid) > 0, timeout=10, what="a first checkpoint")
    prev, gains, restart_max = 0, [], 0.0
    for i in range(10):
        time.sleep(rng.uniform(0.1, 2.1))
        ctx.kill9(g)
        rows = bucket_rows(g, sid)
        check(len({ts for ts, _ in rows}) == len(rows), f"kill {i + 1}: duplicate rows {rows}")
        total = sum(n for _, n in rows)
        check(total >= prev, f"kill {i + 1}: stored samples went from {prev} to {total}")
        gains.append(total - prev)
        prev = total
        t0 = time.monotonic()
        ctx.restart(g)
        restart_max = max(restart_max, time.monotonic() - t0)
        wait_until(lambda: total_samples(g, sid) > prev, timeout=10,
                   what=f"the bucket continuing after restart {i + 1}")
    time.sleep(2 * INTERVAL)
    rc, _ = g.stop()
    check(rc == 0, f"aggregator exit {rc}: {g.output()[-2000:]}")
    final = total_samples(g, sid)
    check(final > prev, f"samples {prev} -> {final} at the last stop")
    p = subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--config",
                        g.config_path, "--check-db"], capture_output=True, timeout=30, env=g.env)
    check(p.returncode == 0, f"--check-db: {p.stdout.decode()[-500:]} {p.stderr.decode()[-500:]}")
    g.start()
    types = [e["type"] for e in events_of(g, sid)]
    check(types == ["server_added"], f"events after kills of a healthy setup: {types}")
    ctx.fig("seed", seed)
    ctx.fig("stored_samples", final)
    ctx.fig("rows", len(bucket_rows(g, sid)))
    ctx.fig("restart_max_s", restart_max)
