# SPDX-License-Identifier: MIT
"""Tests of the portable agent and its packages (scripts/portable-build), run by
scripts/test-portable (make test-portable, part of make test):
- the ABI check passes on both binaries and really rejects: the ASan build, and a probe calling
  exp/log/pow without the glibc compat header (GLIBC_2.29), which the header pins back;
- the static libmicrohttpd has HTTPS (MHD_is_feature_supported(MHD_FEATURE_TLS));
- the .deb installed with dpkg inside Debian 11 and Debian 13 roots (chroot, offline, so the
  Depends line is checked too), the agent started there as its own user against the root's
  /proc, /v1/health and /v1/snapshot values compared with that /proc, then removed and purged;
- the .rpm: file list, flags, requirements and scriptlets with rpm -qp, then installed, upgraded
  and erased with rpm --root in a scratch root (the scriptlets run inside it);
- the .tar.gz: contents, and its install.sh into a Debian 11 root where the agent then runs;
- the aarch64 binary under qemu-aarch64-static: --version, and --print-snapshot on a fixture
  procfs with a fake NVML cross-built for aarch64, compared with the x86_64 binary's output.
Needs root (chroot, mount). Environment: LANMON_PORTABLE_BUILD, LANMON_AGENT_CACHE,
LANMON_FIXTURES, LANMON_TESTS_DIR, LANMON_NATIVE_AGENT (the ASan build's monitor-agent)."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

PORTABLE = os.environ.get("LANMON_PORTABLE_BUILD", "")
CACHE = os.environ.get("LANMON_AGENT_CACHE", "")
FIXTURES = os.environ.get("LANMON_FIXTURES", "")
TESTS_DIR = os.environ.get("LANMON_TESTS_DIR", "")
NATIVE_AGENT = os.environ.get("LANMON_NATIVE_AGENT", "")
SRC_DIR = os.path.dirname(os.path.abspath(TESTS_DIR)) if TESTS_DIR else ""
CHECK_ABI = os.path.join(SRC_DIR, "scripts", "check-portable-abi")
COMPAT_H = os.path.join(SRC_DIR, "cmake", "portable", "glibc-compat.h")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
ARCHES = {"x86_64": ("amd64", "gcc"), "aarch64": ("arm64", "aarch64-linux-gnu-gcc")}


def run(cmd, timeout=120, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PIN_RE = re.compile(r"sha256//[A-Za-z0-9+/]{43}=")


def get(url, token, timeout=5):
    """GET over the packaged agent's HTTPS (its self-signed certificate: not verified here;
    the pin checks are in tests/integration/test_tls.py)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the agent exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"port {port} did not open within {timeout}s")


def sysroot(arch):
    return os.path.join(CACHE, f"sysroot-{arch}")


def sysroot_cc(arch):
    """The compiler command scripts/lib/portable-libs.sh uses: only the sysroot's headers and
    libraries."""
    cc = ARCHES[arch][1]
    s, t = sysroot(arch), f"{arch}-linux-gnu"
    inc = run([cc, "-print-file-name=include"]).stdout.strip()
    return [cc, f"--sysroot={s}", "-nostdinc", "-isystem", inc, "-isystem",
            f"{s}/usr/include/{t}", "-isystem", f"{s}/usr/include", f"-B{s}/usr/lib/{t}/",
            f"-L{s}/lib/{t}", f"-L{s}/usr/lib/{t}", f"-Wl,-rpath-link,{s}/lib/{t}:{s}/usr/lib/{t}"]


def exec_for(arch, argv):
    """argv run natively (x86_64) or under qemu-aarch64-static with the aarch64 sysroot."""
    if arch == "aarch64":
        return ["qemu-aarch64-static", "-L", sysroot(arch)] + argv
    return argv


def package(pattern):
    out = os.path.join(PORTABLE, "packages")
    found = [f for f in os.listdir(out) if re.fullmatch(pattern, f)]
    assert len(found) == 1, f"expected one package matching {pattern} in {out}, got {found}"
    return os.path.join(out, found[0])


