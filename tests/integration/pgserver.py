# SPDX-License-Identifier: MIT
"""A throwaway PostgreSQL 15 server (Debian's postgresql-15) for the tests, `make run` and
bench/store: initdb + pg_ctl in a temporary folder, as an unprivileged user (the server refuses
to run as root: as root it runs as `postgres`, the package's user), on 127.0.0.1 at a free port
with its unix socket in the folder, removed by close(). Users: `lanmon` (superuser, trust) and
`lanmon_pw` (password, scram-sha-256 over TCP) for the password tests.

The CTest fixture uses the command line: `pgserver.py start DIR` starts a server whose base URI
is written to DIR/uri (and its details to DIR/server.json), `pgserver.py stop DIR` stops it and
removes DIR. PgServer.shared() attaches to that server when $LANMON_PG_FIXTURE names DIR, else
starts one for the calling process. `make run DATABASE=postgresql` uses
`pgserver.py start DIR --keep --db NAME` (the server and its data kept between runs; the URI of
database NAME, created when missing, printed last) and `pgserver.py stop DIR --keep`."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("LANMON_PG_BIN") or "/usr/lib/postgresql/15/bin"
SUPERUSER = "lanmon"
PASSWORD_USER = "lanmon_pw"
SERVER_USER = "postgres"  # the Debian package's system user


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(argv):
    """argv as the unprivileged user when we are root (the server refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--"] + list(argv)
    return list(argv)


def _chown_server(path):
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


class PgServer:
    """One server. durable=False (tests) turns fsync and synchronous commit off; bench/store
    passes durable=True to measure with the defaults."""

    def __init__(self, dir=None, durable=False, prefix="lanmon-pg-"):
        self.dir = dir or tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.durable = durable
        self.port = None
        self.password = None
        self.owned = True  # stop() and close() act only on a server we started
        self._dbs = 0

    # ---- lifecycle ----
    def _run(self, argv, timeout=120, check=True):
        p = subprocess.run(_as_server_user(argv), capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: "
                               f"{p.stdout.decode()[-1500:]} {p.stderr.decode()[-1500:]}")
        return p

    def _initdb(self):
        _chown_server(self.dir)
        os.chmod(self.dir, 0o755)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", SUPERUSER,
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        hba = os.path.join(self.data, "pg_hba.conf")
        # First match wins: the password user must authenticate, everyone else is trusted.
        with open(hba, "w") as f:
            f.write("local all all trust\n"
                    f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n")
        _chown_server(hba)

    def start(self, port=None):
        """Starts the server (initdb on first use); again after stop() on the same port."""
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initdb()
        opts = ["-c listen_addresses=127.0.0.1", f"-k {self.dir}", "-c max_connections=100",
                "-c log_min_messages=warning"]
        if not self.durable:
            # Tests: small and fast; durable (bench, demo): the server's defaults.
            opts += ["-c shared_buffers=32MB", "-c fsync=off", "-c synchronous_commit=off",
                     "-c full_page_writes=off"]
        last = None
        for _ in range(5):
            p = port or self.port or _free_port()
            r = self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log_path,
                           "-o", " ".join([f"-p {p}"] + opts), "-w", "-t", "60", "start"],
                          check=False)
            if r.returncode == 0:
                self.port = p
                break
            last = r.stdout.decode() + r.stderr.decode() + self._log_tail()
            if port or self.port:
                break  # a fixed port: another free one would not be the same server
        else:
            raise RuntimeError(f"cannot start PostgreSQL: {last}")
        if self.port is None:
            raise RuntimeError(f"cannot start PostgreSQL on port {port or self.port}: {last}")
        if self.password is None:
            self.password = secrets.token_urlsafe(12)
            self.sql(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{self.password}'")
        return self

    def _log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def stop(self, mode="fast"):
        if self.owned and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                       "-t", "60", "stop"], check=False)

    def close(self):
        if self.owned:
            self.stop("immediate")
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- access ----
    def uri(self, db="postgres", user=SUPERUSER, password=None):
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{db}"

    def connect(self, db="postgres"):
        import psycopg2  # Debian's python3-psycopg2 (scripts/deps.sh)
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=db,
                               connect_timeout=10)
        con.autocommit = True
        return con

    def sql(self, query, args=None, db="postgres"):
        """Runs query; returns its rows (a list of tuples) or [] for a command."""
        con = self.connect(db)
        try:
            with con.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def create_db(self, name=None, owner=SUPERUSER):
        """A new empty database (its name: unique in this process)."""
        self._dbs += 1
        name = name or f"lanmon_{os.getpid()}_{self._dbs}_{secrets.token_hex(3)}"
        self.sql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def drop_db(self, name):
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def terminate(self, db):
        """Ends every session on db from the server side (pg_terminate_backend); how many."""
        rows = self.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (db,))
        return rows[0][0]

    def sessions(self, db):
        return self.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db,))[0][0]

    # ---- the CTest fixture ----
    def write_info(self):
        with open(os.path.join(self.dir, "uri"), "w") as f:
            f.write(self.uri() + "\n")
        with open(os.path.join(self.dir, "server.json"), "w") as f:
            json.dump({"port": self.port, "password": self.password, "durable": self.durable}, f)

    @classmethod
    def attach(cls, dir):
        """The fixture's server, started by `pgserver.py start DIR`; not ours to stop."""
        with open(os.path.join(dir, "server.json")) as f:
            info = json.load(f)
        s = cls(dir, durable=info.get("durable", False))
        s.port, s.password, s.owned = info["port"], info["password"], False
        return s

    @classmethod
    def shared(cls):
        """The CTest fixture's server when $LANMON_PG_FIXTURE is set, else a new one (close()
        stops only the latter)."""
        fixture = os.environ.get("LANMON_PG_FIXTURE")
        if fixture and os.path.exists(os.path.join(fixture, "server.json")):
            return cls.attach(fixture)
        return cls().start()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="a PostgreSQL 15 server for tests and the demo")
    ap.add_argument("command", choices=("start", "stop"))
    ap.add_argument("dir")
    ap.add_argument("--keep", action="store_true",
                    help="keep DIR: start the server it holds, stop without removing it")
    ap.add_argument("--db", help="start: make sure this database exists, print its URI")
    args = ap.parse_args(argv[1:])
    d = os.path.abspath(args.dir)
    if args.command == "stop":
        PgServer(d).stop("fast" if args.keep else "immediate")
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
        return 0
    t0 = time.monotonic()
    if args.keep and os.path.exists(os.path.join(d, "server.json")):
        s = PgServer.attach(d)
        s.owned = True
        s.stop("fast")  # a server left running by an interrupted demo
        s.start()
    else:
        # A server left over by an interrupted run goes first.
        PgServer(d).stop("immediate")
        shutil.rmtree(d, ignore_errors=True)
        s = PgServer(d, durable=args.keep).start()
    s.write_info()
    print(f"PostgreSQL on 127.0.0.1:{s.port} in {d} ({time.monotonic() - t0:.1f} s)",
          file=sys.stderr)
    if args.db:
        if not s.sql("SELECT 1 FROM pg_database WHERE datname = %s", (args.db,)):
            s.create_db(args.db)
        print(s.uri(args.db))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
