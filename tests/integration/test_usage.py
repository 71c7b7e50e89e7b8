# SPDX-License-Identifier: MIT
"""GPU usage accounting end to end (issue 15): real agents whose fake NVML lists real processes
under other users, a real aggregator with a real SQLite file, and GET /api/usage checked against
the scripted truth: two users on one GPU, one user on two GPUs, utilisation changed mid-hour, an
agent outage (not billed), an aggregator kill -9 (no double count after the restart), a server
deleted (its usage stays under its name); the CSV and the timeseries agree with the JSON.

How close the sums must be. A poll bills the time since the previous one at the state it sees,
so each change of a user's share is billed up to one poll interval early: over a window the sum
is within (the user's largest rate) x (one interval) of the truth, plus scheduling jitter. The
first poll after an agent outage is worth up to two intervals (the issue's cap), so one more
interval may be billed there. kill -9 loses what was not yet checkpointed (at most one
checkpoint, 1 s here) and the interval before the new process's first poll; a clean restart
mid-hour loses that interval too. A double count after either restart (the stored hour read
again after this process wrote it) would add everything before it (tens of seconds of GPU
time) and fail; so would a process counted again."""
import csv
import io
import os
import pwd
import signal
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (Agent, Aggregator, CleanupTestCase, Sleepers,  # noqa: E402
                            scaled, wait_until)
from test_gpus import NvmlState  # noqa: E402

INTERVAL = 1.0    # poll.interval of the aggregator below
CHECKPOINT = 1.0  # history.checkpoint
JITTER = 0.3      # polls late under a loaded machine
PHASE = 5.0       # seconds of each scripted phase


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Truth:
    """The scripted usage: rate functions of time per (server, user), integrated over the time
    the aggregator and the agent were up."""

    def __init__(self):
        self.events = {}   # name -> monotonic time

    def mark(self, name):
        self.events[name] = time.monotonic()

    def integrate(self, rate, windows):
        """rate(t) -> (gpu, busy, mem_mb) per second, piecewise constant between events."""
        cuts = sorted(set(self.events.values()))
        total = [0.0, 0.0, 0.0]
        for a, b in windows:
            points = [a] + [c for c in cuts if a < c < b] + [b]
            for x, y in zip(points, points[1:]):
                r = rate((x + y) / 2)
                for i in range(3):
                    total[i] += r[i] * (y - x)
        return total


