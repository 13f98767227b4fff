#!/usr/bin/python3
"""What leaves the host and what comes back.  The query a DoH server
gets is the one dohstub builds (faultsrv logs its bytes): ID 0, padded
to 128, DO and CD carried, no Client Subnet and no cookie even when the
client sent both.  Extended DNS Errors (RFC 8914) as dig and kdig show
them: an answer that came over plain DNS says so (EDE 0), a SERVFAIL for
no reachable DoH server says why (EDE 22); a client without EDNS gets no
OPT."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402
import test_faults  # noqa: E402


def _opt_options(wire):
    """(OPT TTL, [option codes]) of the query wire, None if no OPT."""
    m = lab.parse(wire)
    for rr in m.additional:
        if rr.type == 41:
            codes, off = [], 0
            while off + 4 <= len(rr.rdata):
                code = int.from_bytes(rr.rdata[off:off + 2], "big")
                olen = int.from_bytes(rr.rdata[off + 2:off + 4], "big")
                codes.append(code)
                off += 4 + olen
            return rr.ttl, codes
    return None


@lab.timeout(30)
def test_doh_server_sees_the_built_query():
    srv = test_faults.start_faultsrv("none", lab.free_port())
    sink = lab.Sink()
    s = _settings("encrypted-only", sink)
    s["upstream"] = "https://doh.test:%d/dns-query" % srv.port
    s["resolve"] = "doh.test:%d:127.0.0.1" % srv.port
    d = lab.Dohstub(s, name="dohstub-built").start()
    try:
        r = lab.dig(d.port, "+subnet=192.0.2.0/24", "+cookie", "+dnssec",
                    "+cdflag", "WwW.Built.test", "A")
        check("status: NOERROR" in r.stdout, "dig:\n" + r.stdout)
        check("EDE" not in r.stdout, "a DoH answer with an EDE:\n" +
              r.stdout)
        r = lab.kdig(d.port, "+noedns", "plain.built.test", "A")
        check("NOERROR" in r.stdout, "kdig:\n" + r.stdout)
        reqs = [e for e in srv.events("request")
                if "built.test" in e["qname"].lower()]
        check(len(reqs) == 2, "faultsrv saw %r" % reqs)
        for e, do_cd in zip(reqs, (True, False)):
            wire = bytes.fromhex(e["body"])
            m = lab.parse(wire)
            check(len(wire) % 128 == 0, "%d bytes upstream" % len(wire))
            check(m.id == 0, "ID %d upstream" % m.id)
            ttl, codes = _opt_options(wire)
            check(codes == [12], "options upstream: %r" % codes)
            check(bool(ttl & 0x8000) == do_cd, "DO upstream: %#x" % ttl)
            flags = int.from_bytes(wire[2:4], "big")
            check(flags & ~0x0110 == 0 and bool(flags & 0x0010) == do_cd,
                  "header flags upstream: %#x" % flags)
        check(b"WwW" in bytes.fromhex(reqs[0]["body"]),
              "the client's case was not kept")
        d.stop()
    finally:
        sink.close()
        srv.stop()


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
