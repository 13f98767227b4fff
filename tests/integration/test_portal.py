#!/usr/bin/python3
"""Captive portals in encrypted-only (issue 17): the portal lease.

In a network namespace of the test's own (root needed; skipped
otherwise), dohstub's one DoH upstream is reached through a relay on
the URL's port, so that the test can play the hotel's network: the
relay leads to unbound (the real server), or nftables drops what goes
to it (a blackhole), or it leads to faultsrv with a certificate for
another name (an interception).  A plain sink stands for the network's
own resolver (fallback) and records every question that reaches it.

- ask (the default): blackholed, dohstub says once (log, /health) that
  DoH is unreachable and how to open a lease, and the sink sees nothing
  at all, no probe, through several backoffs; SIGUSR2 opens a lease:
  queries are answered by the sink with EDE 0 "captive portal
  exception" and TTLs of at most 10 s; intercepted, the lease goes on;
  the moment the real server is back the lease ends and answers come
  over DoH again.  Intercepted once more, it is said again and the sink
  still sees nothing until dohq --captive-portal (the pidfile) opens a
  lease, which ends when its time is up; then nothing plain again.
- off: intercepted, SIGUSR2 and dohq --captive-portal are refused and
  the sink sees nothing at all.
- auto (opted in): intercepted, the probe (". NS") reaches the sink
  before any client asks anything; then the connectivity-check names
  alone are answered by the sink; any other name gets SERVFAIL and
  never reaches it."""

import os
import re
import shutil
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer, default_bin  # noqa: E402
from test_netwatch import Inside, ip, nft, metric, health  # noqa: E402

PORTAL_A = "10.0.0.1"
LEASE_S = 10


def dohq_bin():
    b = os.environ.get("DOHQ_BIN") or os.path.join(lab.HERE, "..", "..",
                                                   "build", "dohq")
    return os.path.abspath(b)


class Relay:
    """A TCP relay on 127.0.0.1 to a port the test switches; cut()
    closes the connections it carries, as a network change would."""

    def __init__(self, target):
        self.target = target
        self.port = lab.free_port(udp_too=False)
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", self.port))
        self.ls.listen(64)
        self.lock = threading.Lock()
        self.socks = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, s]
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def switch(self, target):
        self.target = target
        self.cut()

    def cut(self):
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        self.ls.close()
        self.cut()


def ask(d, name):
    return d.udp(name, edns=1232, timeout=4)


def leased(d, sink, name, want=PORTAL_A):
    """name is answered by the sink, marked as a portal exception."""
    before = sink.queries.count((name.lower() + ".", 1))
    m = ask(d, name)
    check(m.rcode == 0 and m.values("A") == [want], "%s: %r" % (name, m))
    check(all(r.ttl <= 10 for r in m.answer), "TTLs above 10: %r" % m)
    check(lab.ede(m) == (0, "captive portal exception"),
          "EDE %r" % (lab.ede(m),))
    check(sink.queries.count((name.lower() + ".", 1)) == before + 1,
          "%s did not reach the network's resolver" % name)


def refused(d, sink, name):
    """SERVFAIL, and name never reaches the sink."""
    m = ask(d, name)
    check(m.rcode == 2, "%s: %r, want SERVFAIL" % (name, m))
    check((name.lower() + ".", 1) not in sink.queries,
          "%s reached the network's resolver in plaintext" % name)


UNREACHABLE = r"DoH unreachable: if a captive portal is in the way"


def said(sink):
    """The end of what ask says while DoH is unreachable."""
    return ("dohq --captive-portal or SIGUSR2 opens a lease (plain DNS to "
            "%s for %d s)" % (sink.addr, LEASE_S))


def only_probes(sink):
    check(all(q == (".", 2) for q in sink.queries),
          "plain DNS other than the probe: %r" % sink.queries)


def daemon(relay, sink, name, portal, pidfile=None):
    mport = lab.free_port()
    s = {"mode": "encrypted-only",
         "upstream": "https://doh.test:%d/dns-query" % relay.port,
         "resolve": "doh.test:%d:127.0.0.1" % relay.port,
         "ca-file": lab.certs().ca_pem,
         "fallback": sink.addr,
         "timeout": "1s",
         "captive-portal": portal,
         "captive-portal-lease": "%ds" % LEASE_S,
         "metrics": "127.0.0.1:%d" % mport}
    if pidfile is not None:
        s["pidfile"] = pidfile
    return lab.Dohstub(s, name=name, args=["-v"]).start(), mport


