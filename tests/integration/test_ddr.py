#!/usr/bin/python3
"""Servers given by address, upgraded to DoH by the known-server table or
by Discovery of Designated Resolvers (RFC 9462).

The lab: a plain resolver (unbound, plain DNS on 127.0.0.3, log-queries)
that serves _dns.resolver.arpa SVCB records from local-data, designating
a DoH server (another unbound on 127.0.0.1, log-queries) whose
certificate lists doh.test and, for verified discovery, the plain
resolver's IP 127.0.0.3.  What each server was asked is read from its
log, so a test sees what crossed the wire in plaintext and what over
DoH.  The rediscovery and zero-configuration tests run in a network
namespace of their own (root): there the plain resolver can have port
53, which resolv.conf cannot change, and lo's addresses are the test's
to add and remove."""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402
from lab import check  # noqa: E402
from test_netwatch import Inside, ip  # noqa: E402
from test_dohq import run_dohq  # noqa: E402
from test_sidecar import fetch  # noqa: E402

PLAIN = "127.0.0.3"
SVCB = ('_dns.resolver.arpa. 300 IN SVCB 1 doh.test. alpn=h2 port=%(port)d '
        'ipv4hint=%(hint)s key7="/dns-query{?dns}"')


def _qlines(u, since):
    """The questions unbound u logged (log-queries) from line since on:
    ["www.lab.test. A", ...]."""
    with open(u.log, errors="replace") as f:
        lines = f.read().splitlines()[since:]
    out = []
    for l in lines:
        m = re.search(r"info: \S+ (\S+) (\S+) IN$", l)
        if m:
            out.append("%s %s" % (m.group(1), m.group(2)))
    return out


def _mark(u):
    with open(u.log, errors="replace") as f:
        return len(f.read().splitlines())


def _doh_server(ips=(PLAIN,), cert=None, addr="127.0.0.1", name="doh"):
    """The designated DoH server; its certificate lists doh.test and
    127.0.0.1 plus ips, unless cert is given."""
    c = lab.certs()
    cert = cert or c.leaf_for(["127.0.0.1"] + list(ips))
    return lab.Unbound("unbound-ddr-" + name, cert=cert, plain=False,
                       addr=addr, extra=["log-queries: yes"]).start()


def _plain_server(records, addr=PLAIN, port=None, name="plain", cert="good",
                  doh_port=None):
    """The plain resolver serving records (SVCB lines) for
    _dns.resolver.arpa; none: the name exists nowhere (NXDOMAIN)."""
    extra = ["log-queries: yes", 'local-zone: "resolver.arpa." static']
    extra += ["local-data: '%s'" % r for r in records]
    return lab.Unbound("unbound-ddr-" + name, addr=addr, plain_port=port,
                       cert=cert, doh_port=doh_port, extra=extra).start()


def _svcb(doh, hint="127.0.0.1", text=None):
    return (text or SVCB) % {"port": doh.doh_port, "hint": hint}


def _daemon(mode, upstream, name, **extra):
    mport = lab.free_port()
    s = {"mode": mode, "upstream": upstream, "ca-file": lab.certs().ca_pem,
         "metrics": "127.0.0.1:%d" % mport}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    d = lab.Dohstub(s, name="dohstub-ddr-" + name, args=["-v"]).start()
    return d, mport


def _health(mport):
    """(status, headers, body); status 0 before the endpoint listens."""
    try:
        return fetch(mport, "/health")
    except OSError:
        return 0, {}, ""


def _wait_health(mport, text, timeout=5):
    """Wait until /health has text; returns its body."""
    def said():
        body = _health(mport)[2]
        return body if text in body else None
    return lab.wait_for(said, timeout * lab.SLOW,
                        what="/health to say %r" % text)


def _answered(m, what="answer"):
    """m is the lab's answer for a name under w.lab.test."""
    check(m.rcode == 0 and m.values("A") == [lab.WILD_ADDR],
          "%s: %r" % (what, m))


