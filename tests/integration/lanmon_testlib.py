# SPDX-License-Identifier: MIT
"""Shared helpers for the integration and fault suites: free ports, a live fixture procfs, real
agent and aggregator processes, the D-Bus systemd mock, small HTTP helpers, and (from the
modules beside it) the one fake agent, FakeAgent, and the aggregator's database. Loopback only;
every wait bounded."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

# The fake agent and the aggregator's database live beside this file; suites import them here.
from fakeagent import (ENDLESS, HANG, RESET, FakeAgent, FakeRequest, InFlight,  # noqa: F401
                       http_reply, json_reply, snapshot)
from lanmon_db import TEST_DB, AggregatorDatabase, pg_partition, pg_server  # noqa: F401

BIN_DIR = os.environ.get("LANMON_BIN_DIR", "")
FAKES_DIR = os.environ.get("LANMON_FAKES_DIR", "")
FIXTURES = os.environ.get("LANMON_FIXTURES", "")
TESTS_DIR = os.environ.get("LANMON_TESTS_DIR", "")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.05, what="condition"):
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def insecure_tls():
    """A client context for the tests' self-signed certificates (pins are checked elsewhere)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http(method, url, token=None, headers=None, body=None, timeout=5.0):
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        ctx = insecure_tls() if url.startswith("https:") else None
        with urllib.request.urlopen(req, timeout=scaled(timeout), context=ctx) as r:
            return Response(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


class Prober:
    """A normal client in a thread: one GET of url every `every` s; records (status, seconds),
    the status being the repr of the error when no answer came."""

    def __init__(self, url, token=None, headers=None, every=0.25, timeout=5.0):
        self.url, self.token, self.headers = url, token, headers
        self.every, self.timeout = every, timeout
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                st = http("GET", self.url, token=self.token, headers=self.headers,
                          timeout=self.timeout).status
            except OSError as e:
                st = repr(e)
            self.results.append((st, time.monotonic() - t0))
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._thread.join(self.timeout + 2)
        return self.results

    def failures(self):
        return [r for r in self.results if r[0] != 200]

    def max_latency(self):
        return max((t for _, t in self.results), default=0.0)


class LiveProc:
    """A copy of a fixture procfs whose /proc/stat counters advance in a background thread:
    every tick adds 100 jiffies of which busy_pct are busy, so the agent's cpu_pct is exact.
    The file is rewritten in place with fixed-width numbers (the agent keeps it open)."""

    def __init__(self, fixture="basic", busy_pct=25, ncpu=4):
        self.dir = tempfile.mkdtemp(prefix="lanmon-proc-")
        src = os.path.join(FIXTURES, "proc", fixture)
        for name in os.listdir(src):
            shutil.copy(os.path.join(src, name), os.path.join(self.dir, name))
        self.busy_pct = busy_pct
        self.ncpu = ncpu
        self.user = 1000000
        self.idle = 9000000
        self._stop = threading.Event()
        self._write()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _text(self):
        line = "cpu  %012d 000000000000 000000000000 %012d 000000000000 0 0 0 0 0\n" % (
            self.user, self.idle)
        per = "".join("cpu%d %012d 0 0 %012d 0 0 0 0 0 0\n" % (i, self.user // self.ncpu,
                                                            self.idle // self.ncpu)
                      for i in range(self.ncpu))
        return line + per + "intr 0\nctxt 0\nbtime 1768600000\nprocesses 1\n"

    def _write(self):
        path = os.path.join(self.dir, "stat")
        data = self._text().encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def set_busy(self, pct):
        """Changes the utilisation the counters advance with (0..100, multiple of 5)."""
        self.busy_pct = pct

    def _run(self):
        while not self._stop.wait(0.2):
            busy = self.busy_pct * 20 // 100  # 20 jiffies per 0.2 s tick
            self.user += busy
            self.idle += 20 - busy
            self._write()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    """Process handling shared by Agent and Aggregator: stop with a signal, read the log."""

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Stops the process and returns (exit code, seconds it took)."""
        if not self.proc or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None, 0.0)
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        return rc, time.monotonic() - t0

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Agent(Daemon):
    """A real monitor-agent process on 127.0.0.1 with a generated config."""

    def __init__(self, procfs, token="test-token-0123456789", extra=None, env=None,
                 node_id="srv-test", gpus=2, port=None, tls=False):
        self.dir = tempfile.mkdtemp(prefix="lanmon-agent-")
        self.tls = tls
        self.pin = None
        self.port = port or free_port()
        self.token = token
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.settings = {
            "node_id": node_id,
            "listen": f"127.0.0.1:{self.port}",
            "token": token,
            "disks": ["/"],
            "services_allowlist": [],
            "gpu": "auto",
            "nvml_library": os.path.join(FAKES_DIR, "libnvidia-ml.so.1"),
            "nvidia_smi": "/nonexistent/nvidia-smi",
            "procfs_root": procfs,
            "cpu_window": "1s",
        }
        self.settings.update(extra or {})
        if tls:
            self.cert = os.path.join(self.dir, "agent.crt")
            self.key = os.path.join(self.dir, "agent.key")
            self.pin = self.gen_cert()
            self.settings["tls"] = {"cert_file": self.cert, "key_file": self.key}
        self.env = dict(os.environ)
        self.env["FAKE_NVML_GPUS"] = str(gpus)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.dir, "agent.log")
        self.write_config()

    @property
    def base(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def gen_cert(self, days=None, name="127.0.0.1"):
        """Makes a new key and certificate (replacing the old ones); returns the pin."""
        argv = [os.path.join(BIN_DIR, "monitor-agent"), "--gen-cert", "--cert", self.cert,
                "--key", self.key, "--name", name, "--force"]
        if days:
            argv += ["--days", str(days)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=scaled(30))
        if r.returncode != 0:
            raise AssertionError(f"--gen-cert failed: {r.stderr}")
        return r.stdout.strip()

    def write_config(self, **changes):
        self.settings.update(changes)
        with open(self.config_path, "w") as f:
            for k, v in self.settings.items():
                if v is None:
                    continue
                f.write(f"{k}: {json.dumps(v)}\n")

    def start(self, wait=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(daemon_argv([os.path.join(BIN_DIR, "monitor-agent"),
                                                  "--config", self.config_path],
                                                 getattr(self, "wrapper", None)),
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            wait_until(lambda: self.proc.poll() is None and
                       http("GET", self.base + "/v1/health", timeout=1).status in (200, 503),
                       timeout=10, what="agent health endpoint")
        return self

    def get(self, path, token="__default__", **kw):
        tok = self.token if token == "__default__" else token
        return http("GET", self.base + path, token=tok, **kw)


    def close(self):
        self.stop()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DBusMock:
    """A private dbus-daemon with python-dbusmock's systemd template (tests/dbus/)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lanmon-dbus-")
        self.script = os.path.join(TESTS_DIR, "dbus", "start-mock.sh")
        subprocess.run([self.script, self.dir], check=True, timeout=30)
        with open(os.path.join(self.dir, "bus-address")) as f:
            self.address = f.read().strip()

    def set_unit(self, unit, active, sub):
        subprocess.run([os.path.join(TESTS_DIR, "dbus", "set-unit-state.sh"), self.dir, unit,
                        active, sub], check=True, timeout=15)

    def close(self):
        subprocess.run([self.script, "--stop", self.dir], timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def yaml_value(v):
    """JSON is valid YAML flow syntax: good enough for generated configs."""
    return json.dumps(v)


def plain_unless_told(server):
    """Servers new to a database poll over TLS by default; the suites' agents mostly speak plain
    HTTP, so a server without a tls key gets tls: false here (test_tls.py covers TLS)."""
    if "tls" in server:
        return server
    return {**server, "tls": False}


class Aggregator(Daemon, AggregatorDatabase):
    """A real monitor-aggregator process on 127.0.0.1 with a temp database: a SQLite file, or a
    new PostgreSQL database when db="postgresql" (default: $LANMON_TEST_DB), in the server pg
    (a PgServer; default: the process's)."""

    def __init__(self, servers=(), interval="1s", timeout="500ms", bucket="1h",
                 checkpoint="2s", admin_token="admin-token-0123456789", extra=None, env=None,
                 db_dir=None, max_response_bytes=1048576, db=None, pg=None, tls=False):
        self.dir = db_dir or tempfile.mkdtemp(prefix="lanmon-agg-")
        self.tls = tls
        self.port = free_port()
        self.admin_token = admin_token
        self.backend = "postgresql" if pg else db or TEST_DB
        self.pg_db = None
        if self.backend == "postgresql":
            self.pg = pg or pg_server()
            self.pg_db = self.pg.create_db()
            self.db = self.pg.uri(self.pg_db)
        else:
            self.db = os.path.join(self.dir, "data", "monitor.db")
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.lines = [
            f"listen: {yaml_value(f'127.0.0.1:{self.port}')}",
            f"database: {yaml_value(self.db)}",
            f"poll: {{ interval: {interval}, timeout: {timeout}, "
            f"max_response_bytes: {max_response_bytes} }}",
            f"history: {{ retention_days: 30, bucket: {bucket}, checkpoint: {checkpoint} }}",
        ]
        web = os.environ.get("LANMON_WEB_ROOT")
        if web and os.path.isdir(web):
            self.lines.append(f"web_root: {yaml_value(web)}")
        if admin_token:
            self.lines.append(f"admin_token: {yaml_value(admin_token)}")
        self.lines += list(extra or [])
        if tls:
            self.cert = os.path.join(self.dir, "dashboard.crt")
            self.key = os.path.join(self.dir, "dashboard.key")
            r = subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--gen-cert",
                                "--cert", self.cert, "--key", self.key, "--name", "127.0.0.1"],
                               capture_output=True, text=True, timeout=scaled(30))
            if r.returncode != 0:
                raise AssertionError(f"--gen-cert failed: {r.stderr}")
            self.pin = r.stdout.strip()
            self.lines.append(f"tls: {{ cert_file: {yaml_value(self.cert)}, "
                              f"key_file: {yaml_value(self.key)} }}")
        if servers:
            self.lines.append("servers:")
            for s in servers:
                self.lines.append("  - " + json.dumps(plain_unless_told(s)))
        self._write_config()
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.dir, "aggregator.log")

    @property
    def base(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _write_config(self):
        with open(self.config_path, "w") as f:
            f.write("\n".join(self.lines) + "\n")

    def switch_database(self, database, backend, pg_db=None, extra=()):
        """Points the config's database: line elsewhere (the one line a user changes after
        --migrate-to), with extra lines such as database_password_file."""
        self.lines = [line for line in self.lines
                      if not line.startswith(("database:", "database_password_file:"))]
        self.lines[1:1] = [f"database: {yaml_value(database)}"] + list(extra)
        self.db, self.backend = database, backend
        if backend == "postgresql":
            self.pg, self.pg_db = pg_server(), pg_db
        self._write_config()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(daemon_argv([os.path.join(BIN_DIR, "monitor-aggregator"),
                                                  "--config", self.config_path],
                                                 getattr(self, "wrapper", None)),
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and
                   http("GET", self.base + "/api/health", timeout=1).status == 200,
                   timeout=15, what="aggregator health endpoint")
        return self

    def api(self, method, path, body=None, admin=True, timeout=10.0, headers=None):
        if method == "POST" and path == "/api/servers" and isinstance(body, dict):
            body = plain_unless_told(body)
        hdrs = dict(headers or {})
        if admin and self.admin_token:
            hdrs["X-Admin-Token"] = self.admin_token
        return http(method, self.base + path, headers=hdrs, body=body, timeout=timeout)

    def servers(self):
        return {s["name"]: s for s in self.api("GET", "/api/servers").json()}

    def events(self, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return self.api("GET", "/api/events" + (f"?{qs}" if qs else "")).json()["events"]

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        result = super().stop(sig, timeout)
        if getattr(self, "log", None):
            self.log.close()
        return result

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg_db:
            self.pg.drop_db(self.pg_db)
            self.pg_db = None


def server_entry(name, agent, **kw):
    """A servers: entry (config or POST body) for an agent on loopback; kw adds or overrides."""
    e = {"name": name, "host": "127.0.0.1", "agent_port": agent.port, "token": agent.token,
         "services": [], "enabled": True}
    e.update(kw)
    return e


# ---- Valgrind: LANMON_VALGRIND=1 runs both daemons under memcheck --------------------------
# (ctest -L valgrind in the non-sanitized tree build/valgrind). Any memcheck error or definite
# leak makes the daemon exit 99, which the suites' teardown already treats as a failure.
# LANMON_TIME_SCALE multiplies every bound of wait_until/http/stop: the daemons run 20-50x
# slower there, and the bounds scale instead of the assertions changing.
VALGRIND = os.environ.get("LANMON_VALGRIND") == "1"
TIME_SCALE = float(os.environ.get("LANMON_TIME_SCALE") or 1)


def scaled(seconds):
    return seconds * TIME_SCALE


def daemon_argv(argv, wrapper=None):
    """The command that starts a daemon: argv behind `wrapper` (a command prefix, e.g. another
    Valgrind tool, set as the daemon object's .wrapper), under memcheck, or argv itself."""
    if wrapper:
        return list(wrapper) + list(argv)
    if not VALGRIND:
        return list(argv)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--num-callers=30",
            "--suppressions=" + os.path.join(TESTS_DIR, "valgrind", "lanmon.supp")] + list(argv)


def start_ticks(pid):
    """The start time of a process in clock ticks after boot (/proc/<pid>/stat field 22)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


# sleep's argument: a string that no PID, uid or time in a reply can contain by chance
SLEEP_ARG = "120.000917"


class Sleepers:
    """Real `sleep` processes for the fake NVML's process lists: under another uid when asked
    (the tests run as root), under another name when asked (a symlink in a folder every user
    may read), each linked into a fixture procfs so that the agent sees it there."""

    def __init__(self, procfs_dir):
        self.procfs_dir = procfs_dir
        self.dir = tempfile.mkdtemp(prefix="lanmon-sleep-")
        os.chmod(self.dir, 0o755)  # other users run the renamed sleep from here
        self.children = []

    def spawn(self, uid=None, name=None):
        exe = "/bin/sleep"
        if name:
            exe = os.path.join(self.dir, name)
            os.symlink("/bin/sleep", exe)
        p = subprocess.Popen([exe, SLEEP_ARG], user=uid, group=uid, extra_groups=[] if uid else None,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.children.append(p)
        os.symlink(f"/proc/{p.pid}", os.path.join(self.procfs_dir, str(p.pid)))
        wait_until(lambda: start_ticks(p.pid) > 0 and os.readlink(f"/proc/{p.pid}/exe")
                   .endswith("sleep"), timeout=5, what="the child to exec sleep")
        return p

    def close(self):
        for c in self.children:
            c.kill()
            c.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class CleanupTestCase(unittest.TestCase):
    """A test case whose helpers register their cleanups in self.cleanups, run in reverse order
    after each test (also when it fails)."""

    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for fn in reversed(self.cleanups):
            fn()

    def live_proc(self, busy=25):
        p = LiveProc(busy_pct=busy)
        self.cleanups.append(p.close)
        return p

    def agent(self, proc, start=True, **kw):
        """An Agent on the fixture procfs proc (a LiveProc), started unless told; it must exit
        0 after the test (-9 when the test killed it): a sanitizer report fails the test."""
        a = Agent(proc.dir, **kw)
        self.cleanups.append(lambda: self._stop_checked(a, "agent"))
        return a.start() if start else a

    def aggregator(self, servers=(), start=True, **kw):
        """An Aggregator of servers, started unless told, checked at its exit as agent()."""
        g = Aggregator(servers=servers, **kw)
        self.cleanups.append(lambda: self._stop_checked(g, "aggregator"))
        return g.start() if start else g

    def fake_agent(self, reply, **kw):
        """A FakeAgent (fakeagent.py: reply and options there), closed after the test."""
        f = FakeAgent(reply, **kw)
        self.cleanups.append(f.close)
        return f

    def _stop_checked(self, d, what):
        rc, _ = d.stop()
        out = d.output()
        d.close()
        self.assertIn(rc, (0, -9), f"{what} exit {rc}\n{out[-4000:]}")
