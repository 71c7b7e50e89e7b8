# SPDX-License-Identifier: MIT
"""Issue 14: encrypted, pinned agent links and the HTTPS dashboard, with real agents and a real
aggregator on 127.0.0.1: the pinned handshake, trust on first use and a re-keyed agent, CA
verification (wrong CA, wrong name), an expired certificate, plain HTTP and TLS crossed, the
agent's SIGHUP reload, and a loopback capture that holds neither token."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (BIN_DIR, Agent, CleanupTestCase, http,  # noqa: E402
                            scaled, server_entry, wait_until)

PIN_MISMATCH = "certificate changed (pin mismatch)"


def curl_pin_ok(url, pin):
    """True when a fresh TLS connection to url presents the key of pin (curl exit 0, or 22 for
    an HTTP error after the handshake); false on a mismatch (90)."""
    r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "--max-time", "5",
                        "--pinnedpubkey", pin, url], capture_output=True, timeout=scaled(15))
    return r.returncode == 0


class Fixture(CleanupTestCase):
    def server(self, g, name):
        return g.servers()[name]

    def wait_online(self, g, name, timeout=10):
        return wait_until(lambda: (lambda s: s if s["online"] else None)(self.server(g, name)),
                          timeout=timeout, what=f"{name} online")

    def wait_error(self, g, name, prefix, timeout=10):
        return wait_until(lambda: (lambda s: s if (s["last_error"] or "").startswith(prefix)
                                   else None)(self.server(g, name)),
                          timeout=timeout, what=f"{name}: last_error {prefix!r}")

    def events(self, g, type_):
        return [e for e in g.events(limit=200) if e["type"] == type_]


class AgentTlsTest(Fixture):
    def test_https_only_and_modern_protocols(self):
        a = self.agent(self.live_proc(), tls=True)
        self.assertEqual(a.get("/v1/health").status, 200)
        # Plain HTTP on the TLS port: a clear 400 at once, not a hang.
        t0 = time.monotonic()
        r = http("GET", f"http://127.0.0.1:{a.port}/v1/health", token=a.token, timeout=5)
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(r.status, 400)
        self.assertIn("HTTPS only", r.json()["error"])
        # TLS 1.1 is refused; 1.2 and 1.3 are served.
        for version, ok in (("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)):
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{a.port}",
                                version], input=b"", capture_output=True, timeout=scaled(15))
            self.assertEqual(b"Cipher is (NONE)" not in r.stdout and r.returncode == 0, ok,
                             f"{version}: {r.stdout[-300:]!r}")
        # --print-pin matches the certificate the agent serves.
        pin = subprocess.run([os.path.join(BIN_DIR, "monitor-agent"), "--config",
                              a.config_path, "--print-pin"], capture_output=True, text=True,
                             timeout=scaled(15)).stdout.strip()
        self.assertEqual(pin, a.pin)
        self.assertTrue(curl_pin_ok(a.base + "/v1/health", pin))

    def test_sighup_reloads_the_certificate(self):
        a = self.agent(self.live_proc(), tls=True)
        old = a.pin
        self.assertTrue(curl_pin_ok(a.base + "/v1/health", old))
        new = a.gen_cert()
        self.assertNotEqual(new, old)
        a.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: curl_pin_ok(a.base + "/v1/health", new), timeout=5,
                   what="the new key on new connections")
        self.assertFalse(curl_pin_ok(a.base + "/v1/health", old))
        # A broken pair on the next reload keeps the running certificate.
        with open(a.key, "w") as f:
            f.write("not a key\n")
        a.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the running configuration and certificate" in a.output(),
                   timeout=5, what="reload refused")
        self.assertTrue(curl_pin_ok(a.base + "/v1/health", new))

    def test_gen_cert_never_overwrites(self):
        a = Agent(self.live_proc().dir, tls=True)
        self.cleanups.append(a.close)
        r = subprocess.run([os.path.join(BIN_DIR, "monitor-agent"), "--gen-cert", "--cert",
                            a.cert, "--key", a.key], capture_output=True, text=True,
                           timeout=scaled(15))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not overwritten", r.stderr)
        self.assertEqual(os.stat(a.key).st_mode & 0o777, 0o600)
        out = subprocess.run(["openssl", "x509", "-in", a.cert, "-noout", "-text"],
                             capture_output=True, text=True, timeout=scaled(15)).stdout
        self.assertIn("id-ecPublicKey", out)
        self.assertIn("prime256v1", out)
        self.assertIn("IP Address:127.0.0.1", out)


class PinningTest(Fixture):
    def test_pinned_handshake(self):
        a = self.agent(self.live_proc(), tls=True)
        g = self.aggregator([server_entry("pinned", a, tls=True, tls_pin=a.pin)])
        s = self.wait_online(g, "pinned")
        self.assertEqual(s["tls_state"], "pinned")
        self.assertEqual(s["tls_pin"], a.pin)
        self.assertEqual(self.events(g, "server_key_pinned"), [])

    def test_tofu_then_rekeyed_agent_then_repin(self):
        proc = self.live_proc()
        a = self.agent(proc, tls=True)
        g = self.aggregator()
        # Straight to the API: the suites' helper adds tls: false when a body has no tls.
        r = http("POST", g.base + "/api/servers", headers={"X-Admin-Token": g.admin_token},
                 body={"name": "tofu", "host": "127.0.0.1", "agent_port": a.port,
                       "token": a.token})
        self.assertEqual(r.status, 201, r.body)
        self.assertTrue(r.json()["tls"], "new servers poll over TLS by default")
        sid = r.json()["id"]
        s = self.wait_online(g, "tofu")
        wait_until(lambda: self.server(g, "tofu")["tls_pin"] == a.pin, timeout=5,
                   what="pinned at first contact")
        self.assertEqual(self.server(g, "tofu")["tls_state"], "pinned")
        self.assertEqual(len(self.events(g, "server_key_pinned")), 1)
        # The pin is stored: a restart of the aggregator keeps it.
        self.assertEqual(g.api("GET", f"/api/servers/{sid}").json()["tls_pin"], a.pin)

        # The agent gets a new key (reinstalled machine, or an impostor on its address).
        a.stop()
        old_pin = a.pin
        a.pin = a.gen_cert()
        a.start()
        s = self.wait_error(g, "tofu", PIN_MISMATCH)
        self.assertEqual(s["last_error"], PIN_MISMATCH)
        self.assertEqual(s["tls_state"], "key_changed")
        seen = s["last_seen_at"]
        time.sleep(3.5)  # several polls: no data accepted, one event
        s = self.server(g, "tofu")
        self.assertEqual(s["last_seen_at"], seen)
        self.assertFalse(s["online"])
        self.assertEqual(s["tls_pin"], old_pin)
        self.assertEqual(len(self.events(g, "server_key_changed")), 1)

        # The admin re-pins (an empty pin: trust the key at the next contact).
        r = g.api("PUT", f"/api/servers/{sid}", {"tls_pin": ""})
        self.assertEqual(r.status, 200, r.body)
        self.wait_online(g, "tofu")
        wait_until(lambda: self.server(g, "tofu")["tls_pin"] == a.pin, timeout=5,
                   what="the new key pinned")
        self.assertEqual(len(self.events(g, "server_key_pinned")), 2)
        self.assertEqual(len(self.events(g, "server_key_changed")), 1)
        # A wrong pin is refused at the field; a pasted right one is taken as it is.
        r = g.api("PUT", f"/api/servers/{sid}", {"tls_pin": "sha256//short"})
        self.assertEqual(r.status, 400)
        self.assertIn("tls_pin", r.json()["fields"])
        r = g.api("PUT", f"/api/servers/{sid}", {"tls_pin": old_pin})
        self.assertEqual(r.status, 200)
        self.wait_error(g, "tofu", PIN_MISMATCH)

    def test_wrong_ca_right_ca_and_wrong_name(self):
        proc = self.live_proc()
        a = self.agent(proc, tls=True)
        other = Agent(proc.dir, tls=True)  # only its certificate: a CA that did not sign a's
        self.cleanups.append(other.close)
        wrong_name = self.agent(proc, tls=True)
        wrong_name.stop()
        wrong_name.gen_cert(name="not-this-host.example")
        wrong_name.start()
        g = self.aggregator([
            server_entry("wrongca", a, tls=True, tls_ca_file=other.cert),
            server_entry("rightca", a, tls=True, tls_ca_file=a.cert),
            server_entry("wrongname", wrong_name, tls=True, tls_ca_file=wrong_name.cert),
        ])
        s = self.wait_error(g, "wrongca", "certificate not trusted: ")
        self.assertEqual(s["tls_state"], "ca")
        s = self.wait_error(g, "wrongname", "certificate not trusted: ")
        self.assertIn("name", s["last_error"])
        s = self.wait_online(g, "rightca")
        self.assertEqual(s["tls_state"], "ca")
        self.assertEqual(self.events(g, "server_key_pinned"), [])

    def test_expired_and_not_yet_valid_certificate(self):
        proc = self.live_proc()
        a = self.agent(proc, tls=True)
        a.stop()
        a.pin = a.gen_cert(days=1)
        a.start()
        offset = os.path.join(proc.dir, "clock-offset")
        with open(offset, "w") as f:
            f.write(str(3 * 86400))  # the aggregator's clock runs three days ahead
        g = self.aggregator([server_entry("pinned", a, tls=True, tls_pin=a.pin),
                             server_entry("tofu", a, tls=True)],
                            env={"LANMON_TEST_CLOCK_OFFSET_FILE": offset})
        s = self.wait_error(g, "pinned", "certificate expired on ")
        self.assertFalse(s["online"])
        s = self.wait_error(g, "tofu", "certificate expired on ")
        self.assertIsNone(s["tls_pin"], "an expired certificate is not pinned")
        with open(offset, "w") as f:
            f.write(str(-86400))  # a day behind: before the certificate's start
        # A kept-alive connection was checked when it opened: new ones after a restart.
        a.stop()
        a.start()
        self.wait_error(g, "pinned", "certificate not valid before ")


class CrossedTest(Fixture):
    def test_plain_to_tls_and_tls_to_plain(self):
        proc = self.live_proc()
        tls_agent = self.agent(proc, tls=True)
        plain_agent = self.agent(proc)
        g = self.aggregator([server_entry("plain-to-tls", tls_agent, tls=False),
                             server_entry("tls-to-plain", plain_agent, tls=True)])
        s = self.wait_error(g, "plain-to-tls", "the agent speaks HTTPS only")
        self.assertEqual(s["last_error"],
                         "the agent speaks HTTPS only: turn tls on for this server (and pin its "
                         "key)")
        self.assertEqual(s["tls_state"], "off")
        s = self.wait_error(g, "tls-to-plain", "TLS handshake failed: ")
        self.assertEqual(s["last_error"],
                         "TLS handshake failed: the agent speaks plain HTTP (no tls: in its "
                         "config.yaml; or set tls off for this server)")


class Capture:
    """Everything on the loopback interface while it runs (an AF_PACKET socket: root or
    CAP_NET_RAW)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.data = bytearray()
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.data += self.sock.recv(65536)
                self.packets += 1
            except socket.timeout:
                continue

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        return bytes(self.data)


