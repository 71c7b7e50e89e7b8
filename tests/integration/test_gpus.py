# SPDX-License-Identifier: MIT
"""The GPU fleet view end to end (issue 10): real agents whose fake NVML lists real processes
running under other users, a real aggregator polling them with a real SQLite file, and
GET /api/gpus naming the right users on the right GPUs within one poll; every GPU state and
every GPU event reached, none repeated across an aggregator restart; an idle countdown resumed
after a restart."""
import datetime
import os
import pwd
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (Agent, Aggregator, CleanupTestCase, Sleepers,  # noqa: E402
                            wait_until)

XSS_NAME = "<img src=x onerror=alert(1)>"
GPU_EVENTS = ("gpu_error", "gpu_recovered", "gpu_idle")


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)  # no passwd entry: the agent reports the number


class NvmlState:
    """The fake NVML's state file: key lines kept in a dict, the whole file replaced (a new
    inode, so the fake sees the change) on every set."""

    def __init__(self, path):
        self.path = path
        self.lines = {}
        self.write()

    def set(self, **kv):
        for k, v in kv.items():
            k = k.replace("_at_", "@")
            if v is None:
                self.lines.pop(k, None)
            else:
                self.lines[k] = v
        self.write()

    def write(self):
        with open(self.path + ".new", "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in self.lines.items()))
        os.replace(self.path + ".new", self.path)


class GpuFleetCase(CleanupTestCase):
    def setUp(self):
        super().setUp()
        self.proc = self.live_proc()
        self.sleepers = Sleepers(self.proc.dir)
        self.cleanups.append(self.sleepers.close)

    def gpu_agent(self, name, gpus, **state_kv):
        """An agent with gpus fake GPUs whose NVML state starts as state_kv (see NvmlState)."""
        state = NvmlState(os.path.join(self.sleepers.dir, f"nvml-{name}"))
        state.set(**state_kv)
        a = Agent(self.proc.dir, gpus=gpus, node_id=name,
                  env={"FAKE_NVML_STATE_FILE": state.path}).start()

        def stop():
            if a.proc and a.proc.poll() is None:
                rc, _ = a.stop()
                self.assertEqual(rc, 0, a.output()[-2000:])
            a.close()
        self.cleanups.append(stop)
        return a, state

    def aggregator(self, agents, extra=()):
        servers = [{"name": name, "host": "127.0.0.1", "agent_port": a.port, "token": a.token}
                   for name, a in agents]
        g = Aggregator(servers=servers, extra=list(extra)).start()

        def stop():
            rc, _ = g.stop()
            out = g.output()
            g.close()
            self.assertIn(rc, (0, -9), f"aggregator exit {rc}\n{out[-4000:]}")
        self.cleanups.append(stop)
        return g

    @staticmethod
    def gpus(g, query=""):
        r = g.api("GET", "/api/gpus" + query)
        assert r.status == 200, (r.status, r.body)
        return r.json()

    @staticmethod
    def gpu(g, server, index):
        for e in GpuFleetCase.gpus(g)["gpus"]:
            if e["server_name"] == server and e["index"] == index:
                return e
        return None

    def wait_gpu(self, g, server, index, pred, what, timeout=10):
        return wait_until(lambda: (lambda e: e if e and pred(e) else None)(
            self.gpu(g, server, index)), timeout=timeout, what=what)

    @staticmethod
    def gpu_events(g, types=GPU_EVENTS):
        return [e for e in reversed(g.events(limit=1000)) if e["type"] in types]


class UsersOnGpusTest(GpuFleetCase):
    def test_users_on_the_right_gpus(self):
        nobody = self.sleepers.spawn(uid=65534)
        nobody_xss = self.sleepers.spawn(uid=65534, name=XSS_NAME)
        daemon = self.sleepers.spawn(uid=1)
        unnamed = self.sleepers.spawn(uid=54321)
        a, _ = self.gpu_agent("srv-a", gpus=2, mem_used_mb_at_0=0,
                              procs_at_1=f"{nobody.pid}:2048,{nobody_xss.pid}:1024")
        b, _ = self.gpu_agent("srv-b", gpus=3, procs_at_0=f"{daemon.pid}:4096",
                              mem_used_mb_at_1=0, procs_at_2=f"{unnamed.pid}:100",
                              gprocs_at_2=f"{daemon.pid}:50")
        g = self.aggregator([("srv-a", a), ("srv-b", b)])

        def all_known(root):
            return (root if root["summary"]["total"] == 5 and root["summary"]["unknown"] == 0
                    and all(e["processes"] is not None for e in root["gpus"]) else None)
        root = wait_until(lambda: all_known(self.gpus(g)), timeout=10,
                          what="both servers' GPUs with their processes")
        by = {(e["server_name"], e["index"]): e for e in root["gpus"]}
        self.assertEqual(list(by), [("srv-a", 0), ("srv-a", 1), ("srv-b", 0), ("srv-b", 1),
                                    ("srv-b", 2)])  # by server, then GPU
        expect_users = {("srv-a", 0): [], ("srv-a", 1): [user_name(65534)],
                        ("srv-b", 0): [user_name(1)], ("srv-b", 1): [],
                        ("srv-b", 2): [user_name(54321), user_name(1)]}
        for key, users in expect_users.items():
            self.assertEqual(by[key]["users"], users, (key, by[key]))
        self.assertEqual([p["pid"] for p in by[("srv-a", 1)]["processes"]],
                         [nobody.pid, nobody_xss.pid])
        xss = by[("srv-a", 1)]["processes"][1]
        self.assertEqual((xss["command"], xss["uid"], xss["used_mem_mb"]),
                         (XSS_NAME[:15], 65534, 1024))
        procs_b2 = {p["pid"]: p for p in by[("srv-b", 2)]["processes"]}
        self.assertEqual(procs_b2[daemon.pid]["type"], "graphics")
        self.assertEqual(procs_b2[unnamed.pid]["user"], "54321")
        self.assertEqual(procs_b2[unnamed.pid]["type"], "compute")
        states = {k: e["state"] for k, e in by.items()}
        self.assertEqual(states[("srv-a", 0)], "free")
        self.assertEqual(states[("srv-b", 1)], "free")
        self.assertEqual(root["summary"]["free"], 2)
        self.assertEqual(root["summary"]["free"] + root["summary"]["busy"], 5)
        for e in root["gpus"]:
            self.assertEqual(set(e) >= {"server_id", "server_name", "index", "uuid", "name",
                                        "state", "state_since", "util_pct", "mem_used_mb",
                                        "mem_total_mb", "temp_c", "users", "processes",
                                        "health"}, True, e)
            self.assertFalse(e["stale"])
            self.assertEqual(e["health"]["fan_pct"], 41)
            self.assertEqual(e["health"]["ecc"]["mode"], "enabled")
        # the list filters; a wrong filter is a 400 with a JSON reason, an unknown server a 404
        free = self.gpus(g, "?state=free")
        self.assertEqual([(e["server_name"], e["index"]) for e in free["gpus"]],
                         [("srv-a", 0), ("srv-b", 1)])
        self.assertEqual(free["summary"], root["summary"])
        sid_b = g.servers()["srv-b"]["id"]
        only_b = self.gpus(g, f"?server_id={sid_b}&state=busy")
        self.assertEqual([e["index"] for e in only_b["gpus"]], [0, 2])
        self.assertEqual(only_b["summary"]["total"], 3)
        for q, status, text in (("?state=FREE", 400, "state: must be one of"),
                                ("?server_id=abc", 400, "server_id: must be a positive integer"),
                                ("?server_id=0", 400, "server_id"),
                                ("?server_id=999", 404, "no server with id 999")):
            r = g.api("GET", "/api/gpus" + q)
            self.assertEqual(r.status, status, q)
            self.assertIn(text, r.json()["error"])
        # /api/servers counts the free GPUs; the detail carries processes and health per GPU
        servers = g.servers()
        self.assertEqual(servers["srv-a"]["latest"]["gpu_free_count"], 1)
        self.assertEqual(servers["srv-b"]["latest"]["gpu_free_count"], 1)
        self.assertEqual(servers["srv-b"]["latest"]["gpu_error_count"], 0)
        detail = g.api("GET", f"/api/servers/{sid_b}").json()
        self.assertEqual([p["pid"] for p in detail["gpus"][0]["processes"]], [daemon.pid])
        self.assertEqual(detail["gpus"][0]["users"], [user_name(1)])
        self.assertEqual(detail["gpus"][0]["health"]["throttle"], [])
        self.assertIn(detail["gpus"][0]["state"], ("busy", "idle"))

    def test_a_new_user_within_one_poll(self):
        """The first poll after the agent has seen a process shows its user on that GPU."""
        a, state = self.gpu_agent("srv-a", gpus=2, mem_used_mb=0)
        g = self.aggregator([("srv-a", a)])
        self.wait_gpu(g, "srv-a", 1, lambda e: e["state"] == "free", "GPU 1 free")
        for uid in (65534, 1, 54321):
            p = self.sleepers.spawn(uid=uid)
            state.set(procs_at_1=f"{p.pid}:1024")
            wait_until(lambda: [x for x in a.get("/v1/snapshot").json()["gpus"][1]["processes"]
                                if x["pid"] == p.pid and x["user"]], timeout=10,
                       what="the agent to report the process")
            before = g.api("GET", "/api/health").json()["poll"]["polls_completed"]
            e = self.wait_gpu(g, "srv-a", 1, lambda e: e["users"] == [user_name(uid)],
                              f"uid {uid} on GPU 1", timeout=5)
            after = g.api("GET", "/api/health").json()["poll"]["polls_completed"]
            # the poll under way when the agent had it may have left before; the next one
            # must bring it
            self.assertLessEqual(after - before, 2, (before, after))
            self.assertEqual([x["pid"] for x in e["processes"]], [p.pid])
            self.assertEqual(self.gpu(g, "srv-a", 0)["users"], [])


class GpuStatesAndEventsTest(GpuFleetCase):
    def test_every_state_and_event_without_duplicates_across_restart(self):
        nobody = self.sleepers.spawn(uid=65534)
        daemon = self.sleepers.spawn(uid=1)
        # GPU 0 free, GPU 1 busy (80 %), GPU 2 held at 2 %: idle after idle_after
        a, st = self.gpu_agent("srv-gpu", gpus=3, mem_used_mb_at_0=0, util_at_1=80,
                               procs_at_1=f"{nobody.pid}:4096", util_at_2=2,
                               procs_at_2=f"{daemon.pid}:2048")
        g = self.aggregator([("srv-gpu", a)],
                            extra=["gpu_state: { free_mem_mb: 512, busy_util_pct: 10, "
                                   "idle_after: 3s }"])
        sid = wait_until(lambda: g.servers()["srv-gpu"]["id"], timeout=5, what="the server")
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "free", "GPU 0 free")
        self.wait_gpu(g, "srv-gpu", 1, lambda e: e["state"] == "busy", "GPU 1 busy")
        busy2 = self.wait_gpu(g, "srv-gpu", 2, lambda e: e["state"] in ("busy", "idle"), "GPU 2")
        idle = self.wait_gpu(g, "srv-gpu", 2, lambda e: e["state"] == "idle", "GPU 2 idle",
                             timeout=10)
        self.assertLessEqual(idle["state_since"], busy2["state_since"])  # idle since it dropped
        wait_until(lambda: self.gpu_events(g, ("gpu_idle",)), timeout=5, what="gpu_idle")
        ev = self.gpu_events(g, ("gpu_idle",))
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["server_id"], sid)
        self.assertRegex(ev[0]["message"],
                         rf"^GPU 2 \(NVIDIA Fake GPU\) on srv-gpu idle since "
                         rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ, held by {user_name(1)} "
                         rf"\(1 process\)$")
        self.assertEqual(self.gpus(g)["summary"],
                         {"total": 3, "free": 1, "busy": 1, "idle": 1, "error": 0, "unknown": 0})

        def error_then_recovered(what, cause, cure, index):
            n = len(self.gpu_events(g))
            cause()
            e = self.wait_gpu(g, "srv-gpu", index, lambda e: e["state"] == "error",
                              f"error: {what}")
            self.assertIn(what, e["state_reason"])
            # The plain list may be up to 0.5 s older than /api/gpus (docs/api.md).
            wait_until(lambda: g.servers()["srv-gpu"]["latest"]["gpu_error_count"] == 1,
                       timeout=5, what="gpu_error_count 1 in GET /api/servers")
            if cure:
                cure()
            self.wait_gpu(g, "srv-gpu", index, lambda e: e["state"] != "error",
                          f"recovered from {what}")
            got = wait_until(lambda: (lambda v: v if len(v) >= n + 2 else None)(
                self.gpu_events(g)), timeout=5, what=f"the events of {what}")
            self.assertEqual([x["type"] for x in got[n:]], ["gpu_error", "gpu_recovered"])
            self.assertIn(f"GPU {index} ", got[n]["message"])
            self.assertIn(what, got[n]["message"])
            self.assertRegex(got[n + 1]["message"], rf"^GPU {index} .*on srv-gpu recovered$")

        error_then_recovered("row remapping pending", lambda: st.set(remap_pending_at_0=1),
                             lambda: st.set(remap_pending_at_0=None), 0)
        error_then_recovered("row remapping failed", lambda: st.set(remap_failed_at_1=1),
                             lambda: st.set(remap_failed_at_1=None), 1)
        # new uncorrected ECC errors and an Xid mark one interval; they end by themselves
        error_then_recovered("uncorrected ECC +3", lambda: st.set(ecc_vol_unc_at_1=3), None, 1)
        error_then_recovered("Xid 79", lambda: st.set(xid="0:79"), None, 0)
        error_then_recovered("GPU is lost", lambda: st.set(lost=0), lambda: st.set(lost=None), 0)

        # In error (lost) and idle when the aggregator restarts: nothing is sent again.
        st.set(lost=0)
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "error", "GPU 0 lost again")
        wait_until(lambda: self.gpu_events(g)[-1]["type"] == "gpu_error", timeout=5,
                   what="gpu_error")
        before = self.gpu_events(g)
        g.stop()
        g.start()
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "error", "error after restart")
        self.wait_gpu(g, "srv-gpu", 2, lambda e: e["state"] == "idle", "idle after restart")
        polls = g.api("GET", "/api/health").json()["poll"]["polls_completed"]
        wait_until(lambda: g.api("GET", "/api/health").json()["poll"]["polls_completed"] >=
                   polls + 3, timeout=10, what="three more polls")
        self.assertEqual(self.gpu_events(g), before)
        st.set(lost=None)
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "free", "GPU 0 back")
        after = wait_until(lambda: (lambda v: v if len(v) > len(before) else None)(
            self.gpu_events(g)), timeout=5, what="gpu_recovered after the restart")
        self.assertEqual([x["type"] for x in after[len(before):]], ["gpu_recovered"])
        self.assertEqual(len([x for x in after if x["type"] == "gpu_idle"]), 1)
        # the events list filters by the new types
        self.assertEqual({x["type"] for x in g.events(type="gpu_idle")}, {"gpu_idle"})

        # unknown: the server is offline; its GPUs keep their last figures, marked stale
        a.stop(signal.SIGKILL)
        wait_until(lambda: all(e["state"] == "unknown" for e in self.gpus(g)["gpus"]),
                   timeout=10, what="unknown GPUs of an offline server")
        root = self.gpus(g)
        self.assertEqual(root["summary"]["unknown"], 3)
        self.assertTrue(all(e["stale"] for e in root["gpus"]))
        self.assertEqual(root["gpus"][1]["util_pct"], 80)

    def test_idle_events_off(self):
        daemon = self.sleepers.spawn(uid=1)
        a, _ = self.gpu_agent("srv-gpu", gpus=1, util=0, procs=f"{daemon.pid}:2048")
        g = self.aggregator([("srv-gpu", a)],
                            extra=["gpu_state: { idle_after: 1s }", "events: { gpu_idle: false }"])
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "idle", "GPU 0 idle")
        time.sleep(2)
        self.assertEqual(self.gpu_events(g), [])