def _only_ddr_in_plaintext(plain, since, what):
    asked = _qlines(plain, since)
    check(asked and all(q == "_dns.resolver.arpa. SVCB" for q in asked),
          "%s: the plain resolver was asked %r, want only "
          "_dns.resolver.arpa SVCB" % (what, asked))


def _servfail_names(d, addr, why, what):
    """A query gets SERVFAIL with EDE 22 naming addr and why."""
    m = d.udp(lab.unique_name(what), edns=1232)
    check(m.rcode == 2, "%s: %r, want SERVFAIL" % (what, m))
    e = lab.ede(m)
    check(e is not None and e[0] == 22 and addr in e[1] and why in e[1],
          "%s: EDE %r, want 22 naming %s and %r" % (what, e, addr, why))


def _not_upgraded(records, want_why, metric_reason, what, doh_ips=(PLAIN,)):
    """encrypted-only with a plain resolver whose records cannot be used:
    SERVFAIL + EDE 22 with the reason, /health and /metrics say it, and
    nothing but the DDR query leaves in plaintext."""
    doh = _doh_server(doh_ips, name=what + "-doh")
    plain = _plain_server([_svcb(doh, text=r) for r in records],
                          name=what + "-plain")
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        mark = _mark(plain)
        dmark = _mark(doh)
        d, mport = _daemon("encrypted-only", up, what)
        body = _wait_health(mport, "upgrade none")
        check(want_why in body and up in body, "%s: /health %r, want %s "
              "with %r" % (what, body, up, want_why))
        st, _, _ = _health(mport)
        check(st == 503, "%s: /health %d with nothing upgraded" % (what, st))
        for _ in range(3):
            _servfail_names(d, up, want_why, what)
        check(d.log_lines(r"%s: not upgraded to DoH: .*%s" % (
            re.escape(up), re.escape(want_why))), "%s: not logged: %s" % (
            what, d.log_tail()))
        check(lab.metric(mport, "dohstub_discovery_failures_total",
                      '{reason="%s"}' % metric_reason) >= 1,
              "%s: failure not counted as %s" % (what, metric_reason))
        time.sleep(0.3)
        _only_ddr_in_plaintext(plain, mark, what)
        check(not [q for q in _qlines(doh, dmark) if "lab.test" in q],
              "%s: the DoH server was asked %r" % (what, _qlines(doh, dmark)))
        st = d.stop()
        check(st.get("answered_fallback", -1) == 0 and
              st.get("answered_doh", -1) == 0 and st.get("servfail") >= 3,
              "%s: stats %r" % (what, st))
    finally:
        plain.stop()
        doh.stop()


# ---------------------------------------------------------------- verified


@lab.timeout(40)
def test_verified_upgrade_end_to_end():
    """The certificate lists doh.test and 127.0.0.3: upgraded
    (ddr-verified).  The plain port is asked _dns.resolver.arpa only, the
    DoH server every query; /health and /metrics say so."""
    doh = _doh_server()
    plain = _plain_server([_svcb(doh)])
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        mark, dmark = _mark(plain), _mark(doh)
        d, mport = _daemon("encrypted-only", up, "verified")
        body = _wait_health(mport, "upgrade ddr-verified")
        check("address %s: upgrade ddr-verified, https://doh.test:%d/"
              "dns-query" % (up, doh.doh_port) in body, "/health %r" % body)
        check(d.log_lines(r"%s: upgraded to DoH \(ddr-verified\).*"
                          r"certificate lists 127\.0\.0\.3" % re.escape(up)),
              "upgrade not logged: %s" % d.log_tail())
        names = [lab.unique_name("v") for _ in range(4)]
        for n in names:
            m = d.udp(n)
            _answered(m)
        # asked of dohstub by a client, still answered on the host
        m = lab.udp_exchange(d.port, lab.make_query("_dns.resolver.arpa",
                                                    64))
        check(m is not None and m.rcode == 3,
              "_dns.resolver.arpa asked of dohstub: %r" % m)
        time.sleep(0.3)
        _only_ddr_in_plaintext(plain, mark, "verified")
        seen = _qlines(doh, dmark)
        check(all("%s. A" % n in seen for n in names),
              "the DoH server did not see %r: %r" % (names, seen))
        check(lab.metric(mport, "dohstub_discoveries_total",
                      '{result="verified"}') == 1, "discoveries")
        check(lab.metric(mport, "dohstub_discovery_queries_total") == 1,
              "one plaintext query for discovery")
        st = d.stop()
        check(st.get("answered_doh") == 4 and
              st.get("answered_fallback") == 0, "stats %r" % st)
    finally:
        plain.stop()
        doh.stop()