class UsageTest(CleanupTestCase):
    def setUp(self):
        super().setUp()
        self.proc = self.live_proc()
        self.sleepers = Sleepers(self.proc.dir)
        self.cleanups.append(self.sleepers.close)

    def agent(self, name, gpus, state):
        a = Agent(self.proc.dir, gpus=gpus, node_id=name,
                  env={"FAKE_NVML_STATE_FILE": state.path}).start()

        def stop():
            if a.proc and a.proc.poll() is None:
                a.stop()
            a.close()
        self.cleanups.append(stop)
        return a

    @staticmethod
    def usage(g, **q):
        r = g.api("GET", "/api/usage?" + urllib.parse.urlencode(q))
        assert r.status == 200, (r.status, r.body)
        return r.json()

    def wait_users(self, g, server, index, users, what):
        def seen():
            r = g.api("GET", "/api/gpus")
            if r.status != 200:
                return None
            for e in r.json()["gpus"]:
                if e["server_name"] == server and e["index"] == index and \
                        e["state"] != "unknown" and sorted(e["users"]) == sorted(users):
                    return e
            return None
        return wait_until(seen, timeout=scaled(15), what=what)

    def wait_polls(self, g, n):
        def completed():
            r = g.api("GET", "/api/health")
            return r.json()["poll"]["polls_completed"] if r.status == 200 else None
        start = wait_until(completed, timeout=10, what="health")
        wait_until(lambda: (completed() or 0) >= start + n, timeout=scaled(20),
                   what=f"{n} more polls")

    def test_usage_matches_the_script(self):
        alice_p = self.sleepers.spawn(uid=65534)
        bob_p = self.sleepers.spawn(uid=1)
        alice, bob, unknown = user_name(65534), user_name(1), "(unknown)"
        tmp = self.sleepers.dir
        sa = NvmlState(os.path.join(tmp, "nvml-a"))
        sb = NvmlState(os.path.join(tmp, "nvml-b"))
        # srv-a: GPU 0 shared by alice (2000 MB) and bob (3000 MB) at 80 %; GPU 1 alice alone
        # (1000 MB) at 40 %. srv-b: GPU 0 holds 6000 MB with no visible process at 30 %.
        sa.set(util_at_0=80, mem_used_mb_at_0=5000, procs_at_0=f"{alice_p.pid}:2000,"
               f"{bob_p.pid}:3000", util_at_1=40, mem_used_mb_at_1=1000,
               procs_at_1=f"{alice_p.pid}:1000")
        sb.set(util_at_0=30, mem_used_mb_at_0=6000)
        a = self.agent("srv-a", 2, sa)
        b = self.agent("srv-b", 1, sb)
        servers = [{"name": n, "host": "127.0.0.1", "agent_port": x.port, "token": x.token}
                   for n, x in (("srv-a", a), ("srv-b", b))]
        g = Aggregator(servers=servers, interval="1s", checkpoint="1s").start()

        def stop_g():
            rc, _ = g.stop()
            out = g.output()
            g.close()
            self.assertIn(rc, (0, -9), f"aggregator exit {rc}\n{out[-4000:]}")
        self.cleanups.append(stop_g)
        t = Truth()
        t_from = int(time.time()) - 3600

        self.wait_users(g, "srv-a", 0, [alice, bob], "alice and bob on srv-a GPU 0")
        self.wait_users(g, "srv-b", 0, [], "srv-b's GPU")
        t.mark("start")
        time.sleep(PHASE)
        sa.set(util_at_0=20)                    # utilisation changes mid-hour
        t.mark("util")
        time.sleep(PHASE)
        b.stop(signal.SIGKILL)                  # agent outage
        t.mark("outage")
        time.sleep(PHASE)
        b.start()
        t.mark("agent_back")
        time.sleep(PHASE)
        g.stop(signal.SIGKILL)                  # aggregator killed mid-hour
        t.mark("kill")
        time.sleep(2)
        g.start()
        self.wait_users(g, "srv-a", 0, [alice, bob], "srv-a after the restart")
        self.wait_users(g, "srv-b", 0, [], "srv-b after the restart")
        t.mark("restarted")
        time.sleep(PHASE)
        g.stop()                                # a clean restart mid-hour: resumed, not doubled
        t.mark("stop")
        g.start()
        self.wait_users(g, "srv-a", 0, [alice, bob], "srv-a after the clean restart")
        t.mark("restarted2")
        time.sleep(PHASE)
        sa.set(procs_at_0=f"{alice_p.pid}:2000", mem_used_mb_at_0=2000)   # bob leaves
        t.mark("bob_left")
        time.sleep(PHASE)
        sa.set(procs_at_0=None, procs_at_1=None, mem_used_mb_at_0=0, mem_used_mb_at_1=0)
        sb.set(mem_used_mb_at_0=0)              # everything free
        t.mark("end")
        self.wait_users(g, "srv-a", 0, [], "srv-a free")
        self.wait_polls(g, 6)
        ev = t.events

        def between(x, y):
            return lambda at: ev[x] <= at < ev[y]

        def rate_alice(at):
            util0 = 0.8 if at < ev["util"] else 0.2
            share0 = 0.5 if at < ev["bob_left"] else 1.0
            return (share0 + 1.0, share0 * util0 + 0.4, 3000.0)

        def rate_bob(at):
            if at >= ev["bob_left"]:
                return (0, 0, 0)
            return (0.5, 0.5 * (0.8 if at < ev["util"] else 0.2), 3000.0)

        def rate_unknown(at):
            if between("outage", "agent_back")(at):
                return (0, 0, 0)
            return (1.0, 0.3, 6000.0)

        up = [(ev["start"], ev["kill"]), (ev["restarted"], ev["stop"]),
              (ev["restarted2"], ev["end"])]
        expect = {("srv-a", alice): (t.integrate(rate_alice, up), 2.0, 0),
                  ("srv-a", bob): (t.integrate(rate_bob, up), 0.5, 0),
                  ("srv-b", unknown): (t.integrate(rate_unknown, up), 1.0, 1)}
        got = self.usage(g, group_by="user,server", **{"from": iso(t_from),
                                                       "to": iso(time.time() + 3600)})
        self.assertTrue(got["partial"])
        rows = {(r["server_name"], r["user"]): r for r in got["rows"]}
        self.assertEqual(set(rows), set(expect), got)
        for key, (truth, max_rate, outages) in expect.items():
            r = rows[key]
            billed = r["gpu_hours"] * 3600
            slack = max_rate * (INTERVAL + JITTER)
            # each restart's first billed poll may reach back before the "restarted" mark
            over = slack + (outages + 1) * max_rate * INTERVAL
            # lost by kill -9 (a checkpoint and a poll), and the first poll after each start
            under = slack + max_rate * (CHECKPOINT + 2 * INTERVAL)
            msg = f"{key}: billed {billed:.2f} s, truth {truth[0]:.2f} s; events {ev}"
            print(f"{key}: GPU time billed {billed:.2f} s, scripted {truth[0]:.2f} s "
                  f"(allowed -{under:.2f}/+{over:.2f})", file=sys.stderr)
            self.assertLessEqual(billed - truth[0], over, msg)
            self.assertGreaterEqual(billed - truth[0], -under, msg)
            busy = r["busy_gpu_hours"] * 3600
            self.assertAlmostEqual(busy, truth[1], delta=over + under, msg=f"busy {msg}")
            mem = r["gpu_mem_gb_hours"] * 3600 * 1024
            mem_rate = 6000.0 if key[1] == unknown else 3000.0
            self.assertAlmostEqual(mem, truth[2], delta=mem_rate * (over + under) / max_rate,
                                   msg=f"memory {msg}")
            # figures are rounded to 0.0001 h (0.36 s): the ratio of rounded figures differs
            self.assertAlmostEqual(r["efficiency_pct"], 100 * busy / billed,
                                   delta=100 * 0.4 / billed + 0.1)
            self.assertIsNotNone(r["first_seen"])
            self.assertFalse(r["server_deleted"])
        self.assertEqual(rows[("srv-a", alice)]["max_gpus"], 2)   # one user on two GPUs
        self.assertEqual(rows[("srv-a", bob)]["max_gpus"], 1)
        # Processes: each one once per hour it ran in, also across the two restarts (a recount
        # after a restart would make 2 or 3); the memory without a process has none.
        hours = len({int(x // 3600) for x in (time.time() - (time.monotonic() - ev["start"]),
                                              time.time())})
        self.assertIn(rows[("srv-a", alice)]["processes"], range(1, hours + 1))
        self.assertIn(rows[("srv-a", bob)]["processes"], range(1, hours + 1))
        self.assertEqual(rows[("srv-b", unknown)]["processes"], 0)

        # By user: the sums over servers; the total: the sum of everything.
        by_user = {r["user"]: r for r in self.usage(g, **{"from": iso(t_from)})["rows"]}
        for (server, user), r in rows.items():
            self.assertAlmostEqual(by_user[user]["gpu_hours"], r["gpu_hours"], delta=0.0003)
        self.assertAlmostEqual(got["total"]["gpu_hours"],
                               sum(r["gpu_hours"] for r in rows.values()), delta=0.0005)
        # The CSV of the same selection: what a spreadsheet reads.
        q = urllib.parse.urlencode({"group_by": "user,server", "from": iso(t_from)})
        resp = g.api("GET", "/api/usage.csv?" + q)
        self.assertEqual(resp.status, 200)
        self.assertIn("text/csv", resp.headers.get("Content-Type"))
        self.assertIn("attachment", resp.headers.get("Content-Disposition"))
        self.assertTrue(resp.body.startswith(b"\xef\xbb\xbf"))
        self.assertIn(b"\r\n", resp.body)
        table = list(csv.DictReader(io.StringIO(resp.body.decode("utf-8-sig"), newline="")))
        self.assertEqual(len(table), len(rows))
        for line in table:
            r = rows[(line["server_name"], line["user"])]
            self.assertAlmostEqual(float(line["gpu_hours"]), r["gpu_hours"], delta=0.0003)
            self.assertEqual(int(line["max_gpus"]), r["max_gpus"])
            self.assertEqual(int(line["processes"]), r["processes"])
        # The timeseries sums to the same figure (hourly buckets, alice only).
        q = urllib.parse.urlencode({"user": alice, "bucket": "1h", "from": iso(t_from)})
        series = g.api("GET", "/api/usage/timeseries?" + q).json()
        self.assertEqual(series["user"], alice)
        self.assertAlmostEqual(sum(p["gpu_hours"] for p in series["points"]),
                               by_user[alice]["gpu_hours"], delta=0.0003)
        self.assertTrue(series["points"][-1].get("partial"))

        # Deleting srv-b keeps its usage, under its name, equal to before.
        before = rows[("srv-b", unknown)]["gpu_hours"]
        sid = g.servers()["srv-b"]["id"]
        self.assertEqual(g.api("DELETE", f"/api/servers/{sid}").status, 200)

        def deleted_row():
            for r in self.usage(g, group_by="server", **{"from": iso(t_from)})["rows"]:
                if r["server_id"] == sid and r["server_deleted"]:
                    return r
            return None
        r = wait_until(deleted_row, timeout=10, what="srv-b's usage after its deletion")
        self.assertEqual(r["server_name"], "srv-b")
        self.assertAlmostEqual(r["gpu_hours"], before, delta=0.0002)
        self.assertIsNone(r["user"])
        # And after another restart, from the database alone.
        g.stop()
        g.start()
        r = wait_until(deleted_row, timeout=10, what="srv-b's usage after a restart")
        self.assertAlmostEqual(r["gpu_hours"], before, delta=0.0002)


class UsageApiErrorsTest(CleanupTestCase):
    def test_bad_parameters_are_400(self):
        g = Aggregator().start()
        self.cleanups.append(g.close)
        for q in ("group_by=nobody", "from=yesterday", "server_id=0", "server_id=x",
                  "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
                  "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "user=" + "x" * 70):
            for path in ("/api/usage", "/api/usage.csv"):
                r = g.api("GET", f"{path}?{q}")
                self.assertEqual(r.status, 400, (path, q, r.body))
                self.assertIn("error", r.json())
        for q in ("bucket=5m", "tz_offset=30", "tz_offset=9999"):
            r = g.api("GET", f"/api/usage/timeseries?{q}")
            self.assertEqual(r.status, 400, (q, r.body))
        # Nothing used yet: empty, valid answers.
        r = g.api("GET", "/api/usage")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["rows"], [])
        self.assertEqual(r.json()["group_by"], "user")
        r = g.api("GET", "/api/usage.csv")
        self.assertEqual(r.body.decode("utf-8-sig").split("\r\n")[0].split(",")[:3],
                         ["user", "server_id", "server_name"])


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


if __name__ == "__main__":
    unittest.main()