class IdleCountdownRestartTest(GpuFleetCase):
    """The start of an idle countdown alone is written at the next checkpoint or at stop (not
    at every crossing of busy_util_pct); a restart in the middle of the countdown resumes it:
    the GPU turns idle idle_after from the drop, not from the restart."""

    def countdown_across_restart(self, checkpoint, sig):
        daemon = self.sleepers.spawn(uid=1)
        a, st = self.gpu_agent("srv-gpu", gpus=1, util=80, procs=f"{daemon.pid}:2048")
        servers = [{"name": "srv-gpu", "host": "127.0.0.1", "agent_port": a.port,
                    "token": a.token}]
        g = Aggregator(servers=servers, checkpoint=checkpoint,
                       extra=["gpu_state: { idle_after: 10s }"]).start()

        def stop():
            g.stop()
            g.close()
        self.cleanups.append(stop)
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "busy" and e["util_pct"] == 80,
                      "GPU 0 busy")
        st.set(util=2)
        self.wait_gpu(g, "srv-gpu", 0, lambda e: e["util_pct"] == 2, "the drop seen")
        dropped = time.time()
        time.sleep(3)  # past a 2-s checkpoint
        self.assertEqual(self.gpu(g, "srv-gpu", 0)["state"], "busy")  # counting down
        g.stop(sig)
        restarted = time.time()
        g.start()
        e = self.wait_gpu(g, "srv-gpu", 0, lambda e: e["state"] == "idle",
                          "idle after the restart", timeout=20)
        took = time.time() - restarted
        since = datetime.datetime.strptime(e["state_since"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertLessEqual(since, dropped)  # idle since the drop before the restart
        self.assertLess(took, 9)  # a countdown started afresh would take at least 10 s
        ev = wait_until(lambda: self.gpu_events(g, ("gpu_idle",)), timeout=5, what="gpu_idle")
        self.assertEqual(len(ev), 1)

    def test_written_at_checkpoint_survives_kill(self):
        self.countdown_across_restart("2s", signal.SIGKILL)

    def test_written_at_stop(self):
        self.countdown_across_restart("1h", signal.SIGTERM)


if __name__ == "__main__":
    unittest.main(verbosity=2)
