# SPDX-License-Identifier: MIT
"""Every token compare costs the same: the agent's bearer check and the aggregator's
X-Admin-Token check, counted in instructions with Valgrind's callgrind (ctest -L valgrind, in
the non-sanitized tree).

Method. Wall-clock timing on a shared 2-core machine is noise; instruction counts are exact.
Each daemon runs under callgrind with collection switched on only inside mon_secret_equal
(--toggle-collect) and a profile dump after every return from it (--dump-after), so dump file
N holds exactly the instructions of the N-th compare, callees included. The test sends the
requests one by one (waiting for each dump) in a known order: the right token, one differing
in the first byte, one in the last byte, one byte shorter, one byte longer, much longer, empty,
and no header at all. Every one of them must cost exactly the same number of instructions;
a compare that stops at the first difference or at the end of the shorter string, or skips
work for a missing header, gives different counts (the old mon_secret_equal, 35-byte token:
480 instructions for the right one, 479 one byte shorter, 428 empty, 13 missing). A second agent with a longer token shows that the count does depend on the
length of the expected token, i.e. that the dumps measure the compare. The first compare of a
process is a warm-up and not counted: it may include resolving symbols on first use."""
import glob
import os
import re
import secrets
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (Agent, Aggregator, CleanupTestCase, LiveProc, http,  # noqa: E402
                            wait_until)

FUNCTION = "mon_secret_equal"


def token_variants(token):
    """(kind, header value or None) pairs: every way a caller can present a token."""
    first = ("B" if token[0] != "B" else "C") + token[1:]
    last = token[:-1] + ("B" if token[-1] != "B" else "C")
    return [
        ("right", token),
        ("wrong first byte", first),
        ("wrong last byte", last),
        ("one byte shorter", token[:-1]),
        ("one byte longer", token + "x"),
        ("much longer", token * 4),
        ("empty", ""),
        ("missing", None),
    ]


class Callgrind:
    """Command prefix and per-call dump reader for one daemon."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lanmon-callgrind-")
        self.out = os.path.join(self.dir, "cg.out")
        self.wrapper = ["valgrind", "--tool=callgrind", f"--toggle-collect={FUNCTION}",
                        f"--dump-after={FUNCTION}", "--dump-instr=no",
                        f"--callgrind-out-file={self.out}"]

    def dumps(self):
        """Instruction counts of the dumps written so far, in call order."""
        files = glob.glob(self.out + ".*")
        counts = {}
        for f in files:
            n = int(f.rsplit(".", 1)[1])
            with open(f) as fh:
                m = re.search(r"^totals:\s+(\d+)", fh.read(), re.M)
            counts[n] = int(m.group(1)) if m else None
        return [counts[n] for n in sorted(counts)]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class ConstantTimeTest(CleanupTestCase):
    def under_callgrind(self, d):
        cg = Callgrind()
        d.wrapper = cg.wrapper
        self.cleanups.append(cg.close)
        self.cleanups.append(d.close)
        return cg

    def measure(self, cg, send, variants):
        """Sends every variant, one compare each (after a warm-up when the process has not
        compared yet); returns {kind: instructions of that compare}."""
        def dumped(n):
            return wait_until(lambda: (lambda d: d if len(d) == n else None)(cg.dumps()),
                              timeout=30, what=f"compare number {n}")
        done = len(cg.dumps())
        if done == 0:
            send(variants[0][1])
            done = len(dumped(1))
        counts = {}
        for kind, value in variants:
            send(value)
            done += 1
            counts[kind] = dumped(done)[-1]
            self.assertIsNotNone(counts[kind], f"no instruction total in the dump for {kind!r}")
        return counts

    def assert_all_equal(self, counts, token, what):
        print(f"\n{what}: {FUNCTION} instructions per call, token of {len(token)} bytes: "
              f"{counts}")
        self.assertEqual(len(set(counts.values())), 1,
                         f"{what}: the compare costs differ by what was sent: {counts}")
        # The dumps really hold the compare: at least one instruction per token byte.
        self.assertGreater(next(iter(counts.values())), len(token))

    def agent_counts(self, proc, token):
        a = Agent(proc.dir, token=token, extra={"gpu": "off"})
        cg = self.under_callgrind(a)
        a.start()

        def send(value):
            headers = {} if value is None else {"Authorization": f"Bearer {value}"}
            r = http("GET", a.base + "/v1/snapshot", headers=headers, timeout=30)
            self.assertEqual(r.status, 200 if value == token else 401, (value, r.body))
        counts = self.measure(cg, send, token_variants(token))
        rc, _ = a.stop(timeout=30)
        self.assertEqual(rc, 0, a.output()[-2000:])
        return counts

    def test_agent_bearer(self):
        proc = LiveProc()
        self.cleanups.append(proc.close)
        token = "ct-" + secrets.token_hex(16)
        counts = self.agent_counts(proc, token)
        self.assert_all_equal(counts, token, "agent bearer")
        # A token four times as long costs more: the count follows the expected length only.
        longer = self.agent_counts(proc, token * 4)
        self.assert_all_equal(longer, token * 4, "agent bearer, longer token")
        self.assertGreater(longer["right"], counts["right"])

    def test_aggregator_admin_token(self):
        token = "adm-" + secrets.token_hex(16)
        g = Aggregator(admin_token=token)
        cg = self.under_callgrind(g)
        g.start()
        # Every mutating route runs the same check, exactly one compare per request.
        for method, path, body in (("DELETE", "/api/servers/999", None),
                                   ("PUT", "/api/servers/999", {"enabled": False}),
                                   ("POST", "/api/servers", {"name": "x"})):
            def send(value, method=method, path=path, body=body):
                headers = {} if value is None else {"X-Admin-Token": value}
                r = http(method, g.base + path, headers=headers, body=body, timeout=30)
                if value == token:
                    self.assertIn(r.status, (400, 404), r.body)  # past the check
                else:
                    self.assertEqual(r.status, 401, (method, value, r.body))
            counts = self.measure(cg, send, token_variants(token))
            self.assert_all_equal(counts, token, f"aggregator {method}")
        rc, _ = g.stop(timeout=30)
        self.assertEqual(rc, 0, g.output()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