@lab.timeout(40)
def test_no_hint_target_looked_up_at_the_resolver():
    """No ipv4hint: doh.test is looked up at that same resolver, the only
    other plaintext allowed."""
    doh = _doh_server()
    rec = ('_dns.resolver.arpa. 300 IN SVCB 1 doh.test. alpn=h2 '
           'port=%(port)d key7="/dns-query{?dns}"')
    plain = _plain_server([_svcb(doh, text=rec),
                           "doh.test. 300 IN A 127.0.0.1"], name="nohint")
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        mark = _mark(plain)
        d, mport = _daemon("encrypted-only", up, "nohint")
        _wait_health(mport, "upgrade ddr-verified")
        m = d.udp(lab.unique_name("nh"))
        _answered(m)
        time.sleep(0.3)
        asked = _qlines(plain, mark)
        check(sorted(set(asked)) == ["_dns.resolver.arpa. SVCB",
                                     "doh.test. A", "doh.test. AAAA"],
              "plain resolver asked %r" % asked)
        # every message that left is counted: the DDR query, A and AAAA
        # (and any retry, which the resolver would have logged too)
        n = lab.metric(mport, "dohstub_discovery_queries_total")
        check(n == len(asked) and n >= 3,
              "discovery queries counted %r, the resolver was asked %r" %
              (n, asked))
        d.stop()
    finally:
        plain.stop()
        doh.stop()


# ---------------------------------------------------------------- not upgraded


@lab.timeout(40)
def test_certificate_without_resolver_ip_encrypted_only():
    """The DoH server's certificate lacks 127.0.0.3: not upgraded;
    SERVFAIL with EDE 22 naming the address and why, nothing else in
    plaintext."""
    _not_upgraded([SVCB], "does not list 127.0.0.3", "certificate",
                  "noip", doh_ips=())


@lab.timeout(40)
def test_certificate_without_resolver_ip_encrypted_preferred():
    """encrypted-preferred: plain DNS to that same address, each answer
    marked with EDE 0; the DoH server is asked nothing."""
    doh = _doh_server((), name="pref-doh")
    plain = _plain_server([_svcb(doh)], name="pref-plain")
    sink = lab.Sink()
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        dmark = _mark(doh)
        d, mport = _daemon("encrypted-preferred", up, "pref",
                           fallback=sink.addr)
        body = _wait_health(mport, "upgrade none")
        check("does not list 127.0.0.3" in body, "/health %r" % body)
        mark = _mark(plain)
        n = lab.unique_name("pf")
        m = d.udp(n, edns=1232)
        _answered(m)
        e = lab.ede(m)
        check(e is not None and e[0] == 0, "no EDE on a plain answer: %r"
              % (e,))
        time.sleep(0.3)
        check("%s. A" % n in _qlines(plain, mark), "not asked of the "
              "same address: %r" % _qlines(plain, mark))
        check(sink.total == 0, "went to the fallback servers, not the "
              "address itself")
        check(not [q for q in _qlines(doh, dmark) if "lab.test" in q],
              "DoH server asked")
        st = d.stop()
        check(st.get("answered_fallback") == 1, "stats %r" % st)
    finally:
        sink.close()
        plain.stop()
        doh.stop()


@lab.timeout(40)
def test_no_svcb_record():
    _not_upgraded([], "no SVCB record", "no_record", "norecord")


@lab.timeout(40)
def test_alpn_dot_only():
    rec = ('_dns.resolver.arpa. 300 IN SVCB 1 doh.test. alpn=dot '
           'port=%(port)d ipv4hint=%(hint)s')
    _not_upgraded([rec], "dot", "no_h2", "dot")


