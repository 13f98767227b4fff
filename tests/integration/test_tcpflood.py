#!/usr/bin/python3
"""Idle TCP connections cannot lock TCP clients out (RFC 7766 6.2.3):
the real daemon in front of unbound's DoH, one source (127.0.0.1)
opening 1,000 TCP connections and never sending a query, other sources
(127.0.0.2, 127.0.0.3) asking over TCP meanwhile:

  - with the defaults (max-tcp-clients 256, max-tcp-per-client auto: 64)
    the flooder keeps 64 connections, its older ones are closed as it
    opens new ones, and a query from another source is answered within
    1 s, also while the flooder keeps opening connections;
  - with the per-source cap off, the flood fills the table and each
    newcomer closes the connection idle longest: the other source is
    still answered within 1 s, and the idle timeout, shortened while the
    table is full, empties it long before tcp-idle-timeout;
  - the daemon's resident memory stays bounded by the table, however
    many connections the flooder opens;
  - /metrics counts the evictions.

Needs 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback on Linux) and
room for a few thousand descriptors (RLIMIT_NOFILE is raised)."""

import os
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, make_query  # noqa: E402

FLOOD = 1000		# idle connections from the flooder
ANSWER_WITHIN = 1.0	# seconds, the target
RSS_BOUND_KIB = 8 * 1024	# growth allowed under the flood

U = None	# unbound (DoH)


