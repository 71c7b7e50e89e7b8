# SPDX-License-Identifier: MIT
"""The demo of `make run`: the simulated GPU servers (sim-fleet) against a real aggregator —
online with their GPU counts, changing load, the outage, the lost GPU and the failing unit all
turning into the right states and events — the simulator's snapshot checked against the shape
a real agent sends, and scripts/demo.sh itself started and stopped as a user would, with and
without the simulation (SIM=0 takes the simulated servers out again)."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lanmon_testlib import (BIN_DIR, TESTS_DIR, Agent, Aggregator, CleanupTestCase,  # noqa: E402
                            free_port, http, wait_until)

SRC_DIR = os.path.dirname(os.path.abspath(TESTS_DIR)) if TESTS_DIR else ""
SIM = os.path.join(BIN_DIR, "sim-fleet")
TOKEN = "sim-token-0123456789abcdef"
PROCESS_KEYS = {"pid": int, "user": str, "uid": int, "command": str, "type": str,
                "used_mem_mb": (int, float), "started_at": str}


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_block(n):
    """n consecutive free ports below the ephemeral range (32768-), so that no outgoing
    connection of a concurrent test holds one of them when sim-fleet binds it."""
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rnd.randrange(20000, 32000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no {n} consecutive free ports")


def json_type(v):
    return {dict: "object", list: "array", str: "string", bool: "bool",
            type(None): "null"}.get(type(v), "number")


class DemoTest(CleanupTestCase):
    def sim_fleet(self, servers=4, *args):
        d = tempfile.mkdtemp(prefix="lanmon-sim-")
        token_file = os.path.join(d, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        base = free_block(servers)
        log = open(os.path.join(d, "sim.log"), "wb")
        proc = subprocess.Popen([SIM, "--base-port", str(base), "--servers", str(servers),
                                 "--token-file", token_file, *args], stdout=log,
                                stderr=subprocess.STDOUT)

        def stop():
            proc.send_signal(signal.SIGTERM)
            try:
                self.assertEqual(proc.wait(10), 0)
            finally:
                log.close()
                subprocess.run(["rm", "-rf", d])
        self.cleanups.append(stop)

        def listening():
            if proc.poll() is not None:
                with open(log.name) as f:
                    raise AssertionError(f"sim-fleet exited with {proc.returncode}: {f.read()}")
            return all(port_open(p) for p in range(base, base + servers))
        wait_until(listening, timeout=10, what="sim-fleet ports")
        listing = json.loads(subprocess.run([SIM, "--base-port", str(base), "--servers",
                                             str(servers), "--print-servers"], check=True,
                                            capture_output=True, text=True).stdout)
        return base, listing

    def snapshot(self, port, query=""):
        r = http("GET", f"http://127.0.0.1:{port}/v1/snapshot{query}", token=TOKEN)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_snapshot_has_the_agents_shape(self):
        """Every field a real agent sends is in the simulator's snapshot with the same JSON
        type, so the dashboard shows simulated servers as it shows real ones (a new agent field
        makes this fail until sim_model.c sends it too)."""
        proc = self.live_proc(busy=40)
        agent = Agent(proc.dir, extra={"services_allowlist": ["cron.service"]}).start()
        self.cleanups.append(agent.close)
        real = wait_until(lambda: (lambda s: s if s.get("cpu_pct") is not None else None)(
            agent.get("/v1/snapshot?services=cron.service").json()), what="a CPU reading")
        base, _ = self.sim_fleet(4)
        sim = self.snapshot(base, "?services=docker.service")

        def compare(want, got, where):
            for k, v in want.items():
                if k == "error":  # entry-level problems, present only when there is one
                    continue
                self.assertIn(k, got, f"{where}: the simulator does not send {k!r}")
                if v is None or got[k] is None:
                    continue
                self.assertEqual(json_type(got[k]), json_type(v), f"{where}.{k}")
                if isinstance(v, dict):
                    compare(v, got[k], f"{where}.{k}")
                elif isinstance(v, list) and v and isinstance(v[0], dict) and got[k]:
                    compare(v[0], got[k][0], f"{where}.{k}[0]")
        compare(real, sim, "snapshot")
        self.assertIs(sim["simulated"], True)
        # The per-GPU process list, in the shape the agent's gpus[].processes[] will have.
        procs = [p for g in sim["gpus"] for p in g.get("processes") or []]
        self.assertTrue(procs)
        for p in procs:
            for k, t in PROCESS_KEYS.items():
                self.assertIsInstance(p[k], t, k)
            self.assertLessEqual(len(p["command"]), 15)  # the process name, never a cmdline
            self.assertTrue(p["container"] is None or re.fullmatch(r"[0-9a-f]{12}", p["container"]),
                            p["container"])
            self.assertIn(p["type"], ("compute", "graphics"))
        for g in sim["gpus"]:
            used = sum(p["used_mem_mb"] for p in g.get("processes") or [])
            if g.get("mem_used_mb") is not None:
                self.assertLessEqual(used, g["mem_used_mb"])
        # Auth as the agent does it.
        self.assertEqual(http("GET", f"http://127.0.0.1:{base}/v1/snapshot").status, 401)
        self.assertEqual(http("GET", f"http://127.0.0.1:{base}/v1/snapshot",
                              token="wrong-token-0123456789").status, 401)
        self.assertEqual(http("GET", f"http://127.0.0.1:{base}/v1/health").status, 200)
        self.assertEqual(http("GET", f"http://127.0.0.1:{base}/nope", token=TOKEN).status, 404)
        catalog = http("GET", f"http://127.0.0.1:{base}/v1/services", token=TOKEN).json()
        self.assertIn("docker.service", [u["name"] for u in catalog["services"]])

    def test_simulated_fleet_in_the_aggregator(self):
        # A 20 s cycle: sim-gpu-04 loses GPU 6 at 6-10 s, sim-gpu-02's jupyterhub fails at
        # 12-16 s; sim-gpu-03 is down at 4-9 s and again every 30 s.
        base, listing = self.sim_fleet(4, "--cycle", "20", "--outage-start", "4", "--outage-for",
                                       "5", "--outage-every", "30")
        self.assertEqual([s["name"] for s in listing],
                         ["sim-gpu-01", "sim-gpu-02", "sim-gpu-03", "sim-gpu-04"])
        agg = Aggregator(servers=[{"name": s["name"], "host": s["host"],
                                   "agent_port": s["agent_port"], "token": TOKEN,
                                   "services": s["services"], "enabled": True}
                                  for s in listing])
        self.cleanups.append(agg.close)
        agg.start()
        servers = wait_until(lambda: (lambda s: s if all(
            v["latest"] for v in s.values()) else None)(agg.servers()), timeout=10,
            what="a sample from every simulated server")
        self.assertEqual({n: s["latest"]["gpu_count"] for n, s in servers.items()},
                         {"sim-gpu-01": 8, "sim-gpu-02": 4, "sim-gpu-03": 2, "sim-gpu-04": 8})
        # The load changes from poll to poll.
        first = self.snapshot(base)
        time.sleep(2.1)
        second = self.snapshot(base)
        self.assertNotEqual((first["cpu_pct"], [g["util_pct"] for g in first["gpus"]]),
                            (second["cpu_pct"], [g["util_pct"] for g in second["gpus"]]))
        # The outage, the lost GPU and the failed unit, as events and states.
        def has_event(kind, name):
            return any(e["type"] == kind and e["server_name"] == name for e in agg.events())
        wait_until(lambda: has_event("server_down", "sim-gpu-03"), timeout=15,
                   what="sim-gpu-03 going offline")
        wait_until(lambda: agg.servers()["sim-gpu-04"]["status"] == "degraded", timeout=15,
                   what="sim-gpu-04 degraded by its lost GPU")
        wait_until(lambda: has_event("server_up", "sim-gpu-03"), timeout=15,
                   what="sim-gpu-03 coming back")
        wait_until(lambda: has_event("service_failed", "sim-gpu-02"), timeout=20,
                   what="jupyterhub.service failing on sim-gpu-02")
        wait_until(lambda: has_event("service_recovered", "sim-gpu-02"), timeout=20,
                   what="jupyterhub.service recovering")
        self.assertFalse(has_event("server_down", "sim-gpu-01"))

    def run_demo(self, demo_dir, web_port, sim, sim_port, n_sim=2):
        build = os.path.dirname(BIN_DIR)
        env = dict(os.environ, BUILD=build, DEMO=demo_dir, AGENT_PORT=str(free_port()),
                   WEB_PORT=str(web_port), SIM=sim, SIM_PORT=str(sim_port),
                   SIM_SERVERS=str(n_sim))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        out = open(os.path.join(demo_dir, f"demo-{sim}.out"), "w+b")
        proc = subprocess.Popen([os.path.join(SRC_DIR, "scripts", "demo.sh")], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def text():
            if not out.closed:
                out.flush()
            with open(out.name, "rb") as f:
                return f.read().decode(errors="replace")

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
            out.close()
        self.cleanups.append(stop)
        wait_until(lambda: proc.poll() is None and "Press Ctrl-C" in text(), timeout=30,
                   what="the demo's banner")
        return proc, text, stop

    def test_demo_script_with_and_without_simulation(self):
        demo_dir = tempfile.mkdtemp(prefix="lanmon-demo-")
        self.cleanups.append(lambda: subprocess.run(["rm", "-rf", demo_dir]))
        web, sim_port = free_port(), free_block(2)
        proc, text, stop = self.run_demo(demo_dir, web, "1", sim_port)
        banner = text()
        self.assertIn(f"Dashboard:   http://127.0.0.1:{web}/", banner)
        self.assertIn("sim-gpu-01 .. sim-gpu-02", banner)
        self.assertIn("NOT real machines", banner)
        self.assertIn("make run SIM=0", banner)
        api = f"http://127.0.0.1:{web}/api/servers"
        names = wait_until(lambda: (lambda s: s if {"sim-gpu-01", "sim-gpu-02"} <= set(s) and
                                    all(s[n]["online"] for n in s) else None)(
            {s["name"]: s for s in http("GET", api).json()}), timeout=20,
            what="the local agent and two simulated servers online")
        self.assertEqual(len(names), 3)
        self.assertEqual(names["sim-gpu-02"]["latest"]["gpu_count"], 4)
        self.assertEqual(names["sim-gpu-01"]["services"],
                         ["docker.service", "nvidia-persistenced.service", "jupyterhub.service",
                          "slurmd.service"])
        stop()
        self.assertIn("demo stopped", text())
        self.assertFalse(port_open(web))
        self.assertFalse(port_open(sim_port))
        # Started again (same database): the simulated servers are updated, not duplicated.
        proc, text, stop = self.run_demo(demo_dir, web, "1", sim_port)
        self.assertEqual(sorted(s["name"] for s in http("GET", api).json()).count("sim-gpu-01"), 1)
        stop()
        # SIM=0: no simulator, and the simulated servers are gone from the dashboard.
        proc, text, stop = self.run_demo(demo_dir, web, "0", sim_port)
        self.assertNotIn("sim-gpu", text())
        self.assertEqual([s["name"] for s in http("GET", api).json()
                          if s["name"].startswith("sim-gpu")], [])
        self.assertFalse(port_open(sim_port))
        events = http("GET", f"http://127.0.0.1:{web}/api/events?type=server_removed").json()
        self.assertEqual(sorted(e["server_name"] for e in events["events"]),
                         ["sim-gpu-01", "sim-gpu-02"])
        stop()
        self.assertEqual(proc.returncode, 0, text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
