# SPDX-License-Identifier: MIT
"""Windows tests of monitor-aggregator.exe under wine, run by scripts/windows-build after the
unit tests: the .exe polls a native Linux monitor-agent on 127.0.0.1 over TLS as a default install
does (the key pinned at first contact, through Schannel; and starts again on its database after
kill -9); a re-keyed agent is refused (pin mismatch), a plain agent is named as such, and the
.exe's own HTTPS listener (libmicrohttpd with GnuTLS, a certificate from its --gen-cert) serves
the dashboard and API and refuses plain HTTP; the Windows service (--install-service,
sc start/stop, log file, reinstall, --uninstall-service) runs under wine's Service Control
Manager; the zip from `make package-windows` holds what it should
and runs from the unzipped folder with paths relative to the .exe.

Environment (set by scripts/windows-build): LANMON_WIN_EXE, LANMON_WIN_ZIP, LANMON_BIN_DIR
(native monitor-agent), LANMON_FIXTURES, LANMON_FAKES_DIR, WINEPREFIX."""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from lanmon_testlib import Agent, LiveProc, free_port, http, scaled, wait_until  # noqa: E402

EXE = os.environ.get("LANMON_WIN_EXE", "")
ZIP = os.environ.get("LANMON_WIN_ZIP", "")
WINE = shutil.which("wine") or "wine"
SERVICE = "monitor-aggregator"
ADMIN = "admin-token-0123456789"
PIN_MISMATCH = "certificate changed (pin mismatch)"
ZIP_FILES = {"monitor-aggregator.exe", "config.example.yaml", "install-service.ps1",
             "README-windows.txt", "nssm/service.json", "web/index.html"}
# The copyright and license texts of what the .exe links in (scripts/windows-build).
ZIP_LICENSES = {f"licenses/{n}-copyright.txt" for n in (
    "curl", "sqlite3", "gnutls", "nettle", "libmicrohttpd", "cjson", "libyaml", "mingw-w64",
    "gcc-mingw-w64")} | {
    "licenses/gnutls-COPYING.LESSER.txt", "licenses/nettle-COPYING.LESSERv3.txt",
    "licenses/libmicrohttpd-COPYING.txt"}


def win_path(path):
    """The Windows name of a Linux path under wine (drive Z: is the Linux root)."""
    return "Z:" + os.path.abspath(path).replace("/", "\\")


def wine(*args, timeout=60, check=True):
    p = subprocess.run([WINE, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"wine {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n"
                             f"{p.stderr}")
    return p


def service_state():
    """The service's state from sc.exe ("RUNNING", "STOPPED", ...), or None when it does not
    exist."""
    p = wine("sc", "query", SERVICE, check=False)
    m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", p.stdout)
    return m.group(1) if m else None


def service_pids():
    """Linux pids of the running service process (its command line carries --service)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "monitor-aggregator.exe" in cmd and "--service" in cmd:
            pids.append(int(d))
    return pids


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def server_line(name, agent):
    """A server entry as a default install writes it: no tls key (TLS, the key pinned at first
    contact)."""
    return (f'  - {{ name: "{name}", host: 127.0.0.1, agent_port: {agent.port}, '
            f'token: "{agent.token}", services: [], enabled: true }}\n')


def write_config(folder, port, agent, extra="", servers=None):
    """The aggregator's config polling agent (or the (name, agent) pairs of servers)."""
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write(f'listen: "127.0.0.1:{port}"\n'
                'database: "data/monitor.db"\n'
                f'admin_token: "{ADMIN}"\n'
                "poll: { interval: 1s, timeout: 1s, max_response_bytes: 1048576 }\n"
                "history: { retention_days: 30, bucket: 1h, checkpoint: 2s }\n"
                f"{extra}"
                "servers:\n"
                + "".join(server_line(n, a) for n, a in (servers or [("linux-agent", agent)])))


def servers_by_name(base):
    r = http("GET", f"{base}/api/servers", timeout=2)
    return {s["name"]: s for s in r.json()} if r.status == 200 else {}


def agent_online(port, pin=None, base=None, name="linux-agent"):
    """The agent online with data, and (pin) its key pinned by the aggregator."""
    s = servers_by_name(base or f"http://127.0.0.1:{port}").get(name)
    return bool(s and s["online"] and s["latest"] and s["latest"]["cpu_pct"] == 25.0 and
                (pin is None or (s["tls_state"] == "pinned" and s["tls_pin"] == pin)))


def curl_pin_ok(url, pin):
    """True when a fresh TLS connection to url presents the key of pin (native curl)."""
    r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "--max-time", "5",
                        "--pinnedpubkey", pin, url], capture_output=True, timeout=scaled(15))
    return r.returncode == 0