@lab.timeout(40)
def test_missing_dohpath():
    rec = ('_dns.resolver.arpa. 300 IN SVCB 1 doh.test. alpn=h2 '
           'port=%(port)d ipv4hint=%(hint)s')
    _not_upgraded([rec], "dohpath", "no_dohpath", "nodohpath")


# ------------------------------------------------------------ opportunistic


def _opportunistic(on):
    """The plain resolver designates itself (hint = its own address), with
    a certificate valid for neither doh.test nor its IP: verified fails;
    only ddr-opportunistic yes upgrades (TLS without authentication)."""
    what = "opp-" + ("on" if on else "off")
    dport = lab.free_port()
    u = _plain_server(["%s" % (SVCB % {"port": dport, "hint": PLAIN})],
                      name=what, cert="wrong", doh_port=dport)
    try:
        up = "%s:%d" % (PLAIN, u.plain_port)
        d, mport = _daemon("encrypted-only", up, what,
                           ddr_opportunistic="yes" if on else "no")
        if on:
            body = _wait_health(mport, "upgrade ddr-opportunistic")
            check("https://doh.test:%d/dns-query" % dport in body,
                  "/health %r" % body)
            m = d.udp(lab.unique_name("op"))
            _answered(m)
            check(lab.metric(mport, "dohstub_discoveries_total",
                          '{result="opportunistic"}') == 1, "counted")
            st = d.stop()
            check(st.get("answered_doh") == 1, "stats %r" % st)
        else:
            body = _wait_health(mport, "upgrade none")
            check("not valid for doh.test" in body, "/health %r" % body)
            _servfail_names(d, up, "not valid for doh.test", what)
            d.stop()
    finally:
        u.stop()


@lab.timeout(40)
def test_opportunistic_off():
    _opportunistic(False)


@lab.timeout(40)
def test_opportunistic_on():
    _opportunistic(True)


# ---------------------------------------------------------------- known


@lab.timeout(40)
def test_known_server_points_at_the_lab():
    """known-server 127.0.0.1 URL: reached at that address with doh.test
    verified, no plaintext at all (no DDR, no bootstrap).  The address
    server's plain port is a sink that would see any."""
    doh = _doh_server((), name="known")
    sink = lab.Sink()
    try:
        dmark = _mark(doh)
        d, mport = _daemon("encrypted-only", sink.addr, "known",
                           known_server="127.0.0.1 https://doh.test:%d/"
                           "dns-query" % doh.doh_port)
        body = _wait_health(mport, "upgrade known")
        check("address %s: upgrade known, https://doh.test:%d/"
              "dns-query" % (sink.addr, doh.doh_port) in body,
              "/health %r" % body)
        names = [lab.unique_name("kn") for _ in range(3)]
        for n in names:
            _answered(d.udp(n))
        seen = _qlines(doh, dmark)
        check(all("%s. A" % n in seen for n in names),
              "DoH server not asked: %r" % seen)
        time.sleep(0.3)
        check(sink.total == 0, "plaintext reached the address server: "
              "%r" % sink.queries)
        check(lab.metric(mport, "dohstub_discovery_queries_total") == 0,
              "plaintext sent for a known server")
        check(lab.metric(mport, "dohstub_discoveries_total",
                      '{result="known"}') == 1, "counted")
        d.stop()
        check(sink.total == 0, "plaintext reached the address server: "
              "%r" % sink.queries)
    finally:
        sink.close()
        doh.stop()


# ---------------------------------------------------------------- rediscovery


