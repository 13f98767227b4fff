#!/usr/bin/python3
"""Extended DNS Errors (RFC 8914) as dig and kdig show them: an answer
that came over plain DNS says so (EDE 0), a SERVFAIL for no reachable
DoH server says why (EDE 22); a client with Client Subnet and a cookie
gets them all the same, and a client without EDNS gets no OPT."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402


def _settings(mode, sink):
    port = lab.free_port()	# nothing listens there: DoH is down
    return {"mode": mode,
            "upstream": "https://doh.test:%d/dns-query" % port,
            "resolve": "doh.test:%d:127.0.0.1" % port,
            "ca-file": lab.certs().ca_pem,
            "fallback": sink.addr,
            "timeout": "1s",
            "cache-size": "0"}


def _dig_ede(d, name, code, text):
    out = lab.dig(d.port, "+subnet=192.0.2.0/24", "+cookie", name,
                  "A").stdout
    want = "EDE: %d" % code
    check(want in out and text in out, "dig: no %r with %r in:\n%s" % (
        want, text, out))
    out = lab.kdig(d.port, "+edns", "+subnet=192.0.2.0/24", name,
                   "A").stdout
    check(re.search(r"EDE: %d\b" % code, out) and text in out,
          "kdig: no EDE %d with %r in:\n%s" % (code, text, out))
    return out


@lab.timeout(30)
def test_fallback_answer_says_unencrypted():
    sink = lab.Sink()
    d = lab.Dohstub(_settings("encrypted-preferred", sink),
                    name="dohstub-ede-fallback").start()
    try:
        out = _dig_ede(d, lab.unique_name("ede"), 0,
                       "answered over unencrypted DNS")
        check("NOERROR" in out and lab.SINK_A in out,
              "kdig: not the sink's answer:\n" + out)
        # Without EDNS: the answer has no OPT, so no EDE.
        out = lab.dig(d.port, "+noedns", lab.unique_name("ede"),
                      "A").stdout
        check("NOERROR" in out and "OPT PSEUDOSECTION" not in out and
              "EDE" not in out, "dig +noedns:\n" + out)
        check(sink.total >= 3, "the sink saw %d queries" % sink.total)
        d.stop()
    finally:
        sink.close()


@lab.timeout(30)
def test_no_reachable_upstream_servfail():
    sink = lab.Sink()
    d = lab.Dohstub(_settings("encrypted-only", sink),
                    name="dohstub-ede-down").start()
    try:
        out = _dig_ede(d, lab.unique_name("ede"), 22,
                       "no DoH upstream reachable")
        check("SERVFAIL" in out, "kdig: not SERVFAIL:\n" + out)
        check(sink.total == 0, "encrypted-only spoke plain DNS")
        d.stop()
    finally:
        sink.close()


if __name__ == "__main__":
    lab.main(globals())
