# SPDX-License-Identifier: MIT
"""Packaging tests of the agent: builds the .deb with CPack from this build dir, checks its
contents, control fields, conffiles and lintian; verifies the systemd unit; runs the maintainer
scripts on an extracted tree (DPKG_ROOT), installs, upgrades, removes and purges it with a real
dpkg --root on a throwaway root, and runs deploy/agent/install.sh into a throwaway root."""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

BIN_DIR = os.environ.get("LANMON_BIN_DIR", "")
TESTS_DIR = os.environ.get("LANMON_TESTS_DIR", "")
BUILD_DIR = os.path.dirname(os.path.abspath(BIN_DIR)) if BIN_DIR else ""
SRC_DIR = os.path.dirname(os.path.abspath(TESTS_DIR)) if TESTS_DIR else ""
DEPLOY = os.path.join(SRC_DIR, "deploy", "agent")
TOOLS = ["cpack", "dpkg-deb", "lintian", "systemd-analyze", "useradd", "gzip"]
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def run(cmd, timeout=120, env=None, cwd=None, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def seed_root(root):
    """A minimal account database, so useradd --root can add the system user."""
    etc = os.path.join(root, "etc")
    os.makedirs(etc, exist_ok=True)
    for name, line, mode in (("passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
                             ("group", "root:x:0:\n", 0o644),
                             ("shadow", "root:*:19000:0:99999:7:::\n", 0o640),
                             ("gshadow", "root:*::\n", 0o640)):
        with open(os.path.join(etc, name), "w") as f:
            f.write(line)
        os.chmod(os.path.join(etc, name), mode)


def account_ids(root):
    uid = gid = None
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            parts = line.split(":")
            if parts[0] == "monitor-agent":
                assert uid is None, "monitor-agent listed twice in passwd"
                uid = int(parts[2])
    with open(os.path.join(root, "etc/group")) as f:
        for line in f:
            parts = line.split(":")
            if parts[0] == "monitor-agent":
                assert gid is None, "monitor-agent listed twice in group"
                gid = int(parts[2])
    return uid, gid


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise AssertionError(f"missing tools {missing}: run scripts/deps.sh (make deps)")
        if not os.path.isfile(os.path.join(BUILD_DIR, "CPackConfig.cmake")):
            raise AssertionError(f"no CPackConfig.cmake in {BUILD_DIR!r} (LANMON_BIN_DIR unset?)")
        cls.tmp = tempfile.mkdtemp(prefix="lanmon-deploy-")
        out = os.path.join(cls.tmp, "pkg")
        run(["cpack", "-G", "DEB", "-B", out, "--config",
             os.path.join(BUILD_DIR, "CPackConfig.cmake")], timeout=180, cwd=BUILD_DIR)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        assert len(debs) == 1, f"expected one .deb, got {debs}"
        cls.deb = os.path.join(out, debs[0])
        cls.version = run([os.path.join(BIN_DIR, "monitor-agent"), "--version"]).stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mkroot(self, name):
        root = os.path.join(self.tmp, name)
        os.makedirs(root)
        return root

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        entries = {}
        for line in listing.splitlines():
            fields = line.split()
            entries[fields[-1].lstrip(".")] = (fields[0], fields[1])
        for path, mode in (("/usr/bin/monitor-agent", "-rwxr-xr-x"),
                           ("/lib/systemd/system/monitor-agent.service", "-rw-r--r--"),
                           ("/etc/monitor-agent/config.yaml", "-rw-r--r--"),
                           ("/usr/share/doc/monitor-agent/copyright", "-rw-r--r--"),
                           ("/usr/share/doc/monitor-agent/changelog.Debian.gz", "-rw-r--r--"),
                           ("/usr/share/lintian/overrides/monitor-agent", "-rw-r--r--")):
            self.assertIn(path, entries, listing)
            self.assertEqual(entries[path], (mode, "root/root"), path)
        # Only the agent: no aggregator, no tests, no web assets.
        self.assertFalse([p for p in entries if "aggregator" in p or "test" in p], listing)
        self.assertNotIn("/etc/monitor-agent/token", entries)
        # libmicrohttpd is linked in (LGPL-2.1+): the copyright file says so; cJSON and LibYAML
        # are Debian's shared libraries here (only the portable packages link them in).
        d = os.path.join(self.tmp, "contents")
        run(["dpkg-deb", "-x", self.deb, d])
        with open(os.path.join(d, "usr/share/doc/monitor-agent/copyright")) as fh:
            text = fh.read()
        self.assertIn("Files: libmicrohttpd-1.0.1/*", text)
        self.assertIn("License: LGPL-2.1+", text)
        self.assertNotIn("cJSON", text)

    def test_control(self):
        f = {k: run(["dpkg-deb", "-f", self.deb, k]).stdout.strip()
             for k in ("Package", "Version", "Maintainer", "Depends", "Architecture", "Section")}
        self.assertEqual(f["Package"], "monitor-agent")
        m = re.match(r"^(\d+\.\d+\.\d+)-1$", f["Version"])
        self.assertTrue(m, f["Version"])
        self.assertIn(m.group(1), self.version)
        self.assertEqual(f["Maintainer"], "lanmon team <lanmon@localhost>")
        self.assertEqual(f["Architecture"],
                         run(["dpkg", "--print-architecture"]).stdout.strip())
        self.assertEqual(f["Section"], "admin")
        for dep in ("adduser", "libc6", "libgnutls30", "libyaml-0-2"):
            self.assertRegex(f["Depends"], rf"(^|, ){re.escape(dep)}\b", f["Depends"])
        # libmicrohttpd 1.0 is linked statically (Debian 12 ships 0.9.75): no package for it.
        self.assertNotIn("libmicrohttpd", f["Depends"])
        # libsystemd is loaded with dlopen when a unit state is asked for, not linked.
        self.assertNotIn("libsystemd", f["Depends"])
        ctrl = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "-e", self.deb, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as fh:
            self.assertEqual(fh.read().split(), ["/etc/monitor-agent/config.yaml"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctrl, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            with open(path) as fh:
                text = fh.read()
            self.assertTrue(text.startswith("#!/bin/sh\n"), script)
            self.assertIn("\nset -e\n", text, script)
            run(["sh", "-n", path])

    def test_lintian(self):
        p = run(["lintian", "--no-tag-display-limit", self.deb], timeout=240, check=False)
        bad = [ln for ln in p.stdout.splitlines() if ln[:2] in ("E:", "W:")]
        self.assertEqual(bad, [], p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_unit_verifies(self):
        with open(os.path.join(DEPLOY, "monitor-agent.service")) as f:
            unit = f.read()
        for line in ("Type=notify", "User=monitor-agent", "Group=monitor-agent",
                     "Restart=always", "RestartSec=2", "ExecStart=/usr/bin/monitor-agent",
                     "Environment=MONITOR_AGENT_CONFIG=/etc/monitor-agent/config.yaml",
                     "ExecReload=/bin/kill -HUP $MAINPID", "MemoryMax=100M", "CPUQuota=5%",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only",
                     "CapabilityBoundingSet=", "TimeoutStopSec=10", "KillSignal=SIGTERM",
                     "WantedBy=multi-user.target"):
            self.assertIn("\n" + line + "\n", unit, line)
        self.assertNotIn("PrivateDevices=yes", unit)  # the NVIDIA device nodes must stay usable
        d = os.path.join(self.tmp, "unit")
        os.makedirs(d)
        copy = os.path.join(d, "monitor-agent.service")
        with open(copy, "w") as f:
            f.write(unit.replace("ExecStart=/usr/bin/monitor-agent",
                                 "ExecStart=" + os.path.join(BIN_DIR, "monitor-agent")))
        p = run(["systemd-analyze", "verify", copy], check=False, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "", p.stderr)
        # And it really checks: a unit naming a missing binary fails.
        with open(copy, "w") as f:
            f.write(unit.replace("ExecStart=/usr/bin/monitor-agent",
                                 "ExecStart=/nonexistent/monitor-agent"))
        self.assertNotEqual(run(["systemd-analyze", "verify", copy], check=False).returncode, 0)

    def check_config(self, root, binary):
        """`--check-config` on the root's config with token_file pointed into the root."""
        with open(os.path.join(root, "etc/monitor-agent/config.yaml")) as f:
            text = f.read()
        # token_file and the tls files, pointed into the root.
        text = text.replace(" /etc/monitor-agent/", " " + os.path.join(root, "etc/monitor-agent/"))
        path = os.path.join(root, "check.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = run([binary, "--config", path, "--check-config"], check=False, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def check_cert(self, root, out, gid):
        """The TLS key (0640 root:monitor-agent) and certificate exist, and out (what the
        install printed) holds the pin, which is the certificate's."""
        key = os.path.join(root, "etc/monitor-agent/tls/agent.key")
        cert = os.path.join(root, "etc/monitor-agent/tls/agent.crt")
        st = os.stat(key)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual((st.st_uid, st.st_gid), (0, gid))
        pin = run([os.path.join(BIN_DIR, "monitor-agent"), "--print-pin", "--cert",
                   cert]).stdout.strip()
        self.assertRegex(pin, r"^sha256//[A-Za-z0-9+/]{43}=$")
        self.assertIn(pin, out)
        return pin

    def check_token(self, root):
        path = os.path.join(root, "etc/monitor-agent/token")
        st = os.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        with open(path) as f:
            token = f.read()
        self.assertTrue(token.endswith("\n"))
        self.assertRegex(token.strip(), TOKEN_RE)
        return token, st

    def test_maintainer_scripts(self):
        root = self.mkroot("dpkgroot")
        run(["dpkg-deb", "-x", self.deb, root])
        ctrl = os.path.join(self.tmp, "ctrl-scripts")
        run(["dpkg-deb", "-e", self.deb, ctrl])
        seed_root(root)
        env = dict(os.environ, DPKG_ROOT=root)
        p = run([os.path.join(ctrl, "postinst"), "configure", ""], env=env)
        uid, gid = account_ids(root)
        self.assertIsNotNone(uid, "postinst did not create the monitor-agent user")
        self.assertIsNotNone(gid, "postinst did not create the monitor-agent group")
        token, st = self.check_token(root)
        self.assertEqual((st.st_uid, st.st_gid), (0, gid))
        self.assertIn(token.strip(), p.stdout)  # the admin is told the token
        pin = self.check_cert(root, p.stdout, gid)  # ... and the key's pin
        self.assertIn("made a TLS key", p.stdout)
        self.assertIn("ufw allow from 10.0.0.10 to any port 9109 proto tcp", p.stdout)
        self.assertIn("firewall-cmd --permanent --add-rich-rule='rule family=ipv4 source "
                      "address=10.0.0.10 port port=9109 protocol=tcp accept'", p.stdout)
        with open(os.path.join(root, "etc/monitor-agent/config.yaml")) as f:
            cfg = f.read()
        self.assertNotIn("CHANGE_ME", cfg)
        self.assertRegex(cfg, r'\nnode_id: "[A-Za-z0-9._-]{1,64}"\n')
        self.check_config(root, os.path.join(root, "usr/bin/monitor-agent"))

        # Second configure (upgrade): same token, same user, no duplicate accounts.
        p2 = run([os.path.join(ctrl, "postinst"), "configure", "0.0.1-1"], env=env)
        self.assertEqual(self.check_token(root)[0], token)
        self.assertNotIn(token.strip(), p2.stdout)
        self.assertEqual(account_ids(root), (uid, gid))
        self.assertEqual(self.check_cert(root, p2.stdout, gid), pin)  # never a new key
        self.assertIn("keeping the TLS key", p2.stdout)

        # An empty token file is replaced; a non-empty one never.
        tok = os.path.join(root, "etc/monitor-agent/token")
        open(tok, "w").close()
        run([os.path.join(ctrl, "postinst"), "configure", "0.0.1-1"], env=env)
        self.assertNotEqual(self.check_token(root)[0], token)

        run([os.path.join(ctrl, "prerm"), "remove"], env=env)
        run([os.path.join(ctrl, "postrm"), "remove"], env=env)
        self.assertTrue(os.path.isfile(tok), "remove must keep the configuration")
        run([os.path.join(ctrl, "postrm"), "purge"], env=env)
        self.assertFalse(os.path.exists(os.path.join(root, "etc/monitor-agent")))

    def dpkg(self, root, *args):
        # A real dpkg on a throwaway root: --force-script-chrootless runs the maintainer scripts
        # on the host with DPKG_ROOT set (no chroot, so the root needs no shell); the root has
        # no libc or adduser packages, hence --force-depends.
        return run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                    "--log=/dev/null", *args], timeout=120)

    def test_dpkg_root_install_upgrade_remove_purge(self):
        root = self.mkroot("dpkg-i")
        seed_root(root)
        admin = os.path.join(root, "var/lib/dpkg")
        for d in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admin, d))
        for f in ("status", "available"):
            open(os.path.join(admin, f), "w").close()

        p = self.dpkg(root, "-i", self.deb)
        status = run(["dpkg-query", f"--root={root}", "-W", "-f=${Status} ${Version}",
                      "monitor-agent"]).stdout
        self.assertEqual(status, "install ok installed " + run(
            ["dpkg-deb", "-f", self.deb, "Version"]).stdout.strip())
        for f in ("usr/bin/monitor-agent", "lib/systemd/system/monitor-agent.service",
                  "etc/monitor-agent/config.yaml", "usr/share/doc/monitor-agent/copyright"):
            self.assertTrue(os.path.isfile(os.path.join(root, f)), f)
        conffiles = run(["dpkg-query", f"--root={root}", "-W", "-f=${Conffiles}",
                         "monitor-agent"]).stdout
        self.assertIn("/etc/monitor-agent/config.yaml", conffiles)
        uid, gid = account_ids(root)
        self.assertIsNotNone(uid)
        token, st = self.check_token(root)
        self.assertEqual((st.st_uid, st.st_gid), (0, gid))
        self.assertIn(token.strip(), p.stdout)
        pin = self.check_cert(root, p.stdout, gid)
        self.check_config(root, os.path.join(root, "usr/bin/monitor-agent"))

        # The admin edits the conffile; an upgrade (the same package again) keeps the edit, the
        # token and the account.
        cfg = os.path.join(root, "etc/monitor-agent/config.yaml")
        with open(cfg) as f:
            edited = f.read().replace('disks: ["/"]', 'disks: ["/", "/data"]')
        with open(cfg, "w") as f:
            f.write(edited)
        p = self.dpkg(root, "--force-confold", "-i", self.deb)
        with open(cfg) as f:
            self.assertEqual(f.read(), edited)
        self.assertEqual(self.check_cert(root, p.stdout, gid), pin)
        self.assertEqual(self.check_token(root)[0], token)
        self.assertNotIn(token.strip(), p.stdout)
        self.assertEqual(account_ids(root), (uid, gid))

        # Remove keeps the configuration and the token; purge removes them.
        self.dpkg(root, "-r", "monitor-agent")
        self.assertFalse(os.path.exists(os.path.join(root, "usr/bin/monitor-agent")))
        self.assertFalse(os.path.exists(os.path.join(root,
                                                     "lib/systemd/system/monitor-agent.service")))
        self.assertTrue(os.path.isfile(cfg))
        self.assertEqual(self.check_token(root)[0], token)
        self.assertEqual(run(["dpkg-query", f"--root={root}", "-W", "-f=${Status}",
                              "monitor-agent"]).stdout, "deinstall ok config-files")
        self.dpkg(root, "-P", "monitor-agent")
        self.assertFalse(os.path.exists(os.path.join(root, "etc/monitor-agent")))
        q = run(["dpkg-query", f"--root={root}", "-W", "-f=${Status}", "monitor-agent"],
                check=False)
        self.assertTrue(q.returncode != 0 or q.stdout in ("", "unknown ok not-installed"),
                        q.stdout)

    def test_install_sh(self):
        root = self.mkroot("instroot")
        seed_root(root)
        script = os.path.join(DEPLOY, "install.sh")
        binary = os.path.join(BIN_DIR, "monitor-agent")
        p = run([script, "--binary", binary, "--root", root])
        uid, gid = account_ids(root)
        self.assertIsNotNone(uid)
        pin = self.check_cert(root, p.stdout, gid)
        bin_dst = os.path.join(root, "usr/local/bin/monitor-agent")
        unit = os.path.join(root, "etc/systemd/system/monitor-agent.service")
        cfg = os.path.join(root, "etc/monitor-agent/config.yaml")
        self.assertTrue(os.access(bin_dst, os.X_OK))
        with open(unit) as f:
            text = f.read()
        self.assertIn("\nExecStart=/usr/local/bin/monitor-agent\n", text)
        self.assertIn("\nType=notify\n", text)
        token, st = self.check_token(root)
        self.assertEqual((st.st_uid, st.st_gid), (0, gid))
        self.check_config(root, bin_dst)

        # Idempotent: a second run keeps the token and a locally edited config.
        with open(cfg, "a") as f:
            f.write("# local edit\n")
        p = run([script, "--binary", binary, "--root", root])
        self.assertEqual(self.check_token(root)[0], token)
        self.assertEqual(self.check_cert(root, p.stdout, gid), pin)
        with open(cfg) as f:
            self.assertTrue(f.read().endswith("# local edit\n"))
        self.assertEqual(account_ids(root), (uid, gid))

        run([script, "--uninstall", "--root", root])
        self.assertFalse(os.path.exists(bin_dst))
        self.assertFalse(os.path.exists(unit))
        self.assertTrue(os.path.isfile(cfg))
        run([script, "--uninstall", "--purge", "--root", root])
        self.assertFalse(os.path.exists(os.path.join(root, "etc/monitor-agent")))

        p = run([script, "--binary", "/nonexistent/monitor-agent", "--root", root], check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