class CaptureTest(Fixture):
    def capture(self):
        try:
            c = Capture()
        except PermissionError:
            self.skipTest("a loopback capture needs root or CAP_NET_RAW")
        self.cleanups.append(c.stop)
        return c

    def test_no_token_on_the_wire(self):
        proc = self.live_proc()
        tls_agent = self.agent(proc, tls=True, token="agent-secret-token-tls-0123")
        plain_agent = self.agent(proc, token="agent-secret-token-plain-456")
        g = self.aggregator(tls=True, admin_token="admin-secret-token-7890abcd")
        cap = self.capture()
        r = g.api("POST", "/api/servers", {"name": "tls", "host": "127.0.0.1",
                                           "agent_port": tls_agent.port,
                                           "token": tls_agent.token, "tls": True})
        self.assertEqual(r.status, 201, r.body)
        # The positive control: a plain agent's token is visible to the same capture.
        r = g.api("POST", "/api/servers", {"name": "plain", "host": "127.0.0.1",
                                           "agent_port": plain_agent.port,
                                           "token": plain_agent.token, "tls": False})
        self.assertEqual(r.status, 201, r.body)
        self.wait_online(g, "tls")
        self.wait_online(g, "plain")
        time.sleep(2.5)  # a few polls of each over kept-alive connections
        wire = cap.stop()
        self.assertGreater(len(wire), 1000)
        self.assertIn(plain_agent.token.encode(), wire, "the capture sees loopback traffic")
        self.assertNotIn(tls_agent.token.encode(), wire)
        # (Not the header's name: other programs on this machine's loopback may send one.)
        self.assertNotIn(g.admin_token.encode(), wire)

    def test_dashboard_over_https(self):
        g = self.aggregator(tls=True)
        r = http("GET", g.base + "/", timeout=5)
        self.assertEqual(r.status, 200)
        r = http("GET", f"http://127.0.0.1:{g.port}/api/health", timeout=5)
        self.assertEqual(r.status, 400)
        self.assertIn("HTTPS only", r.json()["error"])
        self.assertTrue(curl_pin_ok(g.base + "/api/health", g.pin))


if __name__ == "__main__":
    unittest.main(verbosity=2)
