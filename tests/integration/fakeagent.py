# SPDX-License-Identifier: MIT
"""The one fake agent of the Python suites (FakeAgent: scripted replies, delays, status codes,
malformed, endless or hanging answers, request records) and the raw replies it sends. Stdlib
only; the suites import it through lanmon_testlib."""
import collections
import contextlib
import enum
import json
import select
import socket
import struct
import threading
import time
from http import HTTPStatus


class Do(enum.Enum):
    """What a FakeAgent does instead of answering (see FakeAgent)."""
    HANG = "keep the connection open, never answer (until close())"
    RESET = "reset the connection (RST)"
    ENDLESS = "200 without a length and a body that never ends (until the client leaves)"


HANG, RESET, ENDLESS = Do.HANG, Do.RESET, Do.ENDLESS
HEAD_CAP = 65536  # a request head longer than this is refused (the connection closed)


def http_reply(body, status="200 OK", content_length=None, extra=b"", close=True):
    """The raw bytes of a JSON reply: body (str or bytes) with the given status line,
    Content-Length (the body's own unless told: a wrong one makes a truncated reply), the raw
    header lines extra, and Connection: close unless close is false."""
    if isinstance(body, str):
        body = body.encode()
    n = len(body) if content_length is None else content_length
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + extra + b"\r\n" + body


def json_reply(code, obj, close=True):
    """http_reply() of obj as JSON with status code and its reason phrase."""
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Nope"
    return http_reply(json.dumps(obj), status=f"{code} {phrase}", close=close)


def snapshot(node="fake", **changes):
    """A small well-formed /v1/snapshot (now, no disks, no GPUs); changes replace fields."""
    s = {"node_id": node, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "agent_version": "0.1.0", "cpu_pct": 12.5, "cpu_count": 4,
         "mem": {"used_bytes": 1, "total_bytes": 4, "used_pct": 25.0},
         "disks": [], "gpus": [], "health": "ok"}
    s.update(changes)
    return s


class FakeRequest:
    """One request a FakeAgent received: n (1, 2, ... in arrival order over all connections),
    method, path, headers (names in lower case) and body."""

    def __init__(self, n, method, path, headers, body):
        self.n, self.method, self.path, self.headers, self.body = n, method, path, headers, body


class InFlight:
    """A count of requests in flight (now) and the most at once (max), thread-safe; several
    fake agents may share one to measure what a client has open over all of them."""

    def __init__(self):
        self.now = 0
        self.max = 0
        self._lock = threading.Lock()

    def __enter__(self):
        with self._lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def __exit__(self, *exc):
        with self._lock:
            self.now -= 1


class FakeAgent:
    """A fake agent on 127.0.0.1 (plain HTTP; no suite needs a fake one over TLS), one thread
    per connection, whose answer to each request the test scripts:

    reply: a callable reply(req) given a FakeRequest, returning
        bytes             sent as they are: a whole raw reply (http_reply(), json_reply()) or
                          anything else, malformed on purpose
        None              close the connection without a word
        HANG / RESET / ENDLESS  see Do
      or one of the canned modes "hang", "malformed" (200 with broken JSON), "huge" (200 with
      a 10 MB body), "endless" and "status:<code>" (that code with a JSON error).
      A reply callable may block (the request stays in flight meanwhile).
    delay_s(req): seconds to wait before replying; a client that leaves during the wait is
      counted in `aborted` and gets nothing.
    keep_alive: serve further requests on a connection (the reply must not say Connection:
      close: http_reply(..., close=False)); otherwise one request per connection.
    counted(req): whether a request counts in requests and in_flight (default: all);
      `shared` is an InFlight counted as well (over several agents).

    Records: requests (counted requests), in_flight / max_in_flight, aborted, sent_bytes (of
    ENDLESS bodies), log (the last 1,000 FakeRequests, counted or not). close() is idempotent
    and closes every connection still open."""

    MODES = ("hang", "malformed", "huge", "endless", "status:<code>")

    def __init__(self, reply, delay_s=None, keep_alive=False, counted=None, shared=None):
        self.reply = self._canned(reply) if isinstance(reply, str) else reply
        self.delay_s = delay_s or (lambda req: 0.0)
        self.keep_alive = keep_alive
        self.counted = counted or (lambda req: True)
        self.shared = shared
        self.requests = 0
        self.aborted = 0  # the client went away before the reply was sent
        self.sent_bytes = 0
        self.log = collections.deque(maxlen=1000)
        self._gauge = InFlight()
        self._lock = threading.Lock()
        self._seen = 0
        self._conns = set()
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def in_flight(self):
        return self._gauge.now

    @property
    def max_in_flight(self):
        return self._gauge.max

    @staticmethod
    def _canned(mode):
        if mode in ("hang", "endless"):
            action = HANG if mode == "hang" else ENDLESS
            return lambda req: action
        if mode == "malformed":
            raw = http_reply(b'{"node_id": "x", "ts": "2026-01-01T00:00:00Z", "cpu_pct": ')
        elif mode == "huge":
            raw = http_reply(b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}')
        elif mode.startswith("status:"):
            raw = http_reply(b'{"error": "nope"}', status=f"{int(mode[7:])} Nope")
        else:
            raise ValueError(f"FakeAgent mode {mode!r}: one of {FakeAgent.MODES}")
        return lambda req: raw

    def _read_request(self, conn, buf):
        """(FakeRequest or None when the client left or sent junk, bytes left over)."""
        while b"\r\n\r\n" not in buf:
            if len(buf) > HEAD_CAP:
                return None, b""
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(buf) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        with self._lock:
            self._seen += 1
            n = self._seen
        req = FakeRequest(n, parts[0], parts[1] if len(parts) > 1 else "", headers,
                          buf[:length])
        self.log.append(req)
        return req, buf[length:]

    def _client_left_within(self, conn, seconds):
        """Waits seconds; True as soon as the client closes its end meanwhile."""
        deadline = time.monotonic() + seconds
        watching = True
        while time.monotonic() < deadline and not self._stop.is_set():
            left = max(0.0, deadline - time.monotonic())
            if not watching:
                self._stop.wait(left)
                break
            if select.select([conn], [], [], left)[0]:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    return True
                watching = False  # more bytes from the client (pipelined): just wait
        return False

    def _answer(self, conn, req):
        """Sends the reply to req; False when the connection is done with."""
        if self._client_left_within(conn, self.delay_s(req)):
            with self._lock:
                self.aborted += 1
            return False
        out = self.reply(req)
        if out is None:
            return False
        if out is HANG:
            self._stop.wait()
            return False
        if out is RESET:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if out is ENDLESS:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
            chunk = b" " * 65536
            while not self._stop.is_set():
                conn.sendall(chunk)
                with self._lock:
                    self.sent_bytes += len(chunk)
            return False
        conn.sendall(out)
        return self.keep_alive

    def _serve(self, conn):
        buf = b""
        try:
            conn.settimeout(30 if self.keep_alive else 5)
            while not self._stop.is_set():
                req, buf = self._read_request(conn, buf)
                if req is None:
                    return
                if not self.counted(req):
                    if not self._answer(conn, req):
                        return
                    continue
                with self._lock:
                    self.requests += 1
                with self._gauge, self.shared or contextlib.nullcontext():
                    if not self._answer(conn, req):
                        return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self):
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
