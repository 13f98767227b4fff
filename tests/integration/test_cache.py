#!/usr/bin/python3
"""The answer cache, against unbound's DoH: a second ask is answered
with the upstream gone, TTLs count down, NXDOMAIN is kept for its SOA's
negative TTL, the client's ID, case and EDNS come back, DO is part of
the key, cache-size 0 turns it off, and the counters say so.  (What is
kept and for how long, rule by rule, is tests/test_cache.c's.)"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402


def settings(u, **extra):
    s = {"mode": "encrypted-only", "upstream": u.url, "resolve": u.resolve,
         "ca-file": lab.certs().ca_pem, "timeout": "1s"}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def start(tag, cache=True, **extra):
    u = lab.Unbound("unbound-" + tag, plain=False).start()
    d = lab.Dohstub(settings(u, **extra), name="dohstub-" + tag,
                    cache=cache).start()
    return u, d


def test_second_ask_without_upstream():
    """With the default cache-size: the answer, then the same answer
    with unbound stopped, its TTL no higher, its ID the client's."""
    u, d = start("second")
    try:
        m1 = d.udp("www.lab.test", "A", qid=101)
        check(m1.rcode == 0 and m1.values("A") == [lab.WWW_A],
              "first: %r" % m1)
        u.stop()
        m2 = d.udp("www.lab.test", "A", qid=202)
        check(m2.id == 202 and m2.rcode == 0 and
              m2.values("A") == [lab.WWW_A],
              "second, upstream stopped: %r" % m2)
        check(m2.answer[0].ttl <= m1.answer[0].ttl,
              "TTL went up: %d then %d" % (m1.answer[0].ttl,
                                           m2.answer[0].ttl))
        m3 = d.tcp("www.lab.test", "A")
        check(m3 is not None and m3.values("A") == [lab.WWW_A],
              "over TCP too: %r" % m3)
        st = d.stats_now()
        check(st.get("cache_hits") == 2 and st.get("answered_doh") == 1,
              "counters: %r" % st)
        m = d.udp("other.w.lab.test", "A")
        check(m.rcode == 2, "a name never asked: rcode %d" % m.rcode)
    finally:
        d.stop()
        u.stop()


def test_ttl_counts_down():
    u, d = start("ttl")
    try:
        m1 = d.udp("www.lab.test", "AAAA")
        time.sleep(2.2)
        m2 = d.udp("www.lab.test", "AAAA")
        t1, t2 = m1.answer[0].ttl, m2.answer[0].ttl
        check(t1 - 3 <= t2 <= t1 - 2, "TTL %d, then %d 2.2 s later" % (
            t1, t2))
        check(d.stats_now().get("answered_doh") == 1, "asked upstream "
              "twice")
    finally:
        d.stop()
        u.stop()


def test_nxdomain_for_its_soa():
    """NXDOMAIN comes with the zone's SOA (TTL 3600, MINIMUM 300): kept
    for at most 300 s, capped by cache-max-negative-ttl (2 s here)."""
    u, d = start("nx", cache_max_negative_ttl="2s")
    try:
        name = lab.unique_name("nx").replace(".w.", ".")
        m1 = d.udp(name)
        check(m1.rcode == 3 and m1.authority and
              m1.authority[0].type == 6, "NXDOMAIN with SOA: %r" % m1)
        u.pause()
        m2 = d.udp(name)
        check(m2.rcode == 3 and m2.authority[0].type == 6,
              "from the cache: %r" % m2)
        check(m2.authority[0].ttl <= 2, "SOA TTL %d past the cap of 2 s"
              % m2.authority[0].ttl)
        time.sleep(2.2)
        m3 = d.udp(name)
        check(m3.rcode == 2, "past cache-max-negative-ttl: rcode %d, "
              "want SERVFAIL from the stopped upstream" % m3.rcode)
    finally:
        u.resume()
        d.stop()
        u.stop()


def test_case_edns_and_do():
    """The client's 0x20 case and EDNS come back; DO is part of the key,
    so a DO query is a miss after a plain one."""
    u, d = start("case")
    try:
        d.udp("www.lab.test", "A")
        m = d.udp("WwW.LaB.TeSt", "A", qid=7, edns=1232)
        check(m.question[0][0] in ("WwW.LaB.TeSt", "WwW.LaB.TeSt."),
              "question case: %r" % (m.question,))
        check(m.opt is not None, "no OPT for an EDNS client: %r" % m)
        m = d.udp("www.lab.test", "A", edns=None)
        check(m.opt is None, "an OPT for a client without EDNS: %r" % m)
        st0 = d.stats_now()
        d.udp("www.lab.test", "A", edns=1232, do=True)
        st1 = d.stats_now()
        check(st1["answered_doh"] == st0["answered_doh"] + 1,
              "DO query answered from a non-DO entry: %r" % st1)
        d.udp("www.lab.test", "A", edns=1232, do=True)
        check(d.stats_now()["cache_hits"] == st1["cache_hits"] + 1,
              "second DO query not a hit")
    finally:
        d.stop()
        u.stop()


def test_cache_size_zero():
    u, d = start("off", cache=True, cache_size="0")
    try:
        d.udp("www.lab.test")
        u.pause()
        m = d.udp("www.lab.test")
        check(m.rcode == 2, "cache-size 0 answered from a cache: %r" % m)
        st = d.stats_now()
        check(st.get("cache_hits") == 0, "hits with no cache: %r" % st)
    finally:
        u.resume()
        d.stop()
        u.stop()


if __name__ == "__main__":
    lab.main(globals())
