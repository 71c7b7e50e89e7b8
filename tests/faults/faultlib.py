# SPDX-License-Identifier: MIT
"""Fault-injection harness: numbered cases that each state what must hold, run one after the
other (long waits in background threads beside them) and summed up in a table; plus the
helpers they share (fd and RSS readings, slow clients; the fake agent is lanmon_testlib's
FakeAgent). Loopback only."""
import argparse
import http.client as http_client
import json
import os
import select
import socket
import sqlite3
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from lanmon_testlib import (BIN_DIR, RESET, Agent, Aggregator, FakeAgent,  # noqa: E402,F401
                            LiveProc, Prober, http, http_reply, server_entry, snapshot,
                            wait_until)

INTERVAL = 1.0
TIMEOUT = 0.5
OFFLINE_AFTER = 2 * INTERVAL + TIMEOUT + INTERVAL  # the README's bound, plus one interval


class Case:
    def __init__(self, num, title, holds, fn, background, limit_s):
        self.num, self.title, self.holds, self.fn = num, title, holds, fn
        self.background, self.limit_s = background, limit_s
        self.result, self.detail, self.figures, self.took = "NOT RUN", "", [], 0.0


CASES = {}


def case(num, title, holds, background=False, limit_s=240):
    """Registers fn(ctx) as fault case num; holds is the one-line property it checks.
    Background cases (long waits) run in a thread beside the others."""
    def deco(fn):
        CASES[num] = Case(num, title, holds, fn, background, limit_s)
        return fn
    return deco


def check(cond, msg):
    """An assertion that stays on with python -O and says what failed."""
    if not cond:
        raise AssertionError(msg)


class Ctx:
    """Per-case resources, cleaned up in reverse order; daemons must exit 0 (sanitizers on)."""

    def __init__(self, c):
        self.case = c
        self.cleanups = []
        self.figures = c.figures

    def fig(self, name, value):
        self.figures.append((name, value))

    def log(self, msg):
        print(f"[case {self.case.num} +{time.monotonic() - self.t0:5.1f}s] {msg}", flush=True)

    def defer(self, fn):
        self.cleanups.append(fn)

    def live_proc(self, busy=25):
        p = LiveProc(busy_pct=busy)
        self.defer(p.close)
        return p

    def _own(self, d, label, start=True):
        d.expect_dead = False
        d.label = label

        def stop():
            rc, _ = d.stop()
            out = d.output()
            if d.proc is not None and not d.expect_dead and rc != 0:
                raise AssertionError(f"{label} exited with {rc} (sanitizer report or crash):\n"
                                     f"{out[-3000:]}")
            if d.proc is not None and d.expect_dead and rc not in (0, -9):
                raise AssertionError(f"{label} exited with {rc}:\n{out[-3000:]}")
        self.defer(lambda: d.close())
        self.defer(stop)
        return d.start() if start else d

    def agent(self, proc, label="agent", start=True, **kw):
        return self._own(Agent(proc.dir, **kw), label, start)

    def aggregator(self, servers=(), label="aggregator", start=True, **kw):
        kw.setdefault("interval", f"{int(INTERVAL * 1000)}ms")
        kw.setdefault("timeout", f"{int(TIMEOUT * 1000)}ms")
        return self._own(Aggregator(servers=servers, **kw), label, start)

    def watched_agent(self, **agent_kw):
        """The usual start of a case: a live procfs, an agent on it and an aggregator polling
        it as "srv", once it is online. Returns (proc, agent, aggregator, server id)."""
        proc = self.live_proc()
        a = self.agent(proc, **agent_kw)
        g = self.aggregator([server_entry("srv", a)])
        return proc, a, g, wait_online(g, "srv")

    def kill9(self, d):
        """SIGKILL on purpose: the next start() of d is checked again."""
        d.expect_dead = True
        d.proc.kill()
        d.proc.wait(5)

    def restart(self, d, **kw):
        """Starts d again after kill9 (same port, same files)."""
        d.expect_dead = False
        if getattr(d, "log", None):
            d.log.close()
        return d.start(**kw)

    def close(self):
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report every cleanup failure
                errors.append(e)
        self.cleanups = []
        if errors:
            raise AssertionError("; ".join(str(e) for e in errors))


# ---- readings from /proc -------------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def settle_fds(pid, limit, timeout=20.0):
    """Waits until the process has at most limit fds; returns the count."""
    return wait_until(lambda: (lambda n: n if n <= limit else None)(fd_count(pid)),
                      timeout=timeout, step=0.2, what=f"fd count of {pid} back to <= {limit}")


# ---- the aggregator's view ---------------------------------------------------------------

def server_by_name(g, name, timeout=5.0):
    return {s["name"]: s for s in g.api("GET", "/api/servers", timeout=timeout).json()}[name]


def events_of(g, sid, types=None):
    ev = g.api("GET", f"/api/events?limit=1000&server_id={sid}").json()["events"]
    return [e for e in ev if types is None or e["type"] in types]


