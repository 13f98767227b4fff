#!/usr/bin/python3
"""The lab itself, without the daemon: certificates, unbound over DoH and
plain DNS, the sink, the port watch, the DNS client.  When a daemon test
fails, this one tells whether the lab is to blame."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

U = None	# unbound with the good certificate


def setup_module():
    global U
    U = lab.Unbound("unbound-good").start()


def teardown_module():
    U.stop()


def _verify(ca, leaf, hostname=None, ip=None):
    argv = ["openssl", "verify", "-CAfile", ca]
    if hostname:
        argv += ["-verify_hostname", hostname]
    if ip:
        argv += ["-verify_ip", ip]
    return lab.run(argv + [leaf]).returncode == 0


def test_certificates():
    c = lab.certs()
    check(_verify(c.ca_pem, c.server_pem, "doh.test"), "server vs lab CA")
    check(_verify(c.ca_pem, c.server_pem, ip="127.0.0.1"), "IP SAN")
    check(_verify(c.ca_pem, c.server_pem, ip="::1"), "IPv6 SAN")
    check(not _verify(c.ca_pem, c.rogue_pem, "doh.test"),
          "rogue cert verified against the lab CA")
    check(_verify(c.rogue_ca_pem, c.rogue_pem, "doh.test"),
          "rogue cert should verify against its own CA")
    check(_verify(c.ca_pem, c.wrong_pem), "wrong-name cert chain")
    check(not _verify(c.ca_pem, c.wrong_pem, "doh.test"),
          "wrong-name cert verified for doh.test")
    txt = lab.run(["openssl", "x509", "-noout", "-text", "-in",
                   c.server_pem]).stdout
    check("prime256v1" in txt or "P-256" in txt, "server key not P-256")


def _s_client(port, ca, name="doh.test"):
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
         "-servername", name, "-verify_hostname", name, "-CAfile", ca,
         "-alpn", "h2", "-verify_return_error"],
        input="", capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout + r.stderr


def test_tls_as_the_daemon_sees_it():
    c = lab.certs()
    rc, out = _s_client(U.doh_port, c.ca_pem)
    check(rc == 0 and "Verify return code: 0 (ok)" in out, "s_client: " + out)
    check("TLSv1.3" in out, "no TLS 1.3: " + out)
    check("ALPN protocol: h2" in out, "no ALPN h2: " + out)
    rc, out = _s_client(U.doh_port, c.rogue_ca_pem)
    check(rc != 0, "good cert accepted with the rogue CA")


def test_unbound_doh():
    r = lab.kdig_doh(U.doh_port, "www.lab.test", "A", None, "doh.test",
                     "+short")
    check(r.returncode == 0 and r.stdout.split() == [lab.WWW_A],
          "kdig +https: %r %r" % (r.stdout, r.stderr))
    r = lab.kdig_doh(U.doh_port, "alias.lab.test", "A")
    check("HTTP/2" in r.stdout and "CNAME" in r.stdout and
          lab.WWW_A in r.stdout, "kdig +https CNAME: " + r.stdout)
    r = lab.dig(U.doh_port, "+https", "+tls-ca=" + lab.certs().ca_pem,
                "+tls-hostname=doh.test", "www.lab.test", "AAAA", "+short")
    check(r.stdout.split() == [lab.WWW_AAAA], "dig +https: " + r.stdout +
          r.stderr)


def test_unbound_rejected_certs():
    for cert in ("rogue", "wrong"):
        u = lab.Unbound("unbound-" + cert, cert=cert, plain=False).start()
        try:
            r = lab.kdig_doh(u.doh_port, "www.lab.test", "A", None,
                             "doh.test", "+short")
            check(lab.WWW_A not in r.stdout,
                  "kdig accepted the %s certificate" % cert)
        finally:
            u.stop()


def test_unbound_plain_data():
    p = U.plain_port
    m = lab.udp_query(p, "www.lab.test", "A", qid=4242)
    check(m.id == 4242 and m.qr and m.rcode == 0, repr(m))
    check(m.values("A") == [lab.WWW_A], repr(m))
    check(m.opt is None, "OPT without EDNS in the query")
    m = lab.udp_query(p, "alias.lab.test", "A", edns=1232)
    check(m.values("CNAME") == ["www.lab.test."] and
          m.values("A") == [lab.WWW_A], "CNAME chain: %r" % m)
    check(m.opt is not None, "no OPT with EDNS in the query")
    m = lab.udp_query(p, "nope.lab.test", "A")
    check(m.rcode == 3 and m.authority and m.authority[0].tname == "SOA",
          "NXDOMAIN: %r" % m)
    m = lab.udp_query(p, "anything.w.lab.test", "A")
    check(m.values("A") == [lab.WILD_ADDR], repr(m))
    m = lab.udp_query(p, "big.lab.test", "TXT")
    check(m.tc and len(m.wire) <= 512, "big over UDP: %r" % m)
    m = lab.tcp_query(p, "big.lab.test", "TXT")
    txt = sorted(v[0] for v in m.values("TXT"))
    check(not m.tc and txt == sorted(lab.txt_string(i) for i in
                                     range(lab.BIG_TXT_COUNT)),
          "big over TCP: %d records" % len(txt))
    check(len(m.wire) > 4000, "big answer only %d bytes" % len(m.wire))
    m = lab.tcp_query(p, "medium.lab.test", "TXT")
    check(1232 < len(m.wire) < 4096, "medium is %d bytes" % len(m.wire))
    # pipelining as the tests use it
    qs = [lab.make_query("www.lab.test", "A", qid=100 + i)
          for i in range(10)]
    ans = lab.tcp_exchange(p, qs)
    check(sorted(a.id for a in ans) == list(range(100, 110)), "pipelining")


def test_unbound_stop_start():
    u = lab.Unbound("unbound-restart").start()
    port = u.doh_port
    u.stop()
    check(not u.running(), "still running")
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        check(False, "DoH port still accepts after stop()")
    except ConnectionRefusedError:
        pass
    u.start()
    r = lab.kdig_doh(port, "www.lab.test", "A", None, "doh.test", "+short")
    check(r.stdout.split() == [lab.WWW_A], "after restart: " + r.stdout)
    u.stop()


def test_sink():
    s = lab.Sink()
    try:
        check(s.total == 0, "fresh sink not empty")
        m = lab.udp_query(s.port, "x.example", "A", qid=77)
        check(m and m.id == 77 and m.values("A") == [lab.SINK_A], repr(m))
        m = lab.udp_query(s.port, "y.example", "AAAA", edns=1232)
        check(m and m.rcode == 0 and m.values("A") == [lab.SINK_A],
              repr(m))
        check(s.datagrams == 2, "datagrams %d" % s.datagrams)
        ans = lab.tcp_exchange(s.port, [lab.make_query("a.b", qid=1),
                                        lab.make_query("c.d", qid=2)])
        check([a.id for a in ans] == [1, 2], "tcp ids")
        lab.wait_for(lambda: s.tcp_queries == 2, 2, what="tcp count")
        check(s.tcp_connections == 1 and s.total == 3, "tcp counts")
        r = lab.kdig(s.port, "z.example", "A", "+short")
        check(r.stdout.split() == [lab.SINK_A], "kdig: " + r.stdout)
        lab.wait_for(lambda: s.datagrams == 3, 2, what="kdig's datagram")
        s.reset()
        check(s.total == 0, "reset")
    finally:
        s.close()


def test_portwatch():
    w = lab.PortWatch()
    try:
        check(w.connections == 0, "fresh")
        socket.create_connection(("127.0.0.1", w.port), 1).close()
        lab.wait_for(lambda: w.connections == 1, 2, what="the connection")
    finally:
        w.close()


def test_connection_counting():
    # our own process holding two connections to unbound's DoH port
    a = socket.create_connection(("127.0.0.1", U.doh_port))
    b = socket.create_connection(("127.0.0.1", U.doh_port))
    try:
        n = lab.tcp_connections_to(os.getpid(), U.doh_port)
        check(n == 2, "counted %d connections, want 2" % n)
    finally:
        a.close()
        b.close()
    check(lab.tcp_connections_to(os.getpid(), U.doh_port) == 0, "after")


def test_free_ports_unique():
    ports = [lab.free_port() for _ in range(50)]
    check(len(set(ports)) == 50, "duplicate ports")


@lab.timeout(3)
def test_runner_bounds_time():
    import time
    try:
        lab._call_bounded(lambda: time.sleep(5), 0.3)
    except lab.TestTimeout:
        return
    check(False, "a 5 s sleep ran past a 0.3 s bound")


if __name__ == "__main__":
    lab.main(globals())