def settings(**extra):
    s = {"mode": "encrypted-only", "upstream": U.url, "resolve": U.resolve,
         "ca-file": lab.certs().ca_pem,
         "metrics": "127.0.0.1:%d" % lab.free_port(udp_too=False)}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def setup_module():
    global U
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * FLOOD + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            lab.skip("RLIMIT_NOFILE hard limit %d, %d needed" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    U = lab.Unbound("unbound", plain=False).start()


def teardown_module():
    if U:
        U.stop()


def start(**extra):
    d = lab.Dohstub(settings(**extra), name="dohstub-tcpflood").start()
    d.metrics_port = int(d.settings["metrics"].rsplit(":", 1)[1])
    lab.wait_for(lambda: lab.port_open(d.metrics_port), 5 * lab.SLOW,
                 what="the metrics port to open")
    # The upstream connected and the path warm: what is timed below is
    # the TCP listener, not the first TLS handshake.
    m, _ = ask_from(d.port, "127.0.0.2", "www.lab.test", 1, 5)
    check(m.rcode == 0 and m.values("A") == [lab.WWW_A],
          "warm-up answer %r" % m)
    return d


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise lab.LabError("no VmRSS for pid %d" % pid)


def ask_from(port, src, name, qid, timeout=ANSWER_WITHIN):
    """A TCP query from a socket bound to src: (answer, seconds from
    connect to answer).  Raises if none came within timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout * lab.SLOW)
    t0 = time.monotonic()
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        q = make_query(name, qid=qid)
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", lab._recv_exact(s, 2))[0]
        m = lab.parse(lab._recv_exact(s, n))
        return m, time.monotonic() - t0
    except (OSError, ConnectionError) as e:
        raise AssertionError("TCP query from %s: %s after %.2fs" % (
            src, e, time.monotonic() - t0))
    finally:
        s.close()


def open_idle(port, n, into, src="127.0.0.1"):
    """Open n TCP connections from src that never send; appended to into
    as they open (so another thread can close them all)."""
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5 * lab.SLOW)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        into.append(s)


class Flooder:
    """A thread opening idle connections from src, about rate a second,
    holding the newest `hold` open (closing its older ones) until
    stopped."""

    def __init__(self, port, src="127.0.0.1", hold=FLOOD, rate=2000):
        self.port, self.src, self.hold, self.rate = port, src, hold, rate
        self.socks = []
        self.opened = 0
        self.error = None
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        t0 = time.monotonic()
        try:
            while not self._stop:
                open_idle(self.port, 1, self.socks, self.src)
                self.opened += 1
                if len(self.socks) > self.hold:
                    self.socks.pop(0).close()
                ahead = self.opened / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except Exception as e:	# reported by stop()
            self.error = e

    def stop(self, close=True):
        self._stop = True
        self.thread.join(10 * lab.SLOW)
        if close:
            close_all(self.socks)
        check(self.error is None, "flooder: %r" % self.error)


def closed(socks):
    """How many of socks the daemon has closed (EOF or reset)."""
    n = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                n += 1
        except BlockingIOError:
            pass
        except ConnectionError:
            n += 1
    return n


def close_all(socks):
    for s in socks:
        s.close()


def check_answer(m, took, qid, what):
    check(m.id == qid and m.rcode == 0 and m.values("A") == [lab.WWW_A],
          "%s: answer %r" % (what, m))
    check(took < ANSWER_WITHIN * lab.SLOW, "%s: answered in %.2fs, more "
          "than %.1fs" % (what, took, ANSWER_WITHIN))


def test_flood_from_one_source_is_capped():
    d = start()
    rss0 = rss_kib(d.pid)
    flood = []
    try:
        t0 = time.monotonic()
        open_idle(d.port, FLOOD, flood)
        lab.note("%d idle connections opened in %.2fs" % (
            FLOOD, time.monotonic() - t0))
        # 64 kept (a quarter of 256), the rest closed as newer came.
        lab.wait_for(lambda: lab.metrics(d.metrics_port).get(
            "dohstub_tcp_evictions_total") == FLOOD - 64, 5 * lab.SLOW,
            what="%d evictions" % (FLOOD - 64))
        mt = lab.metrics(d.metrics_port)
        check(mt["dohstub_tcp_connections"] == 64,
              "connections %r, want 64" % mt["dohstub_tcp_connections"])
        check(mt["dohstub_tcp_refused_total"] == 0, "refused %r" %
              mt["dohstub_tcp_refused_total"])
        lab.wait_for(lambda: closed(flood) == FLOOD - 64, 2 * lab.SLOW,
                     what="the flooder to see %d closed" % (FLOOD - 64))
        check(all(closed([s]) == 0 for s in flood[-64:]),
              "one of the flooder's newest 64 connections was closed")

        m, took = ask_from(d.port, "127.0.0.2", "www.lab.test", 2)
        check_answer(m, took, 2, "from 127.0.0.2 beside %d idle" % FLOOD)
        lab.note("answered in %.3fs beside %d idle connections" % (
            took, FLOOD))
        rss1 = rss_kib(d.pid)

        # The flooder keeps opening (and holding 1,000) while another
        # source asks.
        f = Flooder(d.port).start()
        worst = 0
        try:
            lab.wait_for(lambda: f.opened >= FLOOD, 5 * lab.SLOW,
                         what="the flooder to open %d more" % FLOOD)
            for i in range(10):
                m, took = ask_from(d.port, "127.0.0.3", "www.lab.test",
                                   100 + i)
                check_answer(m, took, 100 + i,
                             "from 127.0.0.3 amid the flood (query %d)" % i)
                worst = max(worst, took)
                time.sleep(0.1)
            check(f.thread.is_alive(), "the flooder stopped early")
            mt = lab.metrics(d.metrics_port)
            check(mt["dohstub_tcp_connections"] <= 64 + 1,
                  "connections %r" % mt["dohstub_tcp_connections"])
            check(mt["dohstub_tcp_refused_total"] == 0, "refused %r" %
                  mt["dohstub_tcp_refused_total"])
            rss2 = rss_kib(d.pid)
        finally:
            f.stop()
        lab.note("10 queries amid %d more connections, slowest %.3fs"
                 % (f.opened, worst))
        total = FLOOD + f.opened
        lab.note("RSS %d KiB at rest, %d KiB after %d, %d KiB after %d "
                 "connections" % (rss0, rss1, FLOOD, rss2, total))
        if lab.under_asan():
            # ASan's quarantine keeps freed blocks (256 MiB by default):
            # every evicted connection's memory stays resident.
            lab.note("RSS not checked under ASan")
        else:
            check(rss1 - rss0 < RSS_BOUND_KIB, "RSS grew %d KiB under %d "
                  "idle connections" % (rss1 - rss0, FLOOD))
            # Bounded by the table, not by how many came.
            check(rss2 - rss1 < 1024, "RSS grew %d KiB more under %d "
                  "more connections" % (rss2 - rss1, total - FLOOD))
    finally:
        close_all(flood)
    d.stop()


test_flood_from_one_source_is_capped.timeout = 120


def test_full_table_makes_way():
    d = start(max_tcp_per_client=0)
    rss0 = rss_kib(d.pid)
    f = Flooder(d.port).start()
    worst = 0
    try:
        lab.wait_for(lambda: f.opened >= FLOOD, 5 * lab.SLOW,
                     what="the flooder to open %d" % FLOOD)
        ev0 = lab.metrics(d.metrics_port)["dohstub_tcp_evictions_total"]
        check(ev0 > 0, "no eviction: the table never filled")
        for i in range(10):
            m, took = ask_from(d.port, "127.0.0.2", "www.lab.test", 200 + i)
            check_answer(m, took, 200 + i, "from 127.0.0.2 beside a full "
                         "table (query %d)" % i)
            worst = max(worst, took)
            time.sleep(0.1)
        check(f.thread.is_alive(), "the flooder stopped early")
        mt = lab.metrics(d.metrics_port)
        check(mt["dohstub_tcp_connections"] <= 256, "connections %r" %
              mt["dohstub_tcp_connections"])
        check(mt["dohstub_tcp_evictions_total"] > ev0, "evictions %r, "
              "%r before" % (mt["dohstub_tcp_evictions_total"], ev0))
        check(mt["dohstub_tcp_refused_total"] == 0, "refused %r" %
              mt["dohstub_tcp_refused_total"])
        rss1 = rss_kib(d.pid)
    finally:
        f.stop(close=False)
    lab.note("RSS %d KiB at rest, %d KiB with the table full (%d)" % (
        rss0, rss1, mt["dohstub_tcp_connections"]))
    if not lab.under_asan():	# its quarantine: see above
        check(rss1 - rss0 < RSS_BOUND_KIB, "RSS grew %d KiB with the "
              "table full" % (rss1 - rss0))
    lab.note("10 queries beside a table full of idle connections (%d "
             "opened, %d evicted), slowest %.3fs" % (
                 f.opened, mt["dohstub_tcp_evictions_total"], worst))
    # Still held by the flooder, but accepted into a full table: their
    # idle timeout was 200 ms, not 10 s.
    try:
        t0 = time.monotonic()
        lab.wait_for(lambda: lab.metrics(d.metrics_port)[
            "dohstub_tcp_connections"] == 0,
                     3 * lab.SLOW, what="the idle connections to time out")
        lab.note("table empty %.2fs after the flood stopped" % (
            time.monotonic() - t0))
        check(closed(f.socks) == len(f.socks), "the flooder still holds "
              "%d" % (len(f.socks) - closed(f.socks)))
    finally:
        close_all(f.socks)
    d.stop()


test_full_table_makes_way.timeout = 60


if __name__ == "__main__":
    lab.main(globals())
