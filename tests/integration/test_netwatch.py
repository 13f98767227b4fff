#!/usr/bin/python3
"""Network changes, resolv.conf changes and servers that close idle
connections.

In a network namespace of the test's own (root needed; skipped
otherwise), with unbound as the DoH upstream: an address added to or
removed from lo makes dohstub check its connection (its debug log,
dohstub_network_changes_total) and the connection stays up; with the
packets to the server dropped by nftables, an address change makes
dohstub find the connection dead with no query in flight, in about
half a second (the debounce and the PING bound; 1.4 s allowed, far
below the 15 s keepalive) (/health shows the upstream backing off); a new
nameserver in the resolv.conf dohstub reads makes a second plain server
answer.  The test process itself enters the namespace (setns), so the
lab's servers, ports and clients all live there.

Without root: a server that closes idle connections (faultsrv's
idle-goaway and idle-close) is reconnected before the next query comes,
so that query does not wait for a handshake."""

import ctypes
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer, default_bin  # noqa: E402
from test_netns import Netns  # noqa: E402
from test_sidecar import fetch  # noqa: E402

CLONE_NEWNET = 0x40000000
DEBOUNCE_S = 0.1	# netwatch: a burst ends after 100 ms of quiet
PING_BOUND_S = 0.3	# doh: no PING ACK within this on loopback: dead
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


class Inside:
    """This process, and whatever it starts meanwhile, in a fresh network
    namespace with lo up; back home and the namespace gone on exit."""

    def __enter__(self):
        if os.geteuid() != 0:
            lab.skip("needs root (network namespace)")
        if shutil.which("ip") is None:
            lab.skip("no ip")
        self.ns = Netns().open()
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/var/run/netns/%s" % self.ns.name, os.O_RDONLY)
        try:
            _setns(fd)
        except OSError:
            os.close(self.home)
            self.ns.close()
            raise
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            _setns(self.home)
        finally:
            os.close(self.home)
            self.ns.close()
        return False


def ip(*args):
    r = lab.run(["ip"] + list(args))
    check(r.returncode == 0, "ip %s: %s" % (" ".join(args), r.stderr))


def nft(*args):
    r = lab.run(["nft"] + list(args))
    check(r.returncode == 0, "nft %s: %s" % (" ".join(args), r.stderr))


def metric(mport, name):
    st, _, body = fetch(mport, "/metrics")
    check(st == 200, "/metrics: %d" % st)
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    check(m is not None, "no %s in /metrics" % name)
    return int(m.group(1))


def health(mport):
    return fetch(mport, "/health")


def doh_ports(d, port):
    """Local ports of d's established TCP connections to port."""
    mine = lab._socket_inodes(d.pid)
    return sorted(l for l, r, st, ino in lab._proc_net_tcp()
                  if r == port and st == 1 and ino in mine)


def doh_daemon(u, name):
    """dohstub (debug log, /metrics) in encrypted-only mode on u."""
    mport = lab.free_port()
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": u.url,
                     "resolve": u.resolve, "ca-file": lab.certs().ca_pem,
                     "metrics": "127.0.0.1:%d" % mport},
                    name=name, args=["-v"]).start()
    m = d.udp("www.lab.test")
    check(m.rcode == 0 and m.values("A") == [lab.WWW_A], "first answer %r"
          % m)
    return d, mport


