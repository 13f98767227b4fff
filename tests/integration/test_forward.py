#!/usr/bin/python3
"""Forward rules end to end, in encrypted-only mode: a zone forwarded to a
plain-DNS sink is answered by the sink, and no other name ever reaches
it; a zone forwarded to a second DoH server (a second unbound with data
of its own) is answered by that one; a rule for an RFC 6303 reverse zone
overrides the local zone while the others stay local; dig and kdig show
the plain rule's answers marked with EDE 0; a rule whose server is down
gets SERVFAIL with EDE 22.  The counters and the start-up warning say
which path each answer took."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

OTHER_A = "198.51.100.7"	# host.other.test, on the second server only
U1 = U2 = SINK = D = None
DEAD_PORT = None


def setup_module():
    global U1, U2, SINK, D, DEAD_PORT
    U1 = lab.Unbound("unbound-fw1", plain=False).start()
    U2 = lab.Unbound("unbound-fw2", plain=False, extra=[
        'local-zone: "other.test." static',
        'local-data: "host.other.test. 300 IN A %s"' % OTHER_A,
    ]).start()
    SINK = lab.Sink(records={"1.1.168.192.in-addr.arpa": "NXDOMAIN"})
    DEAD_PORT = lab.free_port()	# nothing listens there
    D = lab.Dohstub({
        "mode": "encrypted-only",
        "upstream": U1.url,
        "resolve": [U1.resolve, U2.resolve],
        "ca-file": lab.certs().ca_pem,
        "timeout": "1s",
        "forward": ["corp.test " + SINK.addr,
                    "other.test " + U2.url,
                    "168.192.in-addr.arpa " + SINK.addr,
                    "dead.test 127.0.0.1:%d" % DEAD_PORT],
    }, name="dohstub-forward").start()


def teardown_module():
    if D:
        D.kill()
    for x in (SINK,):
        if x:
            x.close()
    for u in (U1, U2):
        if u:
            u.stop()


def _sink_names():
    with SINK.lock:
        return [n for n, _ in SINK.queries]


def _only_rule_names_at_sink():
    for n in _sink_names():
        check(n is not None and (n.endswith(".corp.test.") or
                                 n.endswith(".168.192.in-addr.arpa.")),
              "a name outside the sink's zones reached it: %r" % n)


@lab.timeout(30)
def test_plain_rule_answered_by_the_sink():
    before = D.stats_now()
    m = D.udp("fs.corp.test", "A")
    check(m is not None and m.rcode == 0 and m.values("A") == [lab.SINK_A],
          "fs.corp.test: %r" % m)
    check("fs.corp.test." in _sink_names(), "the sink did not see it")
    # Everything else goes over DoH, and never to the sink.
    m = D.udp(lab.unique_name("fw"), "A")
    check(lab.source(m) == "doh", "a default name: %s" % lab.source(m))
    m = D.tcp("www.lab.test", "AAAA")
    check(m is not None and m.values("AAAA") == [lab.WWW_AAAA],
          "www.lab.test AAAA: %r" % m)
    m = D.udp("xcorp.test", "A")	# not below corp.test
    check(m is not None and m.rcode == 3, "xcorp.test: %r" % m)
    _only_rule_names_at_sink()
    after = D.stats_now()
    check(after["answered_forward_plain"] -
          before["answered_forward_plain"] == 1, "counters %r" % after)
    check(after["answered_doh"] - before["answered_doh"] == 3,
          "counters %r" % after)
    # Plaintext leaves the host for this zone: said at start-up.
    check(re.search(r"forward corp\.test\.: plain DNS to 127\.0\.0\.1:%d"
                    % SINK.port, D.log_text()),
          "no start-up warning for the plain rule")


@lab.timeout(30)
def test_doh_rule_answered_by_the_second_server():
    before = D.stats_now()
    m = D.udp("host.other.test", "A")
    check(m is not None and m.rcode == 0 and m.values("A") == [OTHER_A],
          "host.other.test: %r" % m)
    # The default server does not know the name: it was not asked.
    r = lab.kdig_doh(U1.doh_port, "host.other.test", "A", lab.certs().ca_pem)
    check("NXDOMAIN" in r.stdout, "the first server knows other.test:\n" +
          r.stdout)
    after = D.stats_now()
    check(after["answered_forward_doh"] - before["answered_forward_doh"] ==
          1, "counters %r" % after)
    _only_rule_names_at_sink()


@lab.timeout(30)
def test_reverse_zone_rule_overrides_the_local_zone():
    m = D.udp("1.1.168.192.in-addr.arpa", "PTR")
    check(m is not None and m.rcode == 3, "192.168.1.1 PTR: %r" % m)
    check("1.1.168.192.in-addr.arpa." in _sink_names(),
          "the rule's reverse name did not reach the sink")
    # Another RFC 6303 zone is still answered on the host.
    n = len(_sink_names())
    m = D.udp("1.1.10.in-addr.arpa", "PTR")
    check(m is not None and m.rcode == 3 and m.aa,
          "10.1.1.1 PTR not answered locally: %r" % m)
    check(len(_sink_names()) == n, "a local name reached the sink")
    _only_rule_names_at_sink()


@lab.timeout(30)
def test_plain_rule_answer_carries_ede():
    for tool in (lab.dig, lab.kdig):
        out = tool(D.port, "+edns", "mail.corp.test", "A").stdout
        check(re.search(r"EDE: 0\b", out) and
              "answered over unencrypted DNS" in out and lab.SINK_A in out,
              "%s: no EDE 0 on the plain rule's answer:\n%s" % (
                  tool.__name__, out))
        out = tool(D.port, "+edns", "host.other.test", "A").stdout
        check("NOERROR" in out and "EDE" not in out,
              "%s: the DoH rule's answer has an EDE:\n%s" % (
                  tool.__name__, out))
    _only_rule_names_at_sink()


@lab.timeout(30)
def test_rule_down_is_servfail():
    n = len(_sink_names())
    out = lab.kdig(D.port, "+edns", "+timeout=5", "x.dead.test",
                   "A").stdout
    check("SERVFAIL" in out and re.search(r"EDE: 22\b", out),
          "kdig: not SERVFAIL with EDE 22:\n" + out)
    check(len(_sink_names()) == n, "the sink was asked for a dead rule")


if __name__ == "__main__":
    lab.main(globals())