class Root:
    """A throwaway copy of a cached debootstrap root with /proc mounted, for chroot."""

    def __init__(self, suite, tmp):
        src = os.path.join(CACHE, "roots", suite)
        if not os.path.isfile(os.path.join(src, ".complete")):
            raise AssertionError(f"no {suite} root in {src}: run scripts/distro-roots")
        self.path = os.path.join(tmp, suite)
        run(["cp", "-a", "--reflink=auto", src, self.path], timeout=300)
        run(["mount", "-t", "proc", "proc", os.path.join(self.path, "proc")])
        self.mounted = True

    def run(self, *argv, check=True, timeout=120, user=None, env=None):
        cmd = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [self.path]
        return run(cmd + list(argv), check=check, timeout=timeout,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", **(env or {})})

    def file(self, path):
        return os.path.join(self.path, path.lstrip("/"))

    def read(self, path):
        with open(self.file(path)) as f:
            return f.read()

    def account(self, name="monitor-agent"):
        """(uid, gid) of the agent's account in this root, or (None, None)."""
        uid = gid = None
        for line in self.read("/etc/passwd").splitlines():
            if line.split(":")[0] == name:
                uid = int(line.split(":")[2])
        for line in self.read("/etc/group").splitlines():
            if line.split(":")[0] == name:
                gid = int(line.split(":")[2])
        return uid, gid

    def close(self):
        if self.mounted:
            run(["umount", "-l", os.path.join(self.path, "proc")], check=False)
            self.mounted = False
        shutil.rmtree(self.path, ignore_errors=True)


def meminfo_kb(root, key):
    with open(os.path.join(root, "proc", "meminfo")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in meminfo")


class PortableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the portable tests need root (chroot, mount, rpm --root)")
        for tool in ("chroot", "mount", "rpm", "rpmbuild", "dpkg-deb", "qemu-aarch64-static",
                     "aarch64-linux-gnu-gcc", "readelf", "objdump"):
            if not shutil.which(tool):
                raise AssertionError(f"missing {tool}: run scripts/deps.sh (make deps)")
        cls.tmp = tempfile.mkdtemp(prefix="lanmon-portable-")
        cls.bins = {a: os.path.join(PORTABLE, a, "bin", "monitor-agent") for a in ARCHES}
        for a, b in cls.bins.items():
            if not os.access(b, os.X_OK):
                raise AssertionError(f"no {b}: run scripts/portable-build")
        cls.version = run([cls.bins["x86_64"], "--version"]).stdout.split()[-1]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mkdir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def root(self, suite):
        r = Root(suite, self.tmp)
        self.addCleanup(r.close)
        return r

    # --- the binaries -------------------------------------------------------------------

    def test_abi_check_passes_on_both_binaries(self):
        for arch, b in self.bins.items():
            p = run([CHECK_ABI, b])
            self.assertIn(f"{arch} ok", p.stdout)
            needed = set(re.search(r"NEEDED ([^;]*);", p.stdout).group(1).split())
            self.assertIn("libgnutls.so.30", needed)
            self.assertLessEqual(needed, {"libc.so.6", "libm.so.6", "libpthread.so.0",
                                          "libdl.so.2", "librt.so.1", "libgnutls.so.30"})
            newest = re.search(r"newest GLIBC_([0-9.]+)", p.stdout).group(1)
            self.assertLessEqual(tuple(map(int, newest.split("."))), (2, 28), p.stdout)
            # The same answer from objdump -T, as an admin would check it.
            dyn = run(["objdump" if arch == "x86_64" else "aarch64-linux-gnu-objdump", "-T",
                       b]).stdout
            vers = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([0-9.]+)", dyn)}
            self.assertLessEqual(max(vers), (2, 28))
            self.assertNotIn("libsystemd", run(["readelf", "-d", b]).stdout)

    def test_abi_check_rejects(self):
        # The ASan build: sanitizer runtimes, libcjson.so.1 (its libmicrohttpd is static since
        # cmake/mhd.cmake), GLIBC_2.34.
        if NATIVE_AGENT:
            p = run([CHECK_ABI, NATIVE_AGENT], check=False)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("needs libcjson.so.1", p.stderr)
            self.assertRegex(p.stderr, r"needs GLIBC_2\.3[4-9] > GLIBC_2\.28")
        # A probe calling the libm functions glibc 2.29 re-versioned: without the compat
        # header it needs GLIBC_2.29 and the check fails naming them; with it, it passes.
        d = self.mkdir("probe")
        src = os.path.join(d, "probe.c")
        with open(src, "w") as f:
            f.write("#include <math.h>\n#include <stdio.h>\nint main(int c, char **v) {\n"
                    "  volatile double x = c + 0.5;\n  (void)v;\n"
                    "  printf(\"%.6f %.6f %.6f\\n\", exp(x), log(x), pow(x, x));\n"
                    "  return 0;\n}\n")
        for arch in ARCHES:
            plain, pinned = os.path.join(d, f"plain-{arch}"), os.path.join(d, f"pinned-{arch}")
            run(sysroot_cc(arch) + ["-O2", src, "-o", plain, "-lm"])
            run(sysroot_cc(arch) + ["-O2", "-include", COMPAT_H, src, "-o", pinned, "-lm"])
            p = run([CHECK_ABI, plain], check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertRegex(p.stderr, r"needs GLIBC_2\.29 > GLIBC_2\.28: .*\bpow\b")
            run([CHECK_ABI, pinned])
            out = run(exec_for(arch, [pinned])).stdout
            self.assertEqual(out, "4.481689 0.405465 1.837117\n")
        # Not an ELF file, and a missing one.
        p = run([CHECK_ABI, COMPAT_H, "/nonexistent/agent"], check=False)
        self.assertEqual(p.returncode, 1)

    def test_static_libmicrohttpd_has_https_and_is_1_0(self):
        d = self.mkdir("mhd")
        src = os.path.join(d, "tls.c")
        with open(src, "w") as f:
            f.write("#include <microhttpd.h>\n#include <stdio.h>\nint main(void) {\n"
                    "  printf(\"tls=%d %s\\n\", MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES,\n"
                    "         MHD_get_version());\n"
                    "  return 0;\n}\n")
        for arch in ARCHES:
            prefix = os.path.join(CACHE, f"prefix-{arch}")
            exe = os.path.join(d, f"tls-{arch}")
            run(sysroot_cc(arch) + ["-include", COMPAT_H, f"-I{prefix}/include", src, "-o", exe,
                                    f"{prefix}/lib/libmicrohttpd.a", "-lgnutls", "-lpthread"])
            # 1.0: 0.9.75 let a NUL cut a token on kept-alive and TLS requests (scripts/lib/mhd.sh).
            self.assertRegex(run(exec_for(arch, [exe])).stdout, r"^tls=1 1\.0\.[0-9]+\n$", arch)

    def test_aarch64_under_qemu(self):
        a64, x64 = self.bins["aarch64"], self.bins["x86_64"]
        self.assertEqual(run(exec_for("aarch64", [a64, "--version"])).stdout,
                         f"monitor-agent {self.version}\n")
        # A fake NVML built for aarch64 (the test double of tests/fakes) and a fixture procfs.
        d = self.mkdir("qemu")
        fake = os.path.join(d, "libnvidia-ml.so.1")
        run(sysroot_cc("aarch64") + ["-shared", "-fPIC", "-O2", "-fvisibility=hidden",
                                     os.path.join(TESTS_DIR, "fakes", "fake_nvml.c"),
                                     os.path.join(TESTS_DIR, "fakes", "fake_nvml_state.c"),
                                     "-o", fake])
        procfs = os.path.join(FIXTURES, "proc", "basic")
        outs = {}
        for arch, b, lib in (("aarch64", a64, fake),
                             ("x86_64", x64, os.path.join(d, "libnvidia-ml-x86_64.so.1"))):
            if arch == "x86_64":
                run(sysroot_cc("x86_64") + ["-shared", "-fPIC", "-O2", "-fvisibility=hidden",
                                            os.path.join(TESTS_DIR, "fakes", "fake_nvml.c"),
                                            os.path.join(TESTS_DIR, "fakes", "fake_nvml_state.c"),
                                            "-o", lib])
            cfg = os.path.join(d, f"{arch}.yaml")
            with open(cfg, "w") as f:
                f.write(f'node_id: "qemu-{arch}"\nlisten: "127.0.0.1:{free_port()}"\n'
                        f'token: "portable-token-0123456789"\ndisks: ["/"]\ngpu: nvidia\n'
                        f'nvml_library: "{lib}"\nnvidia_smi: "/nonexistent/nvidia-smi"\n'
                        f'procfs_root: "{procfs}"\n')
            p = run(exec_for(arch, [b, "--config", cfg, "--print-snapshot"]), timeout=60,
                    env=dict(os.environ, FAKE_NVML_GPUS="3"))
            outs[arch] = json.loads(p.stdout)
        snap = outs["aarch64"]
        self.assertEqual(snap["node_id"], "qemu-aarch64")
        self.assertEqual(snap["agent_version"], self.version)
        self.assertEqual(snap["uptime_s"], 3600)
        self.assertEqual(snap["cpu_count"], 4)
        self.assertEqual(snap["load"], [1.5, 1, 0.5])
        self.assertEqual(snap["mem"]["total_bytes"], 16777216000)
        self.assertEqual(len(snap["gpus"]), 3)
        # Same readings from both architectures (time stamps and names aside).
        for s in outs.values():
            s.pop("ts", None)
            s.pop("node_id", None)
            for disk in s.get("disks", []):
                disk.pop("used_bytes", None)
                disk.pop("used_pct", None)
        self.assertEqual(outs["aarch64"], outs["x86_64"])

    # --- the .deb inside Debian 11 and 13 -------------------------------------------------

    def deb_in_root(self, suite, arch="x86_64"):
        deb = package(rf"monitor-agent_{re.escape(self.version)}-1_{ARCHES[arch][0]}\.deb")
        self.assertEqual(run(["dpkg-deb", "-f", deb, "Depends"]).stdout.strip(),
                         "libc6 (>= 2.28), libgnutls30 (>= 3.6.3), adduser")
        root = self.root(suite)
        shutil.copy(deb, root.file("/tmp/agent.deb"))
        # Offline: dpkg itself checks that the root satisfies Depends.
        p = root.run("dpkg", "-i", "/tmp/agent.deb")
        self.assertEqual(root.run("dpkg-query", "-W", "-f=${Status}", "monitor-agent").stdout,
                         "install ok installed")
        uid, gid = root.account()
        self.assertIsNotNone(uid, "postinst did not create the monitor-agent user")
        tok = root.file("/etc/monitor-agent/token")
        st = os.stat(tok)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o640, 0, gid))
        token = root.read("/etc/monitor-agent/token").strip()
        self.assertRegex(token, TOKEN_RE)
        self.assertIn(token, p.stdout)
        self.assertRegex(p.stdout, PIN_RE)  # the TLS key's pin beside the token
        st = os.stat(root.file("/etc/monitor-agent/tls/agent.key"))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o640, 0, gid))
        cfg = root.read("/etc/monitor-agent/config.yaml")
        self.assertNotIn("CHANGE_ME", cfg)
        self.assertTrue(os.path.isfile(root.file("/lib/systemd/system/monitor-agent.service")))
        return root, token, cfg

    def start_in_root(self, root, cfg, services=None):
        """Starts the installed agent as monitor-agent inside root on a free port."""
        port = free_port()
        cfg = re.sub(r'(?m)^listen: .*$', f'listen: "127.0.0.1:{port}"', cfg)
        if services is not None:
            cfg = re.sub(r'(?m)^services_allowlist: .*$',
                         f"services_allowlist: {json.dumps(services)}", cfg)
        with open(root.file("/etc/monitor-agent/config.yaml"), "w") as f:
            f.write(cfg)
        root.run("/usr/bin/monitor-agent", "--check-config", user="monitor-agent",
                 env={"MONITOR_AGENT_CONFIG": "/etc/monitor-agent/config.yaml"})
        log = open(os.path.join(self.tmp, f"agent-{port}.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(["chroot", "--userspec=monitor-agent:monitor-agent", root.path,
                                 "/usr/bin/monitor-agent"], stdout=log, stderr=subprocess.STDOUT,
                                env={"MONITOR_AGENT_CONFIG": "/etc/monitor-agent/config.yaml",
                                     "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.addCleanup(stop)
        wait_port(port, proc)
        return proc, port, stop

    def check_agent_in_root(self, suite):
        root, token, cfg = self.deb_in_root(suite)
        proc, port, stop = self.start_in_root(root, cfg, services=["dbus.service"])
        base = f"https://127.0.0.1:{port}"
        status, health = get(base + "/v1/health", token)
        self.assertIn(status, (200, 503), health)
        self.assertEqual(health["agent_version"], self.version)
        self.assertEqual(get(base + "/v1/snapshot", "wrong-token-0123456789")[0], 401)
        # The first CPU reading needs two samples.
        deadline = time.monotonic() + 10
        while True:
            status, snap = get(base + "/v1/snapshot", token)
            self.assertEqual(status, 200, snap)
            if snap.get("cpu_pct") is not None or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        node_id = re.search(r'(?m)^node_id: "([^"]+)"', cfg).group(1)
        self.assertEqual(snap["node_id"], node_id)
        self.assertEqual(snap["cpu_count"], os.cpu_count())
        self.assertIsNotNone(snap["cpu_pct"])
        self.assertTrue(0 <= snap["cpu_pct"] <= 100)
        self.assertEqual(snap["mem"]["total_bytes"], meminfo_kb(root.path, "MemTotal") * 1024)
        with open(root.file("/proc/uptime")) as f:
            self.assertLess(abs(snap["uptime_s"] - float(f.read().split()[0])), 30)
        sv = os.statvfs(root.path)
        disk = {d["mount"]: d for d in snap["disks"]}["/"]
        self.assertEqual(disk["total_bytes"], sv.f_blocks * sv.f_frsize)
        self.assertEqual(snap["gpus"], [])  # no NVIDIA driver in the root
        # No systemd on a bus inside the chroot: the unit entry says why, and so does health.
        units = {u["name"]: u for u in snap.get("services", [])}
        self.assertIn("dbus.service", units, snap)
        self.assertIn("error", units["dbus.service"])
        self.assertEqual(proc.poll(), None)
        stop()
        self.assertEqual(proc.returncode, 0)
        # Remove keeps the configuration and the token; purge removes them.
        root.run("dpkg", "-r", "monitor-agent")
        self.assertFalse(os.path.exists(root.file("/usr/bin/monitor-agent")))
        self.assertTrue(os.path.isfile(root.file("/etc/monitor-agent/token")))
        root.run("dpkg", "-P", "monitor-agent")
        self.assertFalse(os.path.exists(root.file("/etc/monitor-agent")))
        return snap

    def test_deb_debian11(self):
        snap = self.check_agent_in_root("bullseye")
        # bullseye has libsystemd0: the entry names the missing bus, not a missing library.
        err = {u["name"]: u for u in snap["services"]}["dbus.service"]["error"]
        self.assertIn("system bus unavailable", err)

    def test_deb_debian13(self):
        self.check_agent_in_root("trixie")

    def assert_copyright_names_embedded(self, path):
        """The three libraries linked into the portable binary, with their licenses."""
        with open(path) as fh:
            text = fh.read()
        for files in ("libmicrohttpd-1.0.1/*", "cjson-1.7.15/*", "libyaml-0.2.5/*"):
            self.assertIn(f"Files: {files}", text)
        self.assertIn("License: LGPL-2.1+", text)

    def test_deb_contents_both_arches(self):
        for arch, (debarch, _) in ARCHES.items():
            deb = package(rf"monitor-agent_{re.escape(self.version)}-1_{debarch}\.deb")
            f = {k: run(["dpkg-deb", "-f", deb, k]).stdout.strip()
                 for k in ("Package", "Architecture", "Depends", "Version")}
            self.assertEqual(f, {"Package": "monitor-agent", "Architecture": debarch,
                                 "Depends": "libc6 (>= 2.28), libgnutls30 (>= 3.6.3), adduser",
                                 "Version": f"{self.version}-1"})
            d = self.mkdir(f"deb-{arch}")
            run(["dpkg-deb", "-x", deb, d])
            run([CHECK_ABI, os.path.join(d, "usr/bin/monitor-agent")])
            self.assert_copyright_names_embedded(
                os.path.join(d, "usr/share/doc/monitor-agent/copyright"))
            self.assertIn({"x86_64": "x86-64", "aarch64": "ARM aarch64"}[arch],
                          run(["file", os.path.join(d, "usr/bin/monitor-agent")]).stdout)

    # --- the .rpm ---------------------------------------------------------------------------

    def test_rpm_queries(self):
        for arch in ARCHES:
            rpm = package(rf"monitor-agent-{re.escape(self.version)}-1\.{arch}\.rpm")
            self.assertEqual(run(["rpm", "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}",
                                  rpm]).stdout, f"monitor-agent {self.version}-1 {arch}")
            files = run(["rpm", "-qpl", rpm]).stdout.split()
            self.assertEqual(sorted(files), sorted([
                "/etc/monitor-agent", "/etc/monitor-agent/config.yaml", "/usr/bin/monitor-agent",
                "/usr/lib/systemd/system/monitor-agent.service",
                "/usr/share/doc/monitor-agent", "/usr/share/doc/monitor-agent/copyright"]))
            flags = dict(line.split(" ", 1)[::-1] for line in run(
                ["rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm])
                .stdout.splitlines() if " " in line)
            self.assertEqual(flags["/etc/monitor-agent/config.yaml"], "cn")  # noreplace
            self.assertNotIn("c", flags.get("/usr/bin/monitor-agent", ""))
            self.assertEqual(run(["rpm", "-qp", "--qf", "%{LICENSE}", rpm]).stdout,
                             "MIT and LGPL-2.1-or-later")
            reqs = run(["rpm", "-qpR", rpm]).stdout.splitlines()
            lib64 = "(64bit)"
            for r in ("glibc >= 2.28", "gnutls >= 3.6.3", "shadow-utils",
                      f"libgnutls.so.30(GNUTLS_3_4){lib64}"):
                self.assertIn(r, reqs)
            glibc = [tuple(map(int, m.group(1).split("."))) for m in
                     (re.search(r"\(GLIBC_([0-9.]+)\)", r) for r in reqs) if m]
            self.assertTrue(glibc and max(glibc) <= (2, 28), reqs)
            scripts = run(["rpm", "-qp", "--scripts", rpm]).stdout
            for s in ("postinstall scriptlet", "preuninstall scriptlet",
                      "postuninstall scriptlet", "useradd --system", "make_token",
                      "systemctl --no-reload preset monitor-agent.service",
                      "systemctl --no-reload disable --now monitor-agent.service",
                      "systemctl try-restart monitor-agent.service"):
                self.assertIn(s, scripts)

    def test_rpm_root_install_upgrade_erase(self):
        rpm = package(rf"monitor-agent-{re.escape(self.version)}-1\.x86_64\.rpm")
        root = self.root("trixie")  # any root with a shell and shadow's useradd
        rpmdb = ["--root", root.path, "--dbpath", "/var/lib/rpm"]
        run(["rpm", *rpmdb, "--initdb"])
        # --nodeps: glibc and gnutls are dpkg's packages in this root, unknown to rpm.
        p = run(["rpm", *rpmdb, "-i", "--nodeps", rpm])
        self.assertEqual(run(["rpm", *rpmdb, "-q", "monitor-agent"]).stdout.strip(),
                         f"monitor-agent-{self.version}-1.x86_64")
        uid, gid = root.account()
        self.assertIsNotNone(uid, "%post did not create the monitor-agent user")
        st = os.stat(root.file("/etc/monitor-agent/token"))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (0o640, 0, gid))
        token = root.read("/etc/monitor-agent/token").strip()
        self.assertRegex(token, TOKEN_RE)
        self.assertIn(token, p.stdout)
        self.assertIn("systemctl enable --now monitor-agent", p.stdout)
        self.assertRegex(p.stdout, PIN_RE)
        cfg = root.read("/etc/monitor-agent/config.yaml")
        self.assertNotIn("CHANGE_ME", cfg)
        for f in ("/usr/bin/monitor-agent", "/usr/lib/systemd/system/monitor-agent.service"):
            self.assertTrue(os.path.isfile(root.file(f)), f)
        # The installed agent runs in that root.
        proc, port, stop = self.start_in_root(root, cfg)
        status, snap = get(f"https://127.0.0.1:{port}/v1/snapshot", token)
        self.assertEqual(status, 200)
        self.assertEqual(snap["mem"]["total_bytes"], meminfo_kb(root.path, "MemTotal") * 1024)
        stop()
        # Upgrade (the same package again): the edited config stays (noreplace), so do the
        # token and the account.
        edited = root.read("/etc/monitor-agent/config.yaml") + "# local edit\n"
        with open(root.file("/etc/monitor-agent/config.yaml"), "w") as f:
            f.write(edited)
        p = run(["rpm", *rpmdb, "-U", "--replacepkgs", "--nodeps", rpm])
        self.assertEqual(root.read("/etc/monitor-agent/config.yaml"), edited)
        self.assertEqual(root.read("/etc/monitor-agent/token").strip(), token)
        self.assertIn("keeping the existing token", p.stdout)
        self.assertEqual(root.account(), (uid, gid))
        # Erase: the files go, the edited config is kept as .rpmsave, the token stays.
        run(["rpm", *rpmdb, "-e", "monitor-agent"])
        self.assertFalse(os.path.exists(root.file("/usr/bin/monitor-agent")))
        self.assertTrue(os.path.isfile(root.file("/etc/monitor-agent/config.yaml.rpmsave")))
        self.assertTrue(os.path.isfile(root.file("/etc/monitor-agent/token")))

    # --- the .tar.gz ------------------------------------------------------------------------

    def test_tarball_install_sh(self):
        name = f"monitor-agent-{self.version}-linux-x86_64"
        tgz = package(rf"{re.escape(name)}\.tar\.gz")
        listing = sorted(run(["tar", "tzf", tgz]).stdout.split())
        self.assertEqual(listing, sorted(f"{name}/{f}" for f in (
            "monitor-agent", "monitor-agent.service", "config.yaml", "install.sh",
            "copyright")))
        a64 = package(rf"monitor-agent-{re.escape(self.version)}-linux-aarch64\.tar\.gz")
        d = self.mkdir("tgz-a64")
        run(["tar", "xzf", a64, "-C", d])
        self.assertIn("ARM aarch64", run(["file", os.path.join(
            d, f"monitor-agent-{self.version}-linux-aarch64", "monitor-agent")]).stdout)
        self.assert_copyright_names_embedded(
            os.path.join(d, f"monitor-agent-{self.version}-linux-aarch64", "copyright"))
        # Unpacked inside a Debian 11 root and installed from there with its own install.sh.
        root = self.root("bullseye")
        run(["tar", "xzf", tgz, "-C", root.file("/tmp")])
        p = root.run("sh", f"/tmp/{name}/install.sh")
        token = root.read("/etc/monitor-agent/token").strip()
        self.assertRegex(token, TOKEN_RE)
        self.assertIn(token, p.stdout)
        unit = root.read("/etc/systemd/system/monitor-agent.service")
        self.assertIn("\nExecStart=/usr/local/bin/monitor-agent\n", unit)
        cfg = root.read("/etc/monitor-agent/config.yaml")
        port = free_port()
        cfg = re.sub(r'(?m)^listen: .*$', f'listen: "127.0.0.1:{port}"', cfg)
        with open(root.file("/etc/monitor-agent/config.yaml"), "w") as f:
            f.write(cfg)
        p = root.run("/usr/local/bin/monitor-agent", "--config", "/etc/monitor-agent/config.yaml",
                     "--print-snapshot", user="monitor-agent", timeout=30)
        snap = json.loads(p.stdout)
        self.assertEqual(snap["mem"]["total_bytes"], meminfo_kb(root.path, "MemTotal") * 1024)


if __name__ == "__main__":
    unittest.main(verbosity=2)
