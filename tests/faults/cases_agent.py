# SPDX-License-Identifier: MIT
"""Fault cases where a monitored machine misbehaves: agent killed, frozen, re-keyed, its GPU
driver or its system bus failing. Each checks what the aggregator and the agent report."""
import calendar
import os
import shutil
import signal
import subprocess
import tempfile
import time

from faultlib import (INTERVAL, OFFLINE_AFTER, case, check, events_of, fd_count, http,
                      server_by_name, server_entry, settle_fds, wait_online, wait_until)
from lanmon_testlib import DBusMock


def iso_age_s(ts):
    return time.time() - calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def wait_event_count(g, sid, etype, n, timeout):
    t0 = time.monotonic()
    wait_until(lambda: len(events_of(g, sid, {etype})) >= n, timeout=timeout, step=0.1,
               what=f"{n} {etype} event(s)")
    return time.monotonic() - t0


@case(1, "agent killed, restarted",
      "each kill -9 gives one server_down within 2×interval+timeout+1 s, each restart one "
      "server_up; no duplicates afterwards")
def agent_killed(ctx):
    proc, a, g, sid = ctx.watched_agent()
    detect, recover = [], []
    cycles = 3
    for i in range(cycles):
        ctx.kill9(a)
        detect.append(wait_event_count(g, sid, "server_down", i + 1, OFFLINE_AFTER + 5))
        # /api/servers is built at most every 500 ms: it follows the event within that.
        wait_until(lambda: not server_by_name(g, "srv")["online"], timeout=2,
                   what="offline after server_down")
        ctx.restart(a)
        recover.append(wait_event_count(g, sid, "server_up", i + 1, 10))
        wait_until(lambda: server_by_name(g, "srv")["online"], timeout=2,
                   what="online after server_up")
    time.sleep(3 * INTERVAL)
    types = [e["type"] for e in reversed(events_of(g, sid, {"server_down", "server_up"}))]
    check(types == ["server_down", "server_up"] * cycles, f"event sequence {types}")
    check(max(detect) <= OFFLINE_AFTER + 1, f"server_down after {max(detect):.2f}s")
    ctx.fig("cycles", cycles)
    ctx.fig("detect_max_s", max(detect))
    ctx.fig("recover_max_s", max(recover))
    ctx.fig("events", len(types))


@case(2, "agent SIGSTOPped for 60 s",
      "frozen agent (accepts, never answers): one server_down, API and the other server unaffected "
      "for 60 s, one server_up after SIGCONT, agent fds back to baseline",
      background=True, limit_s=180)
