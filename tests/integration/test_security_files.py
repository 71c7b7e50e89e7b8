# SPDX-License-Identifier: MIT
"""Security checks of the aggregator's files (ctest -L security; issue 11 item 4): the database,
its -wal/-shm, the lock file and every backup hold or sit beside the agents' tokens and are
created 0600 whatever the umask, logs 0640; wider modes left by older versions are narrowed at
start and the log says so."""
import datetime
import os
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from lanmon_testlib import (BIN_DIR, CleanupTestCase, free_port, scaled,  # noqa: E402
                            wait_until)


class FileModesTest(CleanupTestCase):
    """Issue 11 item 4: the database, its -wal/-shm, the lock file and every backup hold (or sit
    beside) the agents' tokens: 0600 whatever the umask; logs 0640. Files an older version left
    wider are narrowed at start, and the log says so."""

    BACKUP = 'backup: { dir: "backups", keep_days: 7 }'
    LOG = 'log: { file: "logs/aggregator.log" }'

    @staticmethod
    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    def daily(self, g):
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
        return os.path.join(g.dir, "backups", f"monitor-{today}.db")

    def run_exe(self, g, *args):
        p = subprocess.run([os.path.join(BIN_DIR, "monitor-aggregator"), "--config",
                            g.config_path, *args], capture_output=True, timeout=scaled(60),
                           env=g.env)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def test_files_are_private_whatever_the_umask(self):
        old = os.umask(0)
        try:
            g = self.aggregator(servers=[{"name": "alpha", "host": "127.0.0.1",
                                          "agent_port": free_port(), "token": "tok-0123456789"}],
                                extra=[self.BACKUP, self.LOG])
            daily = self.daily(g)
            wait_until(lambda: os.path.exists(daily), timeout=25, what="the daily backup")
            copy = os.path.join(g.dir, "copy.db")
            self.run_exe(g, "--backup", copy)
        finally:
            os.umask(old)
        for path in (g.db, g.db + "-wal", g.db + "-shm", g.db + ".lock", daily, copy):
            self.assertEqual(oct(self.mode(path)), oct(0o600), path)
        self.assertEqual(oct(self.mode(os.path.join(g.dir, "logs", "aggregator.log"))),
                         oct(0o640))
        for folder in ("data", "backups"):
            for name in os.listdir(os.path.join(g.dir, folder)):
                path = os.path.join(g.dir, folder, name)
                self.assertEqual(self.mode(path) & 0o077, 0, path)
        rc, _ = g.stop()
        self.assertEqual(rc, 0)
        os.chmod(g.db, 0o644)
        old = os.umask(0)
        try:
            self.run_exe(g, "--restore", copy)
        finally:
            os.umask(old)
        self.assertEqual(oct(self.mode(g.db)), oct(0o600))

    def test_wider_modes_left_by_older_versions_are_narrowed_at_start(self):
        g = self.aggregator(start=False, extra=[self.BACKUP, self.LOG])
        self.run_exe(g, "--init-db")
        logs, backups = os.path.join(g.dir, "logs"), os.path.join(g.dir, "backups")
        os.makedirs(logs)
        os.makedirs(backups)
        log = os.path.join(logs, "aggregator.log")
        kept = os.path.join(backups, "monitor-20991231.db")  # recent by mtime: kept by pruning
        for path in (log, log + ".1", kept):
            with open(path, "w") as f:
                f.write("x\n")
        for path in (g.db, log, log + ".1", kept):
            os.chmod(path, 0o644)
        g.start()
        self.assertEqual(oct(self.mode(g.db)), oct(0o600))
        self.assertEqual(oct(self.mode(log)), oct(0o640))
        self.assertEqual(oct(self.mode(log + ".1")), oct(0o640))
        wait_until(lambda: self.mode(kept) == 0o600, timeout=25,
                   what="the kept backup narrowed by the daily run")
        with open(log, errors="replace") as f:
            text = f.read()
        self.assertIn("readable and writable by their owner only", text)
        self.assertIn("monitor.db (was 0644)", text)
        self.assertIn("made 2 log file(s)", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
