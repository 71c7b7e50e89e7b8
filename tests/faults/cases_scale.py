# SPDX-License-Identifier: MIT
"""Fault cases of the aggregator at scale: starved of CPU while polling hundreds of agents
(issue 12: no false outage, health says overloaded), and ten agents that never stop sending
(issue 11 item 15: bounded memory, returned afterwards)."""
import os
import random
import signal
import subprocess
import threading
import time

from faultlib import BIN_DIR, FakeAgent, case, check, rss_kb, wait_until

CGROUP_CPU = "/sys/fs/cgroup/cpu"


class Fleet:
    """tests/fakes/fleet.c: count fake agents on a random loopback address (127.R.S.1), ports
    20000.., so that nothing else listening on 127.0.0.1 collides."""

    def __init__(self, ctx, count, token="fleet-token-0123"):
        self.count, self.token = count, token
        self.address = f"127.{random.randint(100, 249)}.{random.randint(0, 249)}.1"
        self.proc = subprocess.Popen(
            [os.path.join(BIN_DIR, "fleet"), "--base-port", "20000", "--count", str(count),
             "--address", self.address, "--ports-per-address", "40000", "--token", token],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
        ctx.defer(self.stop)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.wait(10)
            check(False, f"fleet did not start: {self.proc.stderr.read()[-500:]}")

    def servers(self):
        return [{"name": f"fleet-{k}", "host": self.address, "agent_port": 20000 + k,
                 "token": self.token, "services": [], "enabled": True} for k in range(self.count)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr = self.proc.stderr.read()
        check(self.proc.returncode == 0, f"fleet exited with {self.proc.returncode}: "
              f"{self.stderr[-1000:]}")


class CpuLimit:
    """Limits a process to share of one core: a cgroup v1 cpu quota when /sys/fs/cgroup/cpu
    can be written (a kernel-enforced, reproducible limit), else (or with
    LANMON_CPU_LIMIT=sigstop) a SIGSTOP/SIGCONT duty cycle with the same period (100 ms).
    Either way the process runs in bursts of share x 100 ms."""

    def __init__(self, pid, share):
        self.pid, self.share, self.stopping, self.released = pid, share, False, False
        self.thread = None
        self.group = os.path.join(CGROUP_CPU, f"lanmon-faults-{os.getpid()}-{pid}")
        try:
            if os.environ.get("LANMON_CPU_LIMIT") == "sigstop":  # to try the fallback here
                raise OSError("duty cycle asked for")
            os.mkdir(self.group)
            with open(os.path.join(self.group, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(self.group, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(int(100000 * share)))
            with open(os.path.join(self.group, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            self.how = f"cgroup cpu quota {share * 100:.0f} %"
        except OSError:
            self._remove_group()
            self.group = None
            self.how = f"SIGSTOP/SIGCONT duty cycle {share * 100:.0f} %"
            self.thread = threading.Thread(target=self._cycle, daemon=True)
            self.thread.start()

    def _cycle(self):
        run, stop = 0.1 * self.share, 0.1 * (1 - self.share)
        while not self.stopping:
            os.kill(self.pid, signal.SIGSTOP)
            time.sleep(stop)
            os.kill(self.pid, signal.SIGCONT)
            time.sleep(run)

    def _remove_group(self):
        try:
            os.rmdir(self.group)
        except OSError:
            pass

    def release(self):
        if self.released:
            return
        self.released = True
        if self.group:
            try:  # back into the cgroup this test runs in
                with open(os.path.join(CGROUP_CPU, "cgroup.procs"), "w") as f:
                    f.write(str(self.pid))
            except OSError:
                pass
            self._remove_group()
            self.group = None
        else:
            self.stopping = True
            self.thread.join(2)
            os.kill(self.pid, signal.SIGCONT)


def summary(g, timeout=15):
    return g.api("GET", "/api/servers/summary", timeout=timeout).json()


@case(31, "aggregator starved of CPU (5 % of a core) while polling 300 agents",
      "polls fall behind and /api/health says overloaded (logged once), yet no server_down, no "
      "server offline and no failed poll: every agent answered; back on schedule afterwards",
      limit_s=240)
def cpu_starved(ctx):
    n = 300
    fleet = Fleet(ctx, n)
    g = ctx.aggregator(fleet.servers(), interval="1s", timeout="500ms")
    wait_until(lambda: summary(g)["online"] == n, timeout=60, step=0.5, what=f"{n} online")
    time.sleep(2)
    h0 = g.api("GET", "/api/health").json()["poll"]
    check(not h0["overloaded"], f"overloaded before the limit: {h0}")
    limit = CpuLimit(g.proc.pid, 0.05)
    ctx.defer(limit.release)
    ctx.log(f"limited: {limit.how}")
    overloaded, max_lag, max_offline, t_end = False, 0, 0, time.monotonic() + 25
    while time.monotonic() < t_end:
        s = summary(g, timeout=30)
        overloaded = overloaded or s["poll"]["overloaded"]
        max_lag = max(max_lag, s["poll"]["lag_ms"])
        max_offline = max(max_offline, s["status"]["offline"])
        check(max_offline == 0, f"a server shown offline while starved: {s}")
        time.sleep(1)
    limit.release()
    ctx.log(f"released; lag was up to {max_lag} ms")
    wait_until(lambda: not g.api("GET", "/api/health").json()["poll"]["overloaded"],
               timeout=30, step=0.5, what="back on schedule")
    # Read once back on schedule: the loop publishes its counters once a round, and starved to
    # 5 % one round of the ASan build (replies of 300 agents, 256 new polls) can take longer
    # than the 25 s above, so the polls it started late are counted only when it comes round.
    h1 = g.api("GET", "/api/health", timeout=30).json()["poll"]
    wait_until(lambda: "polling is back on schedule" in g.output(), timeout=30, step=0.5,
               what="'back on schedule' in the log (10 s after keeping up again)")
    s = summary(g)
    downs = [e for e in g.api("GET", "/api/events?limit=1000").json()["events"]
             if e["type"] == "server_down"]
    log = g.output()
    behind = log.count("polling is behind schedule")
    check(overloaded, f"health never said overloaded (lag up to {max_lag} ms)")
    check(h1["late_polls"] > h0["late_polls"], f"no late polls counted: {h0} -> {h1}")
    check(h1["polls_failed"] == h0["polls_failed"], f"polls failed: {h0} -> {h1}")
    check(not downs, f"server_down events: {downs[:3]}")
    check(s["online"] == n and s["status"]["offline"] == 0, f"after the limit: {s}")
    check(1 <= behind <= 2, f"'behind schedule' logged {behind} times in 25 s (one a minute)")
    ctx.fig("limit", limit.how)
    ctx.fig("lag_max_ms", max_lag)
    ctx.fig("late_polls", h1["late_polls"] - h0["late_polls"])
    ctx.fig("server_down", len(downs))
    ctx.fig("offline_max", max_offline)


@case(32, "ten agents that never stop sending, poll.max_response_bytes at its maximum",
      "a cap above 8 MiB is refused; RSS stays within ten caps while they send and goes back "
      "down after (was: 617 MB, never returned)", limit_s=180)
def endless_replies(ctx):
    cap = 8 * 1024 * 1024
    g = ctx.aggregator(max_response_bytes=64 * 1024 * 1024, start=False)
    r = subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--config", g.config_path,
                        "--check-config"], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "max_response_bytes" in r.stderr and "8388608" in r.stderr,
          f"a 64 MiB cap was not refused: rc {r.returncode} {r.stderr.strip()}")
    agents = [FakeAgent("endless") for _ in range(10)]
    for a in agents:
        ctx.defer(a.close)
    servers = [{"name": f"endless-{i}", "host": "127.0.0.1", "agent_port": a.port,
                "token": "t-0123456789", "services": [], "enabled": True}
               for i, a in enumerate(agents)]
    # ASan keeps freed blocks in a quarantine; without it RSS shows what the code keeps.
    g = ctx.aggregator(servers, interval="2s", timeout="2s", max_response_bytes=cap,
                       env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:quarantine_size_mb=0"})
    pid = g.proc.pid
    time.sleep(1)
    base = rss_kb(pid)
    peak, t_end = base, time.monotonic() + 12
    while time.monotonic() < t_end:
        peak = max(peak, rss_kb(pid))
        time.sleep(0.2)
    errors = {s["last_error"] for s in g.servers().values()}
    for a in agents:
        a.close()
    after = wait_until(lambda: (lambda v: v if v - base <= 24 * 1024 else None)(rss_kb(pid)),
                       timeout=30, step=0.5, what="RSS back near the baseline")
    sent_mb = sum(a.sent_bytes for a in agents) / 1048576
    check(errors <= {"reply too large", "timeout"}, f"last errors {errors}")
    check(sent_mb > 100, f"the agents sent only {sent_mb:.0f} MiB")
    check(peak - base <= 10 * cap // 1024 * 2 + 32 * 1024,
          f"peak RSS {peak} KiB is {peak - base} KiB above the {base} KiB baseline")
    ctx.fig("sent_mib", round(sent_mb))
    ctx.fig("rss_kib base/peak/after", f"{base}/{peak}/{after}")