class WindowsAggregator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc = LiveProc(busy_pct=25)
        # As installed: HTTPS only, with the key made at install time.
        cls.agent = Agent(cls.proc.dir, gpus=0, extra={"gpu": "off"}, tls=True).start()
        # Wine ends its system processes (services.exe and the services it runs) when the
        # last ordinary wine process exits: keep one alive while the tests run.
        cls.keepalive = subprocess.Popen([WINE, "ping", "-n", "3600", "127.0.0.1"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.work = tempfile.mkdtemp(prefix="lanmon-win-")
        if service_state() is not None:  # left over from an interrupted run (cached prefix)
            wine(EXE, "--uninstall-service")

    @classmethod
    def tearDownClass(cls):
        if service_state() is not None:
            wine(EXE, "--uninstall-service", check=False)
        cls.keepalive.kill()
        cls.keepalive.wait(10)
        cls.agent.close()
        cls.proc.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def folder(self, name):
        d = os.path.join(self.work, name)
        os.makedirs(d)
        return d

    def test_1_console_round_trip_crash_and_ctrl_c(self):
        d = self.folder("console")
        port = free_port()
        write_config(d, port, self.agent)
        cmd = [WINE, EXE, "--config", win_path(os.path.join(d, "config.yaml"))]
        out_path = os.path.join(d, "out.log")
        with open(out_path, "wb") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: agent_online(port, self.agent.pin), timeout=40,
                       what="the Linux agent online over TLS, its key pinned at first contact")
            # A crash (kill -9) leaves the database lock and the database usable: the next
            # start on the same database comes up at once. (A service crash is the same
            # process dying; wine's SCM does not notice it, so it is checked here.)
            p.kill()
            p.wait(30)
            with open(out_path, "ab") as log:
                p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            wait_until(lambda: agent_online(port, self.agent.pin), timeout=40,
                       what="online after the crash, the pin kept")
            # Wine turns SIGINT into a console Ctrl-C: the aggregator stops cleanly.
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(30), 0)
        finally:
            if p.poll() is None:
                p.kill()
        out = read_text(out_path)
        self.assertNotIn("another monitor-aggregator is running", out)
        self.assertIn("info: stopping", out)
        con = sqlite3.connect(os.path.join(d, "data", "monitor.db"))
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(con.execute("SELECT count(*) FROM servers").fetchone()[0], 1)
            self.assertEqual(con.execute("SELECT tls_pin FROM servers").fetchone()[0],
                             self.agent.pin)
        finally:
            con.close()

    def test_2_service_lifecycle(self):
        d = self.folder("service")
        port = free_port()
        write_config(d, port, self.agent)
        cfg = win_path(os.path.join(d, "config.yaml"))
        log_path = os.path.join(d, "logs", "monitor-aggregator.log")

        # --service outside the SCM is refused with a message, not a hang.
        p = wine(EXE, "--service", "--config", cfg, check=False, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not started by the Service Control Manager", p.stderr)

        # A broken configuration is refused at install time.
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listen: 8080\nnonsense: 1\n")
        p = wine(EXE, "--install-service", "--config", win_path(bad), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nonsense", p.stderr)
        self.assertIsNone(service_state())

        p = wine(EXE, "--install-service", "--config", cfg)
        self.assertIn("installed", p.stdout)
        self.assertEqual(service_state(), "STOPPED")
        # What the SCM stored (wine's sc.exe has no "qc"; the registry is the same data).
        reg = wine("reg", "query", rf"HKLM\System\CurrentControlSet\Services\{SERVICE}").stdout
        self.assertRegex(reg, r"Start\s+REG_DWORD\s+0x2\b")  # automatic start
        self.assertIn(f'monitor-aggregator.exe" --service --config "{cfg}"', reg)
        self.assertIn("LocalSystem", reg)

        wine("sc", "start", SERVICE)
        wait_until(lambda: service_state() == "RUNNING", timeout=30, what="service RUNNING")
        wait_until(lambda: agent_online(port), timeout=40, what="agent online via the service")
        wait_until(lambda: "listening on" in read_text(log_path), timeout=10,
                   what="the service's log file")
        with open(log_path) as f:
            first = f.readline()
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ monitor-aggregator: info: ")
        # The service's relative paths are the configuration's folder, not System32.
        self.assertTrue(os.path.isfile(os.path.join(d, "data", "monitor.db")))

        # Installing again updates the service in place.
        p = wine(EXE, "--install-service", "--config", cfg)
        self.assertIn("updated", p.stdout)

        wine("sc", "stop", SERVICE)
        wait_until(lambda: service_state() == "STOPPED", timeout=30, what="service STOPPED")
        with open(log_path) as f:
            self.assertIn("info: stopping", f.read())
        wait_until(lambda: not service_pids(), timeout=15, what="the service process gone")

        # A configuration broken after install: the service stops with an error exit code
        # (1066 = service-specific, code 1) and the reason is in the log file.
        with open(os.path.join(d, "config.yaml")) as f:
            good = f.read()
        with open(os.path.join(d, "config.yaml"), "w") as f:
            f.write(good + "nonsense: 1\n")
        wine("sc", "start", SERVICE)
        wait_until(lambda: service_state() == "STOPPED", timeout=30,
                   what="the service stopped on a broken config")
        q = wine("sc", "query", SERVICE).stdout
        self.assertRegex(q, r"WIN32_EXIT_CODE\s*:\s*1066\b")
        self.assertRegex(q, r"SERVICE_EXIT_CODE\s*:\s*1\b")
        self.assertIn("key 'nonsense': unknown key", read_text(log_path))

        p = wine(EXE, "--uninstall-service")
        self.assertIn("removed", p.stdout)
        self.assertIsNone(service_state())
        p = wine(EXE, "--uninstall-service")
        self.assertIn("no service named", p.stdout)

    def test_3_package_runs_from_its_folder(self):
        self.assertTrue(os.path.isfile(ZIP), f"no package {ZIP}")
        with zipfile.ZipFile(ZIP) as z:
            names = z.namelist()
            top = {n.split("/", 1)[0] for n in names}
            self.assertEqual(len(top), 1, top)  # one top-level folder
            root = top.pop()
            inside = {n.split("/", 1)[1] for n in names if "/" in n and not n.endswith("/")}
            self.assertTrue(ZIP_FILES <= inside, ZIP_FILES - inside)
            self.assertTrue(ZIP_LICENSES <= inside, ZIP_LICENSES - inside)
            self.assertIn(b"Lesser General Public License",
                          z.read(f"{root}/licenses/gnutls-COPYING.LESSER.txt"))
            self.assertFalse([n for n in inside if n.lower().endswith(".dll")])  # static .exe
            self.assertFalse([n for n in inside if "node_modules" in n or "apexcharts" in n])
            d = self.folder("unzipped")
            z.extractall(d)
        folder = os.path.join(d, root)
        with open(os.path.join(folder, "nssm", "service.json")) as f:
            svc = json.load(f)
        self.assertEqual(svc["args"][0], "--config")
        self.assertTrue(svc["exe"].endswith("monitor-aggregator.exe"))

        # The example configuration is valid once its token placeholder is replaced.
        with open(os.path.join(folder, "config.example.yaml")) as f:
            example = f.read()
        self.assertIn("REPLACE_WITH_ADMIN_TOKEN", example)
        port = free_port()
        text = example.replace("REPLACE_WITH_ADMIN_TOKEN", ADMIN).replace(
            '"0.0.0.0:8080"', f'"127.0.0.1:{port}"').replace(
            "servers: []",
            "servers:\n"
            f'  - {{ name: "linux-agent", host: 127.0.0.1, agent_port: {self.agent.port}, '
            f'token: "{self.agent.token}" }}').replace("interval: 5s",
                                                                  "interval: 1s").replace(
            "timeout: 2s", "timeout: 1s")
        with open(os.path.join(folder, "config.yaml"), "w") as f:
            f.write(text)
        exe = os.path.join(folder, "monitor-aggregator.exe")
        p = wine(exe, "--check-config")  # config.yaml beside the .exe is the default
        self.assertIn("configuration is valid", p.stdout)
        # No PostgreSQL on Windows: a postgresql:// database is refused with the reason, not
        # taken for a file name.
        pg_config = os.path.join(folder, "pg.yaml")
        pg_text = text.replace('database: "data/monitor.db"',
                               'database: "postgresql://lanmon@127.0.0.1/lanmon"')
        self.assertNotEqual(pg_text, text)
        with open(pg_config, "w") as f:
            f.write(pg_text)
        p = wine(exe, "--config", pg_config, "--check-config", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no PostgreSQL support", p.stderr)
        self.assertIn("pg.yaml:", p.stderr)

        # Started without --config from another folder: config, database, log and dashboard
        # are all found relative to the .exe.
        p = subprocess.Popen([WINE, exe], cwd="/", stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: agent_online(port, self.agent.pin), timeout=40,
                       what="agent online (package)")
            page = http("GET", f"http://127.0.0.1:{port}/", timeout=5)
            self.assertEqual(page.status, 200)
            self.assertIn(b"<html", page.body.lower())
            self.assertTrue(os.path.isfile(os.path.join(folder, "data", "monitor.db")))
            self.assertTrue(os.path.isfile(os.path.join(folder, "logs",
                                                        "monitor-aggregator.log")))
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(30), 0)
        finally:
            if p.poll() is None:
                p.kill()

    def test_4_https_listener_pin_mismatch_and_plain_agent(self):
        d = self.folder("tls")
        port = free_port()
        crt, key = os.path.join(d, "aggregator.crt"), os.path.join(d, "aggregator.key")
        # The Windows .exe makes its own key and certificate (GnuTLS) and prints the pin.
        p = wine(EXE, "--gen-cert", "--cert", win_path(crt), "--key", win_path(key), "--name",
                 "127.0.0.1")
        pin = p.stdout.strip().splitlines()[-1]
        self.assertRegex(pin, r"^sha256//[A-Za-z0-9+/]{43}=$")
        rekeyed = Agent(self.proc.dir, gpus=0, extra={"gpu": "off"}, tls=True,
                        node_id="srv-rekeyed").start()
        plain = Agent(self.proc.dir, gpus=0, extra={"gpu": "off"}, node_id="srv-plain").start()
        write_config(d, port, None,
                     # single quotes: YAML takes backslashes literally there
                     extra=f"tls: {{ cert_file: '{win_path(crt)}', "
                           f"key_file: '{win_path(key)}' }}\n",
                     servers=[("rekeyed", rekeyed), ("plain", plain)])
        base = f"https://127.0.0.1:{port}"
        out_path = os.path.join(d, "out.log")
        with open(out_path, "wb") as log:
            p = subprocess.Popen([WINE, EXE, "--config", win_path(os.path.join(d, "config.yaml"))],
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: agent_online(port, rekeyed.pin, base, "rekeyed"), timeout=40,
                       what="the TLS agent pinned at first contact, over the HTTPS listener")
            # The dashboard and the API over HTTPS, with the key --gen-cert made.
            page = http("GET", base + "/", timeout=5)
            self.assertEqual(page.status, 200)
            self.assertIn(b"<html", page.body.lower())
            self.assertTrue(curl_pin_ok(base + "/api/health", pin))
            # Plain HTTP to the HTTPS port: a clear refusal, not a hang.
            r = http("GET", f"http://127.0.0.1:{port}/api/health", timeout=5)
            self.assertEqual(r.status, 400)
            self.assertIn("HTTPS only", r.json()["error"])
            hdr = {"X-Admin-Token": ADMIN}
            events = http("GET", base + "/api/events?limit=200", headers=hdr).json()["events"]
            self.assertEqual([e["type"] for e in events].count("server_key_pinned"), 1)
            # A plain agent polled over TLS: it answers 400 and closes, which wine's Schannel
            # reports as the connection closed during the handshake.
            wait_until(lambda: servers_by_name(base).get("plain", {}).get("last_error"),
                       timeout=20, what="the plain agent's error")
            self.assertEqual(servers_by_name(base)["plain"]["last_error"],
                             "TLS handshake failed: the agent closed the connection (does it "
                             "speak plain HTTP? then add tls: to its config.yaml or set tls off "
                             "for this server)")

            # The agent gets a new key: its data is refused, one event.
            rekeyed.stop()
            old_pin = rekeyed.pin
            rekeyed.pin = rekeyed.gen_cert()
            rekeyed.start()
            wait_until(lambda: servers_by_name(base).get("rekeyed", {}).get("last_error") ==
                       PIN_MISMATCH, timeout=30, what="the pin mismatch")
            s = servers_by_name(base)["rekeyed"]
            self.assertEqual(s["tls_state"], "key_changed")
            self.assertEqual(s["tls_pin"], old_pin)
            events = http("GET", base + "/api/events?limit=200", headers=hdr).json()["events"]
            self.assertEqual([e["type"] for e in events].count("server_key_changed"), 1)
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(30), 0)
        finally:
            if p.poll() is None:
                p.kill()
            rekeyed.close()
            plain.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