@lab.timeout(60)
def test_address_change_rechecks():
    """An address added to and removed from lo: each is one network
    change; the connection is checked (PING) and, the server being fine,
    kept."""
    with Inside():
        with lab.Unbound("unbound-addr", plain=False) as u:
            d, mport = doh_daemon(u, "dohstub-addr")
            d.wait_log(r"netwatch: watching rtnetlink", 5)
            before = doh_ports(d, u.doh_port)
            check(len(before) == 1, "DoH connections %r" % before)
            check(metric(mport, "dohstub_network_changes_total") == 0,
                  "changes counted before any")
            mark = d.log_count()
            ip("addr", "add", "10.77.0.1/32", "dev", "lo")
            d.wait_log(r"network changed: checking the upstream "
                       r"connections", 3, since=mark)
            lab.wait_for(lambda: metric(
                mport, "dohstub_network_changes_total") == 1, 2,
                what="dohstub_network_changes_total 1")
            # past the PING bound: answered, the connection stays
            time.sleep((PING_BOUND_S + 0.2) * lab.SLOW)
            check(doh_ports(d, u.doh_port) == before, "connection replaced"
                  ": %r -> %r" % (before, doh_ports(d, u.doh_port)))
            check(not d.log_lines(r"connection dead|connection lost",
                                  since=mark), "connection given up: %s"
                  % d.log_tail())
            st, _, body = health(mport)
            check(st == 200, "/health %d %r" % (st, body))

            mark = d.log_count()
            ip("addr", "del", "10.77.0.1/32", "dev", "lo")
            d.wait_log(r"network changed", 3, since=mark)
            lab.wait_for(lambda: metric(
                mport, "dohstub_network_changes_total") == 2, 2,
                what="dohstub_network_changes_total 2")
            m = d.udp("www.lab.test")
            check(m.values("A") == [lab.WWW_A], "answer after %r" % m)
            check(doh_ports(d, u.doh_port) == before, "connection replaced")
            st = d.stop()
            check(st.get("answered_doh") == 2, "stats %r" % st)


@lab.timeout(60)
def test_blackhole_found_on_change():
    """Packets to the server silently dropped, no query in flight: the
    next address change finds the connection dead in about half a second
    (debounce + PING bound; checked with room for a loaded sanitized
    build, far below the 15 s keepalive), and once the path is back DoH
    answers again."""
    if shutil.which("nft") is None:
        lab.skip("no nft")
    with Inside():
        with lab.Unbound("unbound-bh", plain=False) as u:
            d, mport = doh_daemon(u, "dohstub-bh")
            d.wait_log(r"netwatch: watching rtnetlink", 5)
            nft("add", "table", "inet", "t")
            nft("add", "chain", "inet", "t", "out",
                "{ type filter hook output priority 0; }")
            nft("add", "rule", "inet", "t", "out", "tcp", "dport",
                str(u.doh_port), "drop")
            time.sleep(0.3)	# quiet: nothing notices without a change
            st, _, body = health(mport)
            check(st == 200, "unhealthy before the change: %r" % body)
            t0 = time.monotonic()
            ip("addr", "add", "10.77.0.2/32", "dev", "lo")
            while True:
                st, _, body = health(mport)
                if st == 503:
                    break
                check(time.monotonic() - t0 < 3 * lab.SLOW,
                      "still healthy 3 s after the change: %s"
                      % d.log_tail())
                time.sleep(0.01)
            took = time.monotonic() - t0
            lab.note("connection found dead %.0f ms after the address "
                     "change" % (took * 1000))
            # Debounce and PING bound, 0.4 s, with room for a loaded
            # sanitized build: far from the 15 s keepalive a quiet
            # connection waits for without a change.
            check(took < (DEBOUNCE_S + PING_BOUND_S + 1.0) * lab.SLOW,
                  "found dead after %.2f s" % took)
            check(re.search(r"upstream \S+: backoff, .*1 dead connections?: "
                            r"connection dead \(no answer to PING\)", body),
                  "/health: %r" % body)
            d.wait_log(r"no answer to PING in \d+ ms: connection dead", 1)

            nft("delete", "table", "inet", "t")
            lab.wait_for(lambda: health(mport)[0] == 200, 6,
                         what="/health 200 once the path is back")
            m = d.udp("www.lab.test")
            check(m.values("A") == [lab.WWW_A], "answer after %r" % m)
            st = d.stop()
            check(st.get("answered_doh") == 2 and
                  st.get("answered_fallback") == 0, "stats %r" % st)