@lab.timeout(60)
def test_rediscovery_after_network_change():
    """No SVCB record at first: not upgraded.  The resolver then
    designates the DoH server; an address added to lo (a network change)
    makes dohstub discover again, and it is upgraded without a reload."""
    with Inside():
        doh = _doh_server(name="net-doh")
        plain = _plain_server([], name="net-plain")
        try:
            up = "%s:%d" % (PLAIN, plain.plain_port)
            d, mport = _daemon("encrypted-only", up, "net")
            _wait_health(mport, "upgrade none (no SVCB record")
            _servfail_names(d, up, "no SVCB record", "net")
            port = plain.plain_port
            plain.stop()
            plain = _plain_server([_svcb(doh)], name="net-plain2",
                                  port=port)
            d.wait_log(r"netwatch: watching rtnetlink", 5)
            ip("addr", "add", "10.77.0.3/32", "dev", "lo")
            _wait_health(mport, "upgrade ddr-verified", 5)
            m = d.udp(lab.unique_name("nc"))
            _answered(m, "answer after rediscovery")
            check(not d.log_lines("configuration reloaded"), "reloaded")
            d.stop()
        finally:
            plain.stop()
            doh.stop()


@lab.timeout(60)
def test_resolv_conf_change_reruns_discovery():
    """An address server written in the configuration (nothing taken
    from resolv.conf): a resolv.conf change does not reload, but runs
    discovery again, which now finds the record the resolver did not
    have before."""
    doh = _doh_server(name="rc-doh")
    plain = _plain_server([], name="rc-plain")
    try:
        rc = os.path.join(lab.tmpdir(), "resolv-rc.conf")
        lab.write_file(rc, "nameserver 192.0.2.1\n")
        up = "%s:%d" % (PLAIN, plain.plain_port)
        d, mport = _daemon("encrypted-only", up, "rc", resolv_conf=rc)
        _wait_health(mport, "upgrade none (no SVCB record")
        port = plain.plain_port
        plain.stop()
        plain = _plain_server([_svcb(doh)], name="rc-plain2", port=port)
        mark, lmark = _mark(plain), d.log_count()
        lab.write_file(rc, "nameserver 192.0.2.1\nsearch example\n")
        d.wait_log(r"resolv-rc\.conf changed: discovering", 5, since=lmark)
        _wait_health(mport, "upgrade ddr-verified", 5)
        check("_dns.resolver.arpa. SVCB" in _qlines(plain, mark),
              "not asked again")
        _answered(d.udp(lab.unique_name("rc")), "answer after rediscovery")
        check(not d.log_lines("configuration reloaded"), "reloaded")
        d.stop()
    finally:
        plain.stop()
        doh.stop()


@lab.timeout(90)
def test_zero_config_and_resolv_conf_change():
    """-c /dev/null, no upstream: the nameserver of resolv-conf
    (127.0.0.3, port 53) is the server, upgraded by DDR.  resolv.conf then
    lists another resolver (127.0.0.4, designating a DoH server whose
    certificate lists 127.0.0.4): dohstub reloads and upgrades that one."""
    with Inside():
        doh3 = _doh_server((PLAIN,), name="zc-doh3")
        doh4 = _doh_server(("127.0.0.4",), addr="127.0.0.2", name="zc-doh4")
        p3 = _plain_server([_svcb(doh3)], port=53, name="zc-p3")
        p4 = _plain_server([_svcb(doh4, hint="127.0.0.2")],
                           addr="127.0.0.4", port=53, name="zc-p4")
        try:
            rc = os.path.join(lab.tmpdir(), "resolv-zc.conf")
            lab.write_file(rc, "nameserver %s\n" % PLAIN)
            mport = lab.free_port()
            # dohstub -c /dev/null, no upstream, no mode: the flags only
            # say where the lab's resolv.conf, CA, port and metrics are
            d = lab.Dohstub({"resolv-conf": rc, "ca-file": lab.certs().ca_pem,
                             "metrics": "127.0.0.1:%d" % mport},
                            name="dohstub-ddr-zc", config="/dev/null",
                            args=["-v"])
            argv = d.argv()
            check(argv[argv.index("-c") + 1] == "/dev/null" and
                  "--upstream" not in argv and "--mode" not in argv and
                  argv[argv.index("--resolv-conf") + 1] == rc,
                  "not zero configuration: %r" % argv)
            d.start()
            _wait_health(mport, "address 127.0.0.3:53: upgrade ddr-verified")
            mark3 = _mark(doh3)
            n = lab.unique_name("zc")
            m = d.udp(n)
            _answered(m)
            check("%s. A" % n in _qlines(doh3, mark3), "doh3 not asked")
            mark = d.log_count()
            lab.write_file(rc, "nameserver 127.0.0.4\n")
            d.wait_log(r"configuration reloaded", 5, since=mark)
            body = _wait_health(
                mport, "address 127.0.0.4:53: upgrade ddr-verified")
            check("127.0.0.3" not in body, "/health %r" % body)
            mark4 = _mark(doh4)
            n = lab.unique_name("zc4")
            m = d.udp(n)
            _answered(m)
            check("%s. A" % n in _qlines(doh4, mark4), "doh4 not asked")
            d.stop()
        finally:
            for u in (p3, p4, doh3, doh4):
                u.stop()