def wait_online(g, name, timeout=10.0):
    return wait_until(lambda: (lambda s: s if s["online"] else None)(server_by_name(g, name)),
                      timeout=timeout, what=f"{name} online")["id"]


def db_query(path, sql, args=()):
    con = sqlite3.connect(path, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---- clients -------------------------------------------------------------------------------

class SlowClients:
    """n connections, each from its own loopback source address (src_net + 1..n), that send
    `prefix` and then one more byte every `every` s, never finishing the request (slow-loris).
    held() tells how many the server still keeps open."""

    def __init__(self, port, n, prefix, every=1.0, src_net="127.0.5."):
        self.socks = []
        self.closed = set()
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"{src_net}{i + 1}", 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            s.sendall(prefix)
            s.setblocking(False)
            self.socks.append(s)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _poll_closed(self):
        open_ = [s for i, s in enumerate(self.socks) if i not in self.closed]
        if not open_:
            return
        readable, _, _ = select.select(open_, [], [], 0)
        for s in readable:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data or data.startswith(b"HTTP/"):
                self.closed.add(self.socks.index(s))

    def _run(self):
        while not self._stop.wait(self.every):
            self._poll_closed()
            for i, s in enumerate(self.socks):
                if i in self.closed:
                    continue
                try:
                    s.send(b"a")
                except OSError:
                    self.closed.add(i)

    def held(self):
        self._poll_closed()
        return len(self.socks) - len(self.closed)

    def close(self):
        self._stop.set()
        self._thread.join(self.every + 2)
        for s in self.socks:
            s.close()


def snapshot_body(node="fake", cpu=10.0):
    """The fault cases' snapshot text (their string replacements expect these values)."""
    return json.dumps(snapshot(node, agent_version="0.0.0", cpu_pct=cpu, cpu_count=1,
                               mem={"used_bytes": 1, "total_bytes": 2, "used_pct": 50.0}))


def raw_request(port, data, timeout=10.0, shutdown=False, src="127.0.0.1"):
    """Sends raw bytes and returns what came back until the server closed or went quiet
    (b"" when it closed without a word). shutdown: half-close after sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(src, 0)) as s:
        try:
            s.sendall(data)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            if len(rest) >= int(line.split(b":")[1]):
                                return out
        except (socket.timeout, OSError):
            pass
        return out


def status_of(raw):
    """The status code of a raw HTTP reply, or None."""
    if not raw.startswith(b"HTTP/"):
        return None
    return int(raw.split(b" ", 2)[1])


class KeepAliveClient:
    """One persistent HTTP/1.1 connection (http.client), reopened when the server closes it."""

    def __init__(self, port, headers=None, timeout=10.0):
        self.port, self.headers, self.timeout = port, dict(headers or {}), timeout
        self.conn = None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(self.headers)
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http_client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, payload
            except (http_client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


# ---- the runner ----------------------------------------------------------------------------

def _run_case(c):
    ctx = Ctx(c)
    ctx.t0 = time.monotonic()
    try:
        try:
            c.fn(ctx)
        finally:
            ctx.close()
        c.result = "PASS"
    except Exception as e:  # noqa: BLE001 - every failure becomes a FAIL row
        c.result = "FAIL"
        c.detail = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    c.took = time.monotonic() - ctx.t0
    print(f"[case {c.num}] {c.result} in {c.took:.1f}s", flush=True)


def _fmt_fig(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def print_table(cases):
    rows = [("case", "what must hold", "result", "figure(s)")]
    for c in cases:
        figs = ", ".join(f"{k}={_fmt_fig(v)}" for k, v in c.figures)
        rows.append((f"{c.num}. {c.title}", c.holds, f"{c.result} ({c.took:.0f}s)", figs))
    print("\nFault-injection results")
    for r in rows:
        print("| " + " | ".join(r) + " |")
        if r is rows[0]:
            print("|---|---|---|---|")
    for c in cases:
        if c.result != "PASS":
            print(f"\ncase {c.num} ({c.title}) {c.result}: {c.detail}")
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description="lanmon fault-injection suite")
    ap.add_argument("--cases", default="", help="comma-separated case numbers (default: all)")
    args = ap.parse_args(argv)
    wanted = [int(x) for x in args.cases.split(",") if x.strip()] or sorted(CASES)
    missing = [n for n in wanted if n not in CASES]
    if missing:
        print(f"unknown case(s): {missing}", file=sys.stderr)
        return 2
    chosen = [CASES[n] for n in wanted]
    # The file descriptors that case 6 needs (2,000 clients) and a little more.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    threads = []
    for c in chosen:
        if c.background:
            t = threading.Thread(target=_run_case, args=(c,), daemon=True)
            t.start()
            threads.append((c, t, time.monotonic()))
    for c in chosen:
        if not c.background:
            _run_case(c)
    for c, t, started in threads:
        t.join(max(1.0, c.limit_s - (time.monotonic() - started)))
        if t.is_alive():
            c.result, c.detail = "FAIL", f"did not finish within {c.limit_s} s"
    print_table(sorted(chosen, key=lambda c: c.num))
    return 0 if all(c.result == "PASS" for c in chosen) else 1