def dohq_portal(pidfile):
    return lab.run([dohq_bin(), "-c", "/dev/null", "--captive-portal",
                    "--pidfile", pidfile], timeout=10)


def intercepted():
    c = lab.certs()
    return FaultServer(default_bin(), c.wrong_chain, c.wrong_key)


def needs():
    if shutil.which("nft") is None:
        lab.skip("no nft")
    if not os.access(default_bin(), os.X_OK):
        lab.skip("no faultsrv")
    if not os.access(dohq_bin(), os.X_OK):
        lab.skip("no dohq")


@lab.timeout(120)
def test_ask_lease():
    needs()
    with Inside():
        with lab.Unbound("unbound-portal", plain=False) as u:
            sink = lab.Sink(records={"login.portal.test":
                                     {"A": [PORTAL_A]}})
            relay = Relay(u.doh_port)
            fs = intercepted()
            pidfile = os.path.join(lab.tmpdir(), "dohstub-portal.pid")
            try:
                d, mport = daemon(relay, sink, "dohstub-portal", "ask",
                                  pidfile)
                m = ask(d, "www.lab.test")
                check(m.values("A") == [lab.WWW_A] and lab.ede(m) is None,
                      "over DoH first: %r" % m)
                check(sink.total == 0, "plain DNS while DoH works")
                d.wait_log(r"netwatch: watching rtnetlink", 5)

                # the hotel: the DoH server blackholed
                nft("add", "table", "inet", "t")
                nft("add", "chain", "inet", "t", "out",
                    "{ type filter hook output priority 0; }")
                nft("add", "rule", "inet", "t", "out", "tcp", "dport",
                    str(relay.port), "drop")
                ip("addr", "add", "10.77.0.3/32", "dev", "lo")
                line = d.wait_log(UNREACHABLE, 5)
                check(line.endswith(said(sink)), "log: %s" % line)
                st, _, body = health(mport)
                check(st == 503 and said(sink) in body,
                      "/health %d %r" % (st, body))
                refused(d, sink, "login.portal.test")
                refused(d, sink, "detectportal.firefox.com")
                # past a backoff or two: said once, nothing plain
                time.sleep(2.5)
                check(sink.total == 0, "ask sent plain DNS before the "
                      "lease: %r" % sink.queries)
                check(metric(mport, "dohstub_captive_portal_probes_total")
                      == 0, "probes under ask")
                check(len(d.log_lines(UNREACHABLE)) == 1,
                      "said more than once: %r" % d.log_lines(UNREACHABLE))

                # the user's lease, by signal
                mark = d.log_count()
                d.proc.send_signal(signal.SIGUSR2)
                d.wait_log(r"captive portal lease opened \(asked\) for "
                           r"%d s: all queries" % LEASE_S, 3, since=mark)
                leased(d, sink, "login.portal.test")
                leased(d, sink, "login.portal.test")	# never cached
                leased(d, sink, "elsewhere.example", lab.SINK_A)
                st, _, body = health(mport)
                check("captive portal lease open" in body, "/health %r"
                      % body)
                check(metric(mport, "dohstub_captive_portal_leases_total")
                      == 1, "leases")
                check(metric(mport,
                             "dohstub_captive_portal_answers_total") == 3,
                      "answers")

                # intercepted: the wrong certificate; the lease goes on
                relay.switch(fs.port)
                nft("delete", "table", "inet", "t")
                fs.wait_event("tls-fail", timeout=8)
                leased(d, sink, "login.portal.test")
                check(not d.log_lines(r"lease ended", since=mark),
                      "an interception ended the lease")

                # logged in: the real server is back, the lease ends
                relay.switch(u.doh_port)
                d.wait_log(r"captive portal lease ended: a DoH upstream "
                           r"(connected|answers)", 8, since=mark)
                asked = sink.total
                m = ask(d, "www.lab.test")
                check(m.values("A") == [lab.WWW_A] and lab.ede(m) is None,
                      "over DoH again: %r" % m)
                refused_after = ask(d, "login.portal.test")
                check(refused_after.rcode != 0 or
                      refused_after.values("A") != [PORTAL_A],
                      "the portal's answer after the lease")
                check(sink.total == asked, "plain DNS after the lease")
                st, _, body = health(mport)
                check(st == 200 and "captive portal" not in body,
                      "/health %r" % body)

                # intercepted again: said again, nothing plain until
                # dohq --captive-portal opens a lease
                mark = d.log_count()
                relay.switch(fs.port)
                d.wait_log(UNREACHABLE, 8, since=mark)
                st, _, body = health(mport)
                check(st == 503 and said(sink) in body,
                      "/health %d %r" % (st, body))
                refused(d, sink, "login2.portal.test")
                check(sink.total == asked, "plain DNS before the lease")
                r = dohq_portal(pidfile)
                check(r.returncode == 0 and "asked dohstub" in r.stdout,
                      "dohq: %d %r %r" % (r.returncode, r.stdout,
                                          r.stderr))
                d.wait_log(r"captive portal lease opened \(asked\)", 3,
                           since=mark)
                leased(d, sink, "login.portal.test")
                # time up: back to SERVFAIL and to saying so, nothing
                # plain
                d.wait_log(r"captive portal lease ended: its time is up",
                           LEASE_S + 3, since=mark)
                asked = sink.total
                refused(d, sink, "late.portal.test")
                st, _, body = health(mport)
                check(st == 503 and said(sink) in body,
                      "/health after the lease %d %r" % (st, body))
                time.sleep(1.5)
                check(sink.total == asked, "plain DNS after the lease: %r"
                      % sink.queries[asked:])
                st = d.stop()
                check(st.get("portal_leases") == 2 and
                      st.get("portal_answers") == 5 and
                      st.get("portal_probes") == 0, "stats %r" % st)
            finally:
                relay.close()
                fs.stop()
                sink.close()


