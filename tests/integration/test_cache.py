#!/usr/bin/python3
"""The answer cache, against unbound's DoH: a second ask is answered
with the upstream gone, TTLs count down, NXDOMAIN is kept for its SOA's
negative TTL, the client's ID, case and EDNS come back, DO is part of
the key, cache-size 0 turns it off, and the counters say so.  (What is
kept and for how long, rule by rule, is tests/test_cache.c's.)"""

import os
import sys
import threading
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
    u, d = start("nx", cache_max_negative_ttl="2s", serve_stale="0")
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


def test_serve_stale():
    """Upstream gone and the entry expired: inside the serve-stale window
    the expired answer comes back with TTL 30 and Extended DNS Error 3
    (as dig and kdig show it); past the window, SERVFAIL."""
    u, d = start("stale", cache_max_ttl="2s", serve_stale="4s")
    try:
        m = d.udp("www.lab.test")
        check(m.rcode == 0, "first: %r" % m)
        t0 = time.monotonic()
        u.pause()
        time.sleep(2.3)
        # kdig sends no EDNS unless asked; dig does by default
        for tool, run, extra in (("dig", lab.dig, ()),
                                 ("kdig", lab.kdig, ("+edns",))):
            r = run(d.port, "www.lab.test", "A", *extra)
            out = r.stdout
            check("NOERROR" in out and lab.WWW_A in out,
                  "%s: no stale answer: %s" % (tool, out))
            check("EDE: 3" in out and "Stale Answer" in out,
                  "%s shows no EDE 3 (Stale Answer): %s" % (tool, out))
            check("\t30\tIN\tA\t" in out or " 30 IN A " in out,
                  "%s: stale TTL is not 30: %s" % (tool, out))
        m = d.udp("www.lab.test", edns=None)
        check(m.rcode == 0 and m.answer[0].ttl == 30 and m.opt is None,
              "without EDNS: stale, TTL 30, no OPT: %r" % m)
        st = d.stats_now()
        check(st.get("stale_answers", 0) >= 3, "counters: %r" % st)
        # the window is 4 s past expiry, which was 2 s after t0
        time.sleep(max(0.0, 6.5 - (time.monotonic() - t0)))
        m = d.udp("www.lab.test", timeout=4)
        check(m.rcode == 2, "past the window: rcode %d, want SERVFAIL" %
              m.rcode)
    finally:
        u.resume()
        d.stop()
        u.stop()


def test_prefetch():
    """An entry of TTL 10 asked in its last second is refreshed in the
    background: after its first expiry, with the upstream paused, it is
    still answered, with a fresh TTL."""
    u, d = start("prefetch", cache_max_ttl="10s", serve_stale="0")
    try:
        d.udp("www.lab.test")
        t0 = time.monotonic()
        time.sleep(9.1)
        m = d.udp("www.lab.test")
        check(m.rcode == 0 and m.answer[0].ttl <= 1, "in the last tenth: "
              "%r" % m)
        lab.wait_for(lambda: d.stats_now().get("prefetches") == 1 and
                     d.stats_now().get("pending") == 0, 3,
                     what="the prefetch done")
        u.pause()
        time.sleep(max(0.0, 10.5 - (time.monotonic() - t0)))
        m = d.udp("www.lab.test", timeout=3)
        check(m.rcode == 0 and m.answer[0].ttl >= 8,
              "after the first expiry: %r (the refresh did not come "
              "back?)" % m)
    finally:
        u.resume()
        d.stop()
        u.stop()


test_prefetch.timeout = 40


def test_identical_queries_share_a_request():
    """200 identical queries while the upstream is stalled: one request
    upstream (the rest wait on it, 64 a request), each answered with its
    own ID once the upstream is back."""
    u, d = start("coalesce", timeout="5s")
    try:
        d.udp("www.lab.test")		# the connection is warm
        u.pause()
        wires = [lab.make_query("same.w.lab.test", qid=5000 + i)
                 for i in range(200)]
        got = {}
        t = threading.Thread(target=lambda: got.update(
            lab.udp_burst(d.port, wires, timeout=6)))
        t.start()
        lab.wait_for(lambda: d.stats_now().get("pending") == 200, 3,
                     what="200 queries pending")
        st = d.stats_now()
        # 200 = 4 requests of 1 + 64 followers, minus what is left over
        check(st.get("coalesced") == 200 - 4, "coalesced %r" %
              st.get("coalesced"))
        u.resume()
        t.join(8)
        check(len(got) == 200 and all(m.rcode == 0 and
                                      m.values("A") == [lab.WILD_ADDR]
                                      for m in got.values()),
              "answers: %d, rcodes %r" % (len(got), sorted(
                  {m.rcode for m in got.values()})))
    finally:
        u.resume()
        d.stop()
        u.stop()


@lab.timeout(40)
def test_fallback_answer_not_served_once_doh_is_back():
    """encrypted-preferred: with DoH down, the fallback's answer is cached
    and served again; once DoH is back, the name goes to DoH."""
    u = lab.Unbound("unbound-prov", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub({"mode": "encrypted-preferred", "upstream": u.url,
                         "resolve": u.resolve,
                         "ca-file": lab.certs().ca_pem,
                         "fallback": sink.addr, "bootstrap": sink.addr},
                        name="dohstub-prov", cache=True).start()
        name = lab.unique_name("prov")
        u.stop()
        m = d.udp(name)
        check(lab.source(m) == "fallback", "DoH down: %s" % lab.source(m))
        n = sink.total
        m = d.udp(name)
        check(lab.source(m) == "fallback" and sink.total == n,
              "DoH still down: the fallback's answer from the cache "
              "(%s, sink %d -> %d)" % (lab.source(m), n, sink.total))
        u.start()
        lab.wait_for(lambda: lab.source(d.udp(lab.unique_name("back"))) ==
                     "doh", 8, interval=0.25, what="DoH answers again")
        m = d.udp(name)
        check(lab.source(m) == "doh", "DoH back: the name answered by %s"
              % lab.source(m))
        d.stop()
    finally:
        sink.close()
        if u.running():
            u.stop()


if __name__ == "__main__":
    lab.main(globals())