@lab.timeout(60)
def test_resolv_conf_change():
    """The fallback servers come from dohstub's resolv.conf: a new
    nameserver there (written and renamed over the file, as resolvconf
    does) is used from then on; the same nameservers written again are
    no reload."""
    with Inside():
        resolv = os.path.join(lab.tmpdir(), "netwatch-resolv.conf")
        lab.write_file(resolv, "nameserver 127.0.0.2\n")
        # resolv.conf names no port: two servers on port 53, apart
        one = lab.Sink(port=53, host="127.0.0.2")
        two = lab.Sink(port=53, host="127.0.0.3")
        try:
            d = lab.Dohstub({"mode": "plaintext", "resolv-conf": resolv},
                            name="dohstub-resolv", args=["-v"]).start()
            d.wait_log(r"netwatch: watching rtnetlink %s" %
                       re.escape(resolv), 5)
            m = d.udp("a.lab.test")
            check(m.values("A") == [lab.SINK_A] and one.total == 1,
                  "before: %r, %d queries" % (m, one.total))

            def replace(text):
                lab.write_file(resolv + ".new", text)
                os.rename(resolv + ".new", resolv)

            mark = d.log_count()
            replace("# same servers, other words\nnameserver 127.0.0.2\n")
            d.wait_log(r"changed, its nameservers did not", 3, since=mark)
            check(not d.log_lines(r"reloading", since=mark), "reloaded")

            mark = d.log_count()
            replace("nameserver 127.0.0.3\n")
            d.wait_log(r"%s changed: other nameservers, reloading" %
                       re.escape(resolv), 3, since=mark)
            d.wait_log(r"configuration reloaded", 3, since=mark)
            asked = one.total
            m = d.udp("b.lab.test")
            check(m.values("A") == [lab.SINK_A], "after: %r" % m)
            check(one.total == asked, "the old server was asked")
            check(two.names == ["b.lab.test."], "the new server: %r" %
                  two.names)
            d.stop()
        finally:
            one.close()
            two.close()


def idle_case(fault):
    """dohstub on faultsrv with fault (idle-goaway:MS or idle-close:MS):
    one query, the server's idle close, the reconnect, then a second
    query that finds the new connection up."""
    c = lab.certs()
    with FaultServer(default_bin(), c.server_chain, c.server_key,
                     fault) as srv:
        mport = lab.free_port()
        d = lab.Dohstub({"mode": "encrypted-only",
                         "upstream": "https://doh.test:%d/dns-query" %
                         srv.port,
                         "resolve": "doh.test:%d:127.0.0.1" % srv.port,
                         "ca-file": c.ca_pem,
                         "metrics": "127.0.0.1:%d" % mport},
                        name="dohstub-" + fault.split(":")[0]).start()
        m = d.udp("idle1.lab.test")
        check(m.values("A") == ["192.0.2.42"], "first answer %r" % m)
        bye = srv.wait_event("idle", timeout=5)
        srv.wait_event("close", lambda e: e.conn == 1, timeout=5)
        again = srv.wait_event("tls-ok", lambda e: e.conn == 2, timeout=5)
        # back up before anything asked for it
        lab.wait_for(lambda: health(mport)[0] == 200, 2,
                     what="/health 200 after the reconnect")
        t = time.monotonic()
        m = d.udp("idle2.lab.test")
        took = time.monotonic() - t
        check(m.values("A") == ["192.0.2.42"], "second answer %r" % m)
        req = srv.wait_event("request", lambda e: e.conn == 2, timeout=2)
        check(srv.count("tls-ok") == 2, "handshakes: %d" %
              srv.count("tls-ok"))
        check(again.t - bye.t < 500 * lab.SLOW, "reconnected %d ms after "
              "the server's goodbye" % (again.t - bye.t))
        check(req.t > again.t, "the query came before the connection")
        lab.note("%s: reconnected %d ms after the server's goodbye; the "
                 "next query answered in %.1f ms, %d ms after the "
                 "handshake" % (fault, again.t - bye.t, took * 1000,
                                req.t - again.t))
        d.stop()


@lab.timeout(60)
def test_idle_goaway():
    idle_case("idle-goaway:1000")


@lab.timeout(60)
def test_idle_eof():
    idle_case("idle-close:1000")


if __name__ == "__main__":
    lab.main(globals())
