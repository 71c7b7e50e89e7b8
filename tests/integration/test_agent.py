# SPDX-License-Identifier: MIT
"""Integration tests of the real monitor-agent binary on 127.0.0.1 with a live fixture procfs,
the fake NVML library, the fake nvidia-smi, a blocking statvfs shim and the D-Bus mock."""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (FAKES_DIR, FIXTURES, TESTS_DIR, Agent, DBusMock,  # noqa: E402
                            SLEEP_ARG, LiveProc, Sleepers, daemon_argv, http, scaled,
                            start_ticks, wait_until)

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def df_used_pct(mount):
    st = os.statvfs(mount)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    return used * 100.0 / (used + avail) if used + avail else 0.0


class AgentCase(unittest.TestCase):
    """Agents on a live fixture procfs, stopped and checked for a clean exit after each test."""

    def setUp(self):
        self.proc = LiveProc()
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            rc, _ = a.stop()
            out = a.output()
            a.close()
            # LeakSanitizer and UBSan make the agent exit non-zero: that is a failure too.
            if rc not in (0, None, -9):
                self.fail(f"agent exited with {rc}:\n{out[-3000:]}")
        self.proc.close()

    def agent(self, **kw):
        a = Agent(self.proc.dir, **kw)
        self.agents.append(a)
        return a