# ---------------------------------------------------------------- dohq


@lab.timeout(40)
def test_dohq_discover_and_at_address():
    """dohq --discover ADDR prints the records (and what was skipped), the
    names checked on the certificate and the verdict; dohq @ADDR NAME
    upgrades the address as the daemon does, says how, and asks over
    DoH."""
    doh = _doh_server(name="dohq-doh")
    dot = ('_dns.resolver.arpa. 300 IN SVCB 2 doh.test. alpn=dot '
           'ipv4hint=127.0.0.1')
    plain = _plain_server([_svcb(doh), dot], name="dohq-plain")
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        ca = lab.certs().ca_pem
        r = run_dohq("-c", "/dev/null", "--ca-file", ca, "--discover", up)
        out = r.stdout
        check(r.returncode == 0, "--discover exit %d: %s%s" % (
            r.returncode, out, r.stderr))
        for want in ('1 doh.test. alpn="h2" port=%d ipv4hint=127.0.0.1 '
                     'dohpath="/dns-query{?dns}"' % doh.doh_port,
                     ";; skipped: 2 doh.test.: alpn dot only",
                     ";; certificate checked for: DNS:doh.test and "
                     "IP:127.0.0.3",
                     "IP:127.0.0.3", ";; verdict: ddr-verified"):
            check(want in out, "--discover: no %r in:\n%s" % (want, out))
        dmark = _mark(doh)
        n = lab.unique_name("dq")
        r = run_dohq("-c", "/dev/null", "--ca-file", ca, "--short",
                     "@" + up, n)
        check(r.returncode == 0 and r.stdout.split() == [lab.WILD_ADDR],
              "@ADDR: exit %d %r %r" % (r.returncode, r.stdout, r.stderr))
        check("%s: upgraded (ddr-verified) to https://doh.test:%d/"
              "dns-query" % (up, doh.doh_port) in r.stderr,
              "@ADDR did not say how: %r" % r.stderr)
        check("%s. A" % n in _qlines(doh, dmark), "not asked over DoH")
    finally:
        plain.stop()
        doh.stop()


@lab.timeout(40)
def test_dohq_discover_certificate_without_ip():
    """The verdict says why; the exit status is the TLS one (77), and
    @ADDR does not fall back to plain DNS."""
    doh = _doh_server((), name="dohq-noip-doh")
    plain = _plain_server([_svcb(doh)], name="dohq-noip-plain")
    try:
        up = "%s:%d" % (PLAIN, plain.plain_port)
        ca = lab.certs().ca_pem
        r = run_dohq("-c", "/dev/null", "--ca-file", ca, "--discover", up)
        check(r.returncode == 77 and ";; verdict: none: certificate of "
              "https://doh.test:%d/dns-query does not list 127.0.0.3" %
              doh.doh_port in r.stdout, "exit %d: %s%s" % (
                  r.returncode, r.stdout, r.stderr))
        mark = _mark(plain)
        r = run_dohq("-c", "/dev/null", "--ca-file", ca, "@" + up,
                     lab.unique_name("dqn"))
        check(r.returncode == 77 and "not upgraded to DoH" in r.stderr,
              "@ADDR: exit %d %r" % (r.returncode, r.stderr))
        time.sleep(0.2)
        _only_ddr_in_plaintext(plain, mark, "dohq @ADDR")
    finally:
        plain.stop()
        doh.stop()


if __name__ == "__main__":
    lab.main(globals())
