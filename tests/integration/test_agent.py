# SPDX-License-Identifier: MIT
"""Integration tests of the real monitor-agent binary on 127.0.0.1 with a live fixture procfs,
the fake NVML library, the fake nvidia-smi, a blocking statvfs shim and the D-Bus mock."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (FAKES_DIR, TESTS_DIR, Agent, DBusMock, LiveProc, http,  # noqa: E402
                            wait_until)

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def df_used_pct(mount):
    st = os.statvfs(mount)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    return used * 100.0 / (used + avail) if used + avail else 0.0


class AgentTest(unittest.TestCase):
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