class AgentTest(AgentCase):
    def test_auth_and_routing(self):
        a = self.agent().start()
        r = a.get("/v1/snapshot", token=None)
        self.assertEqual(r.status, 401)
        self.assertIn("Bearer", r.headers.get("WWW-Authenticate", ""))
        self.assertIn("error", r.json())
        self.assertEqual(a.get("/v1/snapshot", token="wrong-token-0123456789").status, 401)
        self.assertEqual(a.get("/v1/snapshot", token="test-token-012345678").status, 401)
        self.assertEqual(a.get("/metrics", token=None).status, 401)
        self.assertEqual(a.get("/v1/services", token=None).status, 401)
        r = a.get("/v1/nope")
        self.assertEqual(r.status, 404)
        self.assertIn("error", r.json())
        r = http("POST", a.base + "/v1/snapshot", token=a.token, body={"x": 1})
        self.assertIn(r.status, (405, 413))
        r = http("DELETE", a.base + "/v1/snapshot", token=a.token)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("Allow"), "GET")
        self.assertEqual(a.get("/v1/health", token=None).status, 200)

    def test_snapshot_schema_and_values(self):
        a = self.agent().start()
        wait_until(lambda: a.get("/v1/snapshot").json()["cpu_pct"] == 25.0, timeout=10,
                   what="cpu_pct 25.0 from the live fixture")
        r = a.get("/v1/snapshot")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        s = r.json()
        self.assertEqual(s["node_id"], "srv-test")
        self.assertRegex(s["ts"], ISO_Z)
        self.assertEqual(s["cpu_count"], 4)
        self.assertEqual(s["mem"]["used_pct"], 75.0)
        self.assertEqual(s["mem"]["total_bytes"] - s["mem"]["used_bytes"], 4096000 * 1024)
        self.assertEqual(len(s["load"]), 3)
        self.assertIsInstance(s["uptime_s"], (int, float))
        self.assertIsInstance(s["agent_version"], str)
        disk = s["disks"][0]
        self.assertEqual(disk["mount"], "/")
        self.assertAlmostEqual(disk["used_pct"], df_used_pct("/"), delta=0.1)
        self.assertGreater(disk["total_bytes"], disk["used_bytes"])
        self.assertEqual(len(s["gpus"]), 2)
        for i, g in enumerate(s["gpus"]):
            self.assertEqual(g["index"], i)
            for key in ("name", "uuid", "util_pct", "mem_used_mb", "mem_total_mb", "temp_c",
                        "power_w"):
                self.assertIn(key, g)
            self.assertTrue(0 <= g["util_pct"] <= 100)
        self.assertNotIn("services", s)
        self.assertEqual(s["health"], "ok")
        # Every client gets the same sampled value: no per-request delta.
        values = {a.get("/v1/snapshot").json()["cpu_pct"] for _ in range(5)}
        self.assertEqual(values, {25.0})

    def test_health(self):
        a = self.agent().start()
        h = a.get("/v1/health", token=None).json()
        self.assertEqual(h["status"], "ok")
        self.assertRegex(h["timestamp"], ISO_Z)
        self.assertEqual(set(h["checks"]), {"cpu", "disk", "gpu", "systemd"})
        self.assertEqual(h["checks"]["systemd"], "off")
        self.assertIn("2 GPUs detected", h["details"]["gpu"])
        b = self.agent(extra={"gpu": "off"}).start()
        self.assertEqual(b.get("/v1/health", token=None).json()["checks"]["gpu"], "off")
        self.assertEqual(b.get("/v1/snapshot").json()["gpus"], [])

    def test_gpu_cases(self):
        a = self.agent(gpus=8).start()
        self.assertEqual(len(a.get("/v1/snapshot").json()["gpus"]), 8)
        b = self.agent(env={"FAKE_NVML_LOST": "1"}, gpus=3).start()
        s = b.get("/v1/snapshot").json()
        self.assertEqual(s["gpus"][1]["error"], "GPU is lost")
        self.assertIsNone(s["gpus"][1]["util_pct"])
        self.assertNotIn("error", s["gpus"][0])
        self.assertEqual(s["health"], "degraded")
        self.assertEqual(b.get("/v1/health", token=None).json()["checks"]["gpu"], "degraded")
        # No driver with gpu: auto → no GPUs and health says why, not degraded.
        c = self.agent(extra={"nvml_library": "/nonexistent/libnvidia-ml.so.1"}).start()
        s = c.get("/v1/snapshot").json()
        self.assertEqual(s["gpus"], [])
        h = c.get("/v1/health", token=None).json()
        self.assertEqual(h["checks"]["gpu"], "ok")
        self.assertIn("no NVIDIA driver", h["details"]["gpu"])
        # gpu: nvidia and no driver → an error in health.
        d = self.agent(extra={"nvml_library": "/nonexistent/x.so", "gpu": "nvidia"}).start()
        self.assertEqual(d.get("/v1/health", token=None).json()["checks"]["gpu"], "error")
        # NVML failing at init → the nvidia-smi fallback.
        e = self.agent(env={"FAKE_NVML_INIT_FAIL": "1", "FAKE_SMI_GPUS": "2"},
                       extra={"nvidia_smi": os.path.join(FAKES_DIR, "nvidia-smi")}).start()
        s = e.get("/v1/snapshot").json()
        self.assertEqual(len(s["gpus"]), 2)
        self.assertIn("nvidia-smi", e.get("/v1/health", token=None).json()["details"]["gpu"])

    def test_nvml_spawns_no_process(self):
        count = os.path.join(tempfile.mkdtemp(), "count")
        a = self.agent(env={"FAKE_SMI_COUNT_FILE": count},
                       extra={"nvidia_smi": os.path.join(FAKES_DIR, "nvidia-smi")}).start()
        time.sleep(2.5)
        self.assertEqual(len(a.get("/v1/snapshot").json()["gpus"]), 2)
        self.assertFalse(os.path.exists(count), "nvidia-smi ran although NVML works")

    def test_allow_from(self):
        a = self.agent(extra={"allow_from": ["10.0.0.0/8"]}).start(wait=False)
        wait_until(lambda: a.get("/v1/health", token=None).status == 403, timeout=10,
                   what="403 from a refused client")
        r = a.get("/v1/snapshot")  # valid token, but the address check comes first
        self.assertEqual(r.status, 403)
        self.assertIn("error", r.json())
        b = self.agent(extra={"allow_from": ["127.0.0.0/8", "::1"]}).start()
        self.assertEqual(b.get("/v1/snapshot").status, 200)

    def test_hung_mount_does_not_stall(self):
        mount = next((m for m in ("/dev/shm", "/dev", "/sys", "/proc") if os.path.ismount(m)),
                     None)
        if mount is None:
            self.fail("no second mount point on this machine to hang")
        shim = os.path.join(FAKES_DIR, "libstatvfs_hang.so")
        a = self.agent(extra={"disks": ["/", mount, "/nonexistent-mount"]},
                       env={"LD_PRELOAD": shim, "FAKE_STATVFS_HANG": mount,
                            "ASAN_OPTIONS": "detect_leaks=1:verify_asan_link_order=0"})
        a.start()
        t0 = time.monotonic()
        r = a.get("/v1/snapshot", timeout=3)
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertEqual(r.status, 200)

        def hung_entry():
            d = {x["mount"]: x for x in a.get("/v1/snapshot", timeout=3).json()["disks"]}
            return d if d[mount].get("stale") or "timed out" in d[mount].get("error", "") else None
        disks = wait_until(hung_entry, timeout=10, what="the hung mount reported stale")
        self.assertIsNotNone(disks["/"]["used_pct"])
        self.assertIn("error", disks["/nonexistent-mount"])
        self.assertEqual(a.get("/v1/health", token=None).json()["checks"]["disk"], "degraded")
        rc, took = a.stop()
        self.assertLess(took, 1.0)
        self.assertEqual(rc, 0)

    def test_metrics_pass_promtool(self):
        a = self.agent(extra={"disks": ["/", "/nonexistent-mount"]},
                       env={"FAKE_NVML_LOST": "1"}).start()
        r = a.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        body = r.body.decode()
        self.assertIn('monitor_disk_used_bytes{mount="/"}', body)
        self.assertIn('monitor_gpu_error{gpu="1"', body)
        p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_sighup_reload_and_sigterm(self):
        a = self.agent().start()
        pid = a.proc.pid
        a.write_config(token="rotated-token-9876543210", services_allowlist=["x.service"],
                       disks=["/", "/nonexistent-mount"])
        a.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: a.get("/v1/snapshot", token="rotated-token-9876543210").status == 200,
                   timeout=5, what="the rotated token accepted")
        self.assertEqual(a.get("/v1/snapshot").status, 401)
        self.assertEqual(a.proc.pid, pid)
        wait_until(lambda: len(a.get("/v1/snapshot", token="rotated-token-9876543210")
                               .json()["disks"]) == 2, timeout=5, what="reloaded disks")
        # A broken config on reload keeps the running one.
        with open(a.config_path, "a") as f:
            f.write("bogus_key: 1\n")
        a.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(a.get("/v1/snapshot", token="rotated-token-9876543210").status, 200)
        self.assertIn("bogus_key", a.output())
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.output())
        self.assertLess(took, 1.0)

    def test_command_line(self):
        a = self.agent()
        exe = os.path.join(os.environ["LANMON_BIN_DIR"], "monitor-agent")
        p = subprocess.run([exe, "--version"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"^monitor-agent \d+\.\d+\.\d+")
        p = subprocess.run([exe, "--config", a.config_path, "--check-config"],
                           capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        bad = os.path.join(a.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write('node_id: "x"\ntoken: "abcdefgh12"\ngpu: maybe\n')
        p = subprocess.run([exe, "--config", bad, "--check-config"], capture_output=True,
                           timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{bad}:3:", p.stderr.decode())
        self.assertIn("'gpu'", p.stderr.decode())
        p = subprocess.run([exe, "--config", a.config_path, "--print-snapshot"],
                           capture_output=True, timeout=20, env=a.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        snap = json.loads(p.stdout)
        self.assertEqual(snap["cpu_pct"], 25.0)
        env = dict(a.env, MONITOR_AGENT_CONFIG=bad)
        p = subprocess.run([exe, "--check-config"], capture_output=True, timeout=10, env=env)
        self.assertEqual(p.returncode, 1)


CLK_TCK = os.sysconf("SC_CLK_TCK")
BTIME = 1768600000  # the boot time in LiveProc's /proc/stat
XSS_NAME = "<img src=x onerror=alert(1)>"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def by_pid(gpu):
    return {p["pid"]: p for p in gpu["processes"]}


class NamespacedAgent(Agent):
    """An agent in a PID namespace of its own (as in a container without the host's PIDs):
    `unshare --pid --mount-proc` with a shell as the namespace's init, since the init of a
    namespace ignores SIGTERM. Stopped by signalling the agent itself."""

    def __init__(self, procfs, **kw):
        super().__init__(procfs, **kw)
        self.wrapper = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "/bin/sh",
                        "-c", '"$@" & wait $!', "sh"] + daemon_argv([])

    def _agent_pid(self):
        """The agent: the only child of the namespace's shell, itself unshare's child."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                init = int(f.read().split()[0])
            with open(f"/proc/{init}/task/{init}/children") as f:
                return int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signals the agent itself; unshare (which ignores SIGTERM) then exits with its status,
        or is killed after the timeout (--kill-child takes the namespace down)."""
        pid = self._agent_pid() if self.proc and self.proc.poll() is None else None
        if pid:
            os.kill(pid, sig)
        return super().stop(sig, timeout)


class AgentGpuTest(AgentCase):
    """Who is on each GPU and GPU health: real processes under other users reported through
    the fake NVML (tests run as root in CI), processes the agent cannot see, the 64-process cap,
    health figures, Xid events and the Xid thread at shutdown."""

    def setUp(self):
        super().setUp()
        self.sleepers = Sleepers(self.proc.dir)
        self.tmp = tempfile.mkdtemp(prefix="lanmon-gpu-")
        self.state = os.path.join(self.tmp, "nvml-state")
        self.write_state("")

    def tearDown(self):
        self.sleepers.close()
        super().tearDown()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_state(self, text):
        with open(self.state + ".new", "w") as f:
            f.write(text)
        os.replace(self.state + ".new", self.state)  # a new inode: the fake sees the change

    def gpu_agent(self, gpus=2, env=None, **kw):
        return self.agent(gpus=gpus, env=dict({"FAKE_NVML_STATE_FILE": self.state}, **(env or {})),
                          **kw)

    def sleeper(self, uid=None, name=None):
        return self.sleepers.spawn(uid, name)

    def snapshot_when(self, a, pred, what):
        return wait_until(lambda: (lambda s: s if pred(s) else None)(a.get("/v1/snapshot").json()),
                          timeout=10, what=what)

    def test_users_of_real_processes(self):
        nobody = self.sleeper(uid=65534)
        daemon = self.sleeper(uid=1)
        unnamed = self.sleeper(uid=54321)
        xss = self.sleeper(uid=65534, name=XSS_NAME)
        mine = self.sleeper()
        # a fixture process in a docker container (its files are not a real process's)
        shutil.copytree(os.path.join(FIXTURES, "proc", "pids", "4242"),
                        os.path.join(self.proc.dir, "4242"))
        self.write_state(f"procs@0={nobody.pid}:10240,{daemon.pid}:512,{xss.pid}:-\n"
                         f"procs@1={unnamed.pid}:100,4242:7000\n"
                         f"gprocs@1={mine.pid}:64,{unnamed.pid}:100\n")
        a = self.gpu_agent().start()
        s = self.snapshot_when(a, lambda s: len(s["gpus"][1].get("processes") or []) == 3,
                               "the processes of both GPUs")
        g0, g1 = by_pid(s["gpus"][0]), by_pid(s["gpus"][1])
        self.assertEqual(list(g0), [nobody.pid, daemon.pid, xss.pid])  # biggest first
        self.assertFalse(s["gpus"][0]["processes_truncated"])
        for p, uid in ((nobody, 65534), (daemon, 1), (xss, 65534), (unnamed, 54321)):
            e = (g0 if p.pid in g0 else g1)[p.pid]
            self.assertEqual(e["uid"], uid)
            try:
                self.assertEqual(e["user"], pwd.getpwuid(uid).pw_name)
            except KeyError:
                self.assertEqual(e["user"], str(uid))  # no passwd entry: the number
            self.assertEqual(e["started_at"], iso(BTIME + start_ticks(p.pid) // CLK_TCK))
            self.assertNotIn("error", e)
            self.assertEqual(e["type"], "compute" if p is not unnamed else "compute+graphics")
        self.assertEqual(g0[nobody.pid]["command"], "sleep")
        self.assertEqual(g0[nobody.pid]["used_mem_mb"], 10240)
        self.assertIsNone(g0[xss.pid]["used_mem_mb"])
        self.assertEqual(g0[xss.pid]["command"], XSS_NAME[:15])  # the kernel keeps 15 bytes
        self.assertEqual(g1[unnamed.pid]["user"], "54321")
        self.assertEqual(g1[mine.pid]["type"], "graphics")
        self.assertEqual(g1[mine.pid]["user"], "root")
        # real processes share the test's cgroup: the same container id (or none)
        containers = {e["container"] for e in list(g0.values()) + [g1[unnamed.pid]]}
        self.assertEqual(len(containers), 1)
        self.assertRegex(containers.pop() or "0" * 12, r"^[0-9a-f]{12}$")
        docker = g1[4242]
        self.assertEqual((docker["container"], docker["command"], docker["uid"]),
                         ("3f2a9c1b7d0e", "python3", 1))
        self.assertEqual(docker["started_at"], iso(BTIME + 2930939 // CLK_TCK))
        # every field of the issue is there, and nothing from the command line
        self.assertEqual(set(g0[nobody.pid]), {"pid", "user", "uid", "command", "type",
                                               "used_mem_mb", "container", "started_at"})
        self.assertNotIn(SLEEP_ARG, json.dumps(s["gpus"][0]["processes"]))  # sleep's argument

        # processes leave the GPUs (the driver drops a process's context when it exits); one
        # that had already exited when the driver listed it keeps its entry, with the reason
        gone = self.sleeper(uid=1)
        gone.kill()
        gone.wait(5)
        self.write_state(f"procs@0={nobody.pid}:10240,{gone.pid}:512\n")
        s = self.snapshot_when(a, lambda s: len(s["gpus"][0]["processes"]) == 2 and
                               s["gpus"][1]["processes"] == [], "the new process lists")
        e = by_pid(s["gpus"][0])[gone.pid]
        self.assertEqual((e["user"], e["uid"], e["command"], e["started_at"]),
                         (None, None, None, None))
        self.assertIn("not visible", e["error"])
        self.assertEqual(e["used_mem_mb"], 512)

    def test_pid_in_another_namespace(self):
        host = self.sleeper(uid=65534)
        self.write_state(f"procs={host.pid}:100,1:200\n")
        a = NamespacedAgent(self.proc.dir, gpus=1,
                            env={"FAKE_NVML_STATE_FILE": self.state, "FAKE_NVML_GPUS": "1"},
                            extra={"procfs_root": "/proc"})
        self.agents.append(a)
        a.start()
        s = self.snapshot_when(a, lambda s: len(s["gpus"][0].get("processes") or []) == 2,
                               "two processes")
        procs = by_pid(s["gpus"][0])
        # the host PID does not exist in the agent's namespace; PID 1 there is its shell
        self.assertIsNone(procs[host.pid]["user"])
        self.assertIn("another PID namespace", procs[host.pid]["error"])
        self.assertEqual(procs[host.pid]["used_mem_mb"], 100)
        self.assertEqual((procs[1]["command"], procs[1]["user"]), ("sh", "root"))
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.output()[-2000:])

    def test_at_most_64_processes(self):
        pids = [3900000 + i for i in range(70)]  # listed by the driver, unknown to /proc
        self.write_state("procs@1=" + ",".join(f"{p}:{p - 3899000}" for p in pids) + "\n")
        a = self.gpu_agent().start()
        s = self.snapshot_when(a, lambda s: s["gpus"][1].get("processes"), "GPU 1's processes")
        g = s["gpus"][1]
        self.assertEqual(len(g["processes"]), 64)
        self.assertTrue(g["processes_truncated"])
        self.assertEqual(g["processes"][0]["pid"], pids[-1])  # the biggest users are kept
        self.assertEqual(g["processes"][0]["used_mem_mb"], 1069)
        self.assertTrue(all(p["user"] is None and p["error"] for p in g["processes"]))
        self.assertEqual(s["gpus"][0]["processes"], [])
        self.assertIn('monitor_gpu_processes{gpu="1",uuid="GPU-00000000-0000-0000-0000-'
                      '000000000001",name="NVIDIA Fake GPU"} 70', a.get("/metrics").body.decode())

    def test_gpu_processes_off(self):
        p = self.sleeper(uid=65534)
        self.write_state(f"procs={p.pid}:100\n")
        a = self.gpu_agent(extra={"gpu_processes": False}).start()
        s = a.get("/v1/snapshot").json()
        for g in s["gpus"]:
            self.assertNotIn("processes", g)
            self.assertNotIn("processes_truncated", g)
            self.assertEqual(g["fan_pct"], 41)  # health stays
        self.assertNotIn("monitor_gpu_processes{", a.get("/metrics").body.decode())

    def test_health_and_xid(self):
        self.write_state("ecc_vol_unc@0=3\necc_agg_unc@0=5\nremap_pending@1=1\nremap_unc@1=2\n"
                         "throttle@0=0x4\nunsupported@1=fan,ecc\npstate@1=8\n")
        a = self.gpu_agent().start()
        g0, g1 = a.get("/v1/snapshot").json()["gpus"]
        self.assertEqual(g0["ecc"], {"mode": "enabled", "volatile_corrected": 0,
                                     "volatile_uncorrected": 3, "aggregate_corrected": 0,
                                     "aggregate_uncorrected": 5})
        self.assertEqual(g0["throttle"], ["sw_power_cap"])
        self.assertEqual((g0["fan_pct"], g0["sm_clock_mhz"], g0["power_limit_w"], g0["pstate"]),
                         (41, 1410, 400, 0))
        self.assertEqual(g1["remapped_rows"], {"corrected": 0, "uncorrected": 2, "pending": True,
                                               "failed": False})
        self.assertIsNone(g1["fan_pct"])  # the driver cannot say: null, never 0
        self.assertIsNone(g1["ecc"])
        self.assertEqual(g1["pstate"], 8)
        self.assertEqual(g0["xid"], [])
        t0 = time.time()
        with open(self.state, "a") as f:
            f.write("xid=1:79,1:48\n")
        s = self.snapshot_when(a, lambda s: len(s["gpus"][1]["xid"]) == 2, "two Xid events")
        self.assertEqual([x["code"] for x in s["gpus"][1]["xid"]], [79, 48])
        at = time.mktime(time.strptime(s["gpus"][1]["xid"][0]["at"], "%Y-%m-%dT%H:%M:%SZ")) - \
            time.timezone
        self.assertLess(abs(at - t0), 10)
        self.assertEqual(s["gpus"][0]["xid"], [])
        body = a.get("/metrics").body
        self.assertIn(b'monitor_gpu_xid_errors_total{gpu="1",uuid="GPU-00000000-0000-0000-0000-'
                      b'000000000001",name="NVIDIA Fake GPU"} 2', body)
        self.assertIn(b'monitor_gpu_row_remapping_pending{gpu="1"', body)
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())

    def test_xid_thread_and_shutdown(self):
        # the event wait fails for a while (driver trouble): the thread waits again afterwards
        self.write_state("xid_wait_error=999\n")
        a = self.gpu_agent().start()
        time.sleep(1.5)
        self.write_state("xid=0:31\n")
        self.snapshot_when(a, lambda s: s["gpus"][0]["xid"] and s["gpus"][0]["xid"][0]["code"] == 31,
                           "the Xid event after the errors")
        # a wait that hangs inside the driver does not hold up SIGTERM
        self.write_state("xid_hang=1\n")
        time.sleep(1.0)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.output()[-2000:])
        self.assertLess(took, scaled(2.0))

    def test_nvidia_smi_processes(self):
        p = self.sleeper(uid=1)
        count = os.path.join(self.tmp, "count")
        a = self.gpu_agent(env={"FAKE_NVML_INIT_FAIL": "1", "FAKE_SMI_GPUS": "2",
                                "FAKE_SMI_APPS": f"1:{p.pid}:300,1:3999999:-",
                                "FAKE_SMI_COUNT_FILE": count},
                           extra={"nvidia_smi": os.path.join(FAKES_DIR, "nvidia-smi")}).start()
        s = self.snapshot_when(a, lambda s: len(s["gpus"]) == 2, "GPUs through nvidia-smi")
        self.assertEqual(s["gpus"][0]["processes"], [])
        procs = by_pid(s["gpus"][1])
        self.assertEqual((procs[p.pid]["user"], procs[p.pid]["used_mem_mb"]),
                         (pwd.getpwuid(1).pw_name, 300))
        self.assertIsNone(procs[3999999]["used_mem_mb"])
        self.assertIn("error", procs[3999999])
        self.assertIsNone(s["gpus"][1]["fan_pct"])  # not in the CSV: absent


class AgentUnitsTest(unittest.TestCase):
    """Unit states over D-Bus against python-dbusmock's systemd template."""

    @classmethod
    def setUpClass(cls):
        cls.bus = DBusMock()

    @classmethod
    def tearDownClass(cls):
        cls.bus.close()

    def setUp(self):
        self.proc = LiveProc()
        self.agent = Agent(self.proc.dir, env={"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address},
                           extra={"services_allowlist": ["nginx.service", "myapp.service",
                                                         "backup.service", "d*.service"]})
        self.agent.start()

    def tearDown(self):
        rc, _ = self.agent.stop()
        out = self.agent.output()
        self.agent.close()
        self.proc.close()
        self.assertEqual(rc, 0, out[-3000:])

    def test_default_list_and_requested(self):
        s = self.agent.get("/v1/snapshot").json()
        units = {u["name"]: u for u in s["services"]}
        # the default list is the exact names of the allowlist (patterns excluded)
        self.assertEqual(set(units), {"nginx.service", "myapp.service", "backup.service"})
        self.assertEqual(units["nginx.service"]["active_state"], "active")
        self.assertEqual(units["nginx.service"]["sub_state"], "running")
        self.assertRegex(units["nginx.service"]["since"], ISO_Z)
        self.assertEqual(units["myapp.service"]["active_state"], "failed")
        s = self.agent.get("/v1/snapshot?services=nginx.service,ssh.service,docker.service") \
            .json()
        units = {u["name"]: u for u in s["services"]}
        self.assertEqual(units["ssh.service"]["error"], "not allowed")
        self.assertNotIn("active_state", units["ssh.service"])
        self.assertEqual(units["docker.service"]["active_state"], "active")  # via d*.service

    def test_state_change_seen(self):
        self.bus.set_unit("myapp.service", "active", "running")
        s = self.agent.get("/v1/snapshot?services=myapp.service").json()
        self.assertEqual(s["services"][0]["active_state"], "active")
        self.bus.set_unit("myapp.service", "failed", "failed")
        s = self.agent.get("/v1/snapshot?services=myapp.service").json()
        self.assertEqual(s["services"][0]["active_state"], "failed")

    def test_catalog(self):
        r = self.agent.get("/v1/services")
        self.assertEqual(r.status, 200)
        names = {u["name"]: u for u in r.json()["services"]}
        self.assertIn("nginx.service", names)
        self.assertIn("docker.service", names)
        self.assertNotIn("ssh.service", names)      # not in the allowlist
        self.assertNotIn("backup.service", names)   # inactive and disabled
        n = names["nginx.service"]
        self.assertTrue(n["description"])
        self.assertEqual(n["unit_file_state"], "enabled")
        h = self.agent.get("/v1/health", token=None).json()
        self.assertEqual(h["checks"]["systemd"], "ok")


class AgentNoBusTest(unittest.TestCase):
    def test_no_system_bus(self):
        proc = LiveProc()
        a = Agent(proc.dir, env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"},
                  extra={"services_allowlist": ["nginx.service"]})
        try:
            a.start()
            s = a.get("/v1/snapshot").json()
            self.assertIn("error", s["services"][0])
            h = a.get("/v1/health", token=None).json()
            self.assertEqual(h["checks"]["systemd"], "error")
            self.assertEqual(h["status"], "degraded")
            r = a.get("/v1/services")
            self.assertEqual(r.status, 503)
            empty = Agent(proc.dir).start()
            try:
                r = empty.get("/v1/services").json()
                self.assertEqual(r["services"], [])
                self.assertIn("services_allowlist", r["hint"])
            finally:
                self.assertEqual(empty.stop()[0], 0)
                empty.close()
        finally:
            rc, _ = a.stop()
            a.close()
            proc.close()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