def agent_stopped(ctx):
    proc = ctx.live_proc()
    a = ctx.agent(proc, label="frozen agent")
    b = ctx.agent(proc, label="healthy agent", node_id="srv-b")
    g = ctx.aggregator([server_entry("frozen", a), server_entry("healthy", b)])
    sid, bid = wait_online(g, "frozen"), wait_online(g, "healthy")
    fds0 = fd_count(a.proc.pid)
    os.kill(a.proc.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    api_max = stale_max = lag_max = 0.0
    try:
        detect = wait_event_count(g, sid, "server_down", 1, OFFLINE_AFTER + 5)
        time.sleep(0.6)  # the server list is rebuilt at most every 500 ms
        while time.monotonic() - stopped_at < 60:
            t0 = time.monotonic()
            r = g.api("GET", "/api/servers", timeout=5)
            api_max = max(api_max, time.monotonic() - t0)
            check(r.status == 200, f"/api/servers {r.status}")
            by = {s["name"]: s for s in r.json()}
            check(not by["frozen"]["online"], "frozen agent shown online")
            check(by["healthy"]["online"], "healthy server went offline")
            stale_max = max(stale_max, iso_age_s(by["healthy"]["latest"]["ts"]))
            lag_max = max(lag_max, g.api("GET", "/api/health").json()["poll"]["lag_ms"] / 1000)
            time.sleep(1.0)
        frozen_for = time.monotonic() - stopped_at
        check(by["frozen"]["last_error"] == "timeout", f"last_error {by['frozen']['last_error']}")
        check(len(events_of(g, sid, {"server_down"})) == 1, "more than one server_down")
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    check(api_max < 2.0, f"/api/servers took {api_max:.2f}s while an agent was frozen")
    check(stale_max <= 5.0, f"healthy server's data {stale_max:.1f}s old")
    check(lag_max <= 1.5, f"poll lag {lag_max:.2f}s")
    recover = wait_event_count(g, sid, "server_up", 1, 15)
    s = a.get("/v1/snapshot").json()
    check(0 <= s["cpu_pct"] <= 100, f"cpu_pct {s['cpu_pct']} after SIGCONT")
    # The connections queued while it was frozen are accepted and dropped, none kept.
    fds_peak = fd_count(a.proc.pid)
    fds_after = settle_fds(a.proc.pid, fds0 + 2, timeout=30)
    time.sleep(2 * INTERVAL)
    check(len(events_of(g, sid, {"server_down"})) == 1, "a second server_down after SIGCONT")
    check(len(events_of(g, sid, {"server_up"})) == 1, "server_up repeated")
    check(events_of(g, bid, {"server_down", "server_up"}) == [], "healthy server had events")
    ctx.fig("frozen_s", frozen_for)
    ctx.fig("detect_s", detect)
    ctx.fig("recover_s", recover)
    ctx.fig("api_max_s", api_max)
    ctx.fig("healthy_age_max_s", stale_max)
    ctx.fig("agent_fds", f"{fds0}/{fds_peak}/{fds_after}")


@case(3, "agent answering 401 after its token is rotated",
      "last_error 'token rejected (HTTP 401)', one server_down, no repeats while it keeps "
      "refusing; PUT of the new token brings it back with one server_up")
def token_rotated(ctx):
    proc, a, g, sid = ctx.watched_agent()
    old, new = a.token, "rotated-token-9876543210"
    a.write_config(token=new)
    a.proc.send_signal(signal.SIGHUP)
    a.token = new
    t0 = time.monotonic()
    wait_until(lambda: server_by_name(g, "srv")["last_error"] == "token rejected (HTTP 401)",
               timeout=10, step=0.1, what="token rejected")
    seen = time.monotonic() - t0
    wait_event_count(g, sid, "server_down", 1, OFFLINE_AFTER + 5)
    r = http("GET", a.base + "/v1/snapshot", token=old)
    check(r.status == 401 and "Bearer" in r.headers.get("WWW-Authenticate", ""),
          f"old token: {r.status} {r.headers}")
    time.sleep(3 * INTERVAL)
    s = server_by_name(g, "srv")
    check(not s["online"] and s["status"] == "offline", f"status {s['status']}")
    check(len(events_of(g, sid, {"server_down"})) == 1, "server_down repeated")
    r = g.api("PUT", f"/api/servers/{sid}", {"token": new})
    check(r.status == 200, f"PUT token: {r.status} {r.body[:200]}")
    t0 = time.monotonic()
    wait_online(g, "srv")
    back = time.monotonic() - t0
    wait_event_count(g, sid, "server_up", 1, 5)
    time.sleep(2 * INTERVAL)
    types = [e["type"] for e in reversed(events_of(g, sid, {"server_down", "server_up"}))]
    check(types == ["server_down", "server_up"], f"events {types}")
    check(server_by_name(g, "srv")["last_error"] is None, "last_error kept after recovery")
    ctx.fig("401_seen_s", seen)
    ctx.fig("back_after_put_s", back)
    ctx.fig("events", len(types))


def agent_health(a):
    return a.get("/v1/health", token=None).json()


@case(13, "NVML failing mid-run (fake library)",
      "GPU errors, a lost GPU or an unloaded driver make the agent and the server 'degraded' "
      "(never ok with the GPUs gone, never offline) and both recover")
def nvml_failing(ctx):
    tmp = tempfile.mkdtemp(prefix="lanmon-nvml-")
    ctx.defer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    state = os.path.join(tmp, "state")
    proc, a, g, sid = ctx.watched_agent(env={"FAKE_NVML_STATE_FILE": state}, gpus=2)

    def healthy():
        h = agent_health(a)
        s = server_by_name(g, "srv")
        return (h["status"] == "ok" and h["checks"]["gpu"] == "ok" and s["status"] == "online"
                and s["latest"]["gpu_count"] == 2)
    wait_until(healthy, timeout=10, what="healthy with 2 GPUs")
    figures = {}
    for name, text in (("fail_all", "fail_all=1\n"), ("gpu_lost", "lost=1\n"),
                       ("driver_gone", "fail_all=1\ninit_fail=1\n")):
        with open(state, "w") as f:
            f.write(text)
        t0 = time.monotonic()

        def degraded():
            h = agent_health(a)
            s = server_by_name(g, "srv")
            return h["status"] == "degraded" and h["checks"]["gpu"] != "ok" and \
                s["status"] == "degraded" and (h, s)
        h, s = wait_until(degraded, timeout=15, what=f"degraded after {name}")
        t_deg = time.monotonic() - t0
        # It stays degraded while the fault lasts (the driver is re-tried meanwhile).
        end = time.monotonic() + 8
        while time.monotonic() < end:
            h = agent_health(a)
            s = server_by_name(g, "srv")
            check(h["status"] == "degraded" and h["checks"]["gpu"] != "ok",
                  f"{name}: agent health {h['status']}/{h['checks']['gpu']}: "
                  f"{h['details']['gpu']}")
            check(s["online"] and s["status"] == "degraded", f"{name}: server {s['status']}")
            time.sleep(0.5)
        if name == "gpu_lost":
            gpus = a.get("/v1/snapshot").json()["gpus"]
            check(len(gpus) == 2 and gpus[1].get("error") == "GPU is lost", f"gpus {gpus}")
        os.remove(state)
        t0 = time.monotonic()
        wait_until(healthy, timeout=45, step=0.25, what=f"recovery after {name}")
        figures[name] = (t_deg, time.monotonic() - t0)
    check(events_of(g, sid, {"server_down"}) == [], "server_down while only the GPU failed")
    for name, (d, r) in figures.items():
        ctx.fig(f"{name}_degraded_s", d)
        ctx.fig(f"{name}_recovered_s", r)


@case(14, "D-Bus gone mid-run",
      "with the system bus gone each unit carries an error and the server is 'degraded' (no "
      "service_failed); a new bus at the same address is picked up and units recover")
def dbus_gone(ctx):
    bus = DBusMock()
    ctx.defer(bus.close)
    proc = ctx.live_proc()
    units = ["nginx.service", "cron.service"]
    a = ctx.agent(proc, env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address},
                  extra={"services_allowlist": ["*.service"]})
    g = ctx.aggregator([server_entry("srv", a, services=units)])
    sid = wait_online(g, "srv")

    def snap_units():
        return {u["name"]: u for u in a.get("/v1/snapshot?services=" + ",".join(units))
                .json()["services"]}

    def ok():
        us = snap_units()
        s = server_by_name(g, "srv")
        return all(us[n].get("active_state") == "active" and "error" not in us[n]
                   for n in units) and s["status"] == "online" and \
            agent_health(a)["checks"]["systemd"] == "ok"
    wait_until(ok, timeout=10, what="units active")
    subprocess.run([bus.script, "--stop", bus.dir], check=True, timeout=30)
    t0 = time.monotonic()

    def broken():
        us = snap_units()
        s = server_by_name(g, "srv")
        return all(us[n].get("error") for n in units) and s["status"] == "degraded" and \
            agent_health(a)["status"] == "degraded" and us
    us = wait_until(broken, timeout=15, what="unit errors without a bus")
    t_err = time.monotonic() - t0
    check(server_by_name(g, "srv")["online"], "offline because the bus went away")
    time.sleep(2 * INTERVAL)
    subprocess.run([bus.script, bus.dir], check=True, timeout=30)
    t0 = time.monotonic()
    wait_until(ok, timeout=30, step=0.25, what="units back after the bus returned")
    t_back = time.monotonic() - t0
    time.sleep(2 * INTERVAL)
    check(events_of(g, sid, {"service_failed", "service_recovered", "server_down"}) == [],
          f"events {events_of(g, sid)}")
    ctx.fig("error_after_s", t_err)
    ctx.fig("recovered_after_s", t_back)
    ctx.fig("unit_error", us[units[0]]["error"][:40])