@lab.timeout(60)
def test_off_nothing_plain():
    needs()
    with Inside():
        sink = lab.Sink()
        fs = intercepted()
        relay = Relay(fs.port)
        pidfile = os.path.join(lab.tmpdir(), "dohstub-portal-off.pid")
        try:
            d, mport = daemon(relay, sink, "dohstub-portal-off", "off",
                              pidfile)
            fs.wait_event("tls-fail", timeout=5)
            for name in ("login.portal.test", "detectportal.firefox.com"):
                m = ask(d, name)
                check(m.rcode == 2, "%s: %r" % (name, m))
            d.proc.send_signal(signal.SIGUSR2)
            d.wait_log(r"SIGUSR2: no captive portal lease: captive-portal "
                       r"is off", 3)
            r = dohq_portal(pidfile)
            check(r.returncode == 0, "dohq: %r" % r.stderr)
            lab.wait_for(lambda: len(d.log_lines(
                r"no captive portal lease")) == 2, 3, what="refused twice")
            time.sleep(1.5)	# past a backoff or two: anything late
            check(sink.total == 0, "captive-portal off sent plain DNS: %r"
                  % sink.queries)
            check(metric(mport, "dohstub_captive_portal_probes_total") == 0,
                  "probes with captive-portal off")
            st, _, body = health(mport)
            check("captive portal" not in body, "/health %r" % body)
            st = d.stop()
            check(st.get("portal_leases") == 0 and
                  st.get("answered_fallback") == 0, "stats %r" % st)
        finally:
            relay.close()
            fs.stop()
            sink.close()


@lab.timeout(60)
def test_auto_check_names_only():
    needs()
    with Inside():
        sink = lab.Sink()
        fs = intercepted()
        relay = Relay(fs.port)
        try:
            d, mport = daemon(relay, sink, "dohstub-portal-auto", "auto")
            d.wait_log(r"captive portal lease opened \(automatic\) for "
                       r"%d s: the connectivity-check names" % LEASE_S, 5)
            # the probe, sent with no client asking: auto's, opted in
            check(sink.queries[:1] == [(".", 2)], "the probe: %r" %
                  sink.queries)
            check(metric(mport, "dohstub_captive_portal_probes_total") >= 1,
                  "probes")
            check(d.log_lines(r"captive portal suspected: DoH unreachable, "
                              r"network resolver %s answers"
                              % re.escape(sink.addr)), "suspected")
            only_probes(sink)
            for name in ("detectportal.firefox.com", "captive.apple.com",
                         "connectivitycheck.gstatic.com",
                         "www.msftconnecttest.com", "nmcheck.gnome.org"):
                leased(d, sink, name, lab.SINK_A)
            for name in ("www.lab.test", "sub.captive.apple.com"):
                refused(d, sink, name)
            check(metric(mport, "dohstub_captive_portal_answers_total")
                  == 5, "answers")
            d.stop()
        finally:
            relay.close()
            fs.stop()
            sink.close()


if __name__ == "__main__":
    lab.main(globals())
