#!/usr/bin/python3
"""Fairness and the rate limit against the real daemon, its only upstream
faultsrv (tests/faultsrv), clients on several loopback addresses:

  - one source (127.0.0.2) flooding with queries whose answers are slow
    (faultsrv slow:MS) gets SERVFAIL past max-pending-per-client, while a
    second client (127.0.0.3) still gets its answers; with the cap off the
    same flood pushes the second client into SERVFAIL;
  - ratelimit: a source past its queries a second gets an empty TC=1
    answer (dig then retries over TCP and gets the answer), or nothing
    with ratelimit-action drop; a flood from many loopback addresses
    (127.1.x.y) leaves the table at ratelimit-size;
  - /metrics counts each.

Environment: FAULTSRV_BIN (default: faultsrv in $DOHSTUB_BUILD),
DOHSTUB_BIN as for every suite."""

import os
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer, default_bin  # noqa: E402

GOOD_A = "192.0.2.42"	# faultsrv's answer to any A question
SLOW_MS = 1500		# how late the slow server answers


def faultsrv(fault):
    b = os.path.abspath(default_bin())
    if not os.access(b, os.X_OK):
        raise lab.LabError("no faultsrv binary at %s (set FAULTSRV_BIN)" % b)
    c = lab.certs()
    port = lab.free_port(udp_too=False)
    return FaultServer(b, c.server_chain, c.server_key, fault,
                       extra=["--port", str(port)])


def daemon(srv, name, **extra):
    mport = lab.free_port(udp_too=False)
    s = {"mode": "encrypted-only",
         "upstream": "https://doh.test:%d/dns-query" % srv.port,
         "resolve": "doh.test:%d:127.0.0.1" % srv.port,
         "ca-file": lab.certs().ca_pem,
         "timeout": "10s",
         "metrics": "127.0.0.1:%d" % mport}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    d = lab.Dohstub(s, name=name).start()
    d.metrics_port = mport
    lab.wait_for(lambda: lab.port_open(mport), 5 * lab.SLOW,
                 what="the metrics port to open")
    srv.wait_event("tls-ok", timeout=5 * lab.SLOW)
    return d


def burst_from(src, port, wires, timeout):
    """Send every query from one socket bound to src; {id: Message} of
    what came back within timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        for w in wires:
            s.send(w)
        s.setblocking(False)
        got = {}
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ)
        end = time.monotonic() + timeout * lab.SLOW
        while len(got) < len(wires):
            left = end - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            try:
                while True:
                    m = lab.parse(s.recv(65535))
                    got[m.id] = m
            except BlockingIOError:
                pass
        sel.close()
        return got
    finally:
        s.close()


def flood_then_second(cap):
    """127.0.0.2 sends 60 queries to a server that answers SLOW_MS late,
    then 127.0.0.3 sends 5; (flooder's answers, second's, metrics)."""
    srv = faultsrv("slow:%d" % SLOW_MS)
    try:
        d = daemon(srv, "dohstub-fair-%s" % cap, max_pending=20,
                   max_pending_per_client=cap)
        flood = [lab.make_query(lab.unique_name("fl"), qid=100 + i,
                                edns=1232) for i in range(60)]
        second = [lab.make_query(lab.unique_name("sc"), qid=500 + i,
                                 edns=1232) for i in range(5)]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", d.port))
        for w in flood:
            s.send(w)
        lab.wait_for(lambda: lab.metrics(d.metrics_port).get(
            "dohstub_pending_queries", 0)
                     >= min(60, cap or 20), 3 * lab.SLOW,
                     what="the flood's queries pending")
        got2 = burst_from("127.0.0.3", d.port, second,
                          timeout=SLOW_MS / 1000.0 + 3)
        s.setblocking(False)
        got1 = {}
        end = time.monotonic() + (SLOW_MS / 1000.0 + 3) * lab.SLOW
        while len(got1) < len(flood) and time.monotonic() < end:
            try:
                m = lab.parse(s.recv(65535))
                got1[m.id] = m
            except BlockingIOError:
                time.sleep(0.05)
        s.close()
        mt = lab.metrics(d.metrics_port)
        d.stop()
        return got1, got2, mt
    finally:
        srv.stop()


def check_refusals(mt, over_client, over):
    got = (mt.get("dohstub_over_client_limit_total"),
           mt.get("dohstub_over_limit_total"))
    check(got == (over_client, over), "metrics: over_client_limit, "
          "over_limit %r, want %r" % (got, (over_client, over)))


@lab.timeout(60)
def test_flood_cannot_starve_second_client():
    got1, got2, mt = flood_then_second(10)
    fails = [m for m in got1.values() if m.rcode == 2]
    check(len(got1) == 60 and len(fails) == 50,
          "flooder: %d answers, %d SERVFAIL; want 60, 50 past its 10" % (
              len(got1), len(fails)))
    want = (0, "too many queries in flight from this client")
    check(all(lab.ede(m) == want for m in fails),
          "flooder's SERVFAILs lack the EDE: %r" %
          [lab.ede(m) for m in fails[:3]])
    ok = [m for m in got2.values()
          if m.rcode == 0 and m.values("A") == [GOOD_A]]
    check(len(ok) == 5, "second client: %d of 5 answered, got %r" % (
        len(ok), list(got2.values())))
    check_refusals(mt, over_client=50, over=0)


@lab.timeout(60)
def test_without_cap_the_flood_starves_second_client():
    """The same flood with max-pending-per-client 0: the flooder takes
    all of max-pending and the second client gets SERVFAIL, so the test
    above shows the cap at work."""
    got1, got2, mt = flood_then_second(0)
    check(len(got2) == 5 and all(m.rcode == 2 for m in got2.values()),
          "second client without the cap: %r" % list(got2.values()))
    check_refusals(mt, over_client=0, over=45)


@lab.timeout(90)
def test_ratelimit_truncates_and_table_is_bounded():
    srv = faultsrv("none")
    try:
        # 1 q/s: a token a second, so dig below, run at once, still
        # finds the bucket empty.
        d = daemon(srv, "dohstub-ratelimit", ratelimit=1,
                   ratelimit_size=64, cache_size="1m")
        name = lab.unique_name("rl")
        check(d.udp(name).values("A") == [GOOD_A], "warm-up")
        # One source, 12 at once: a burst of 1, then TC=1.
        wires = [lab.make_query(name, qid=700 + i, edns=1232)
                 for i in range(12)]
        got = burst_from("127.0.0.5", d.port, wires, timeout=2)
        full = [m for m in got.values() if not m.tc]
        tc = [m for m in got.values() if m.tc]
        check(len(got) == 12 and len(full) == 1 and len(tc) == 11,
              "127.0.0.5: %d answers, %d full, %d TC; want 12, 1, 11" % (
                  len(got), len(full), len(tc)))
        check(all(m.values("A") == [GOOD_A] for m in full) and
              all(m.rcode == 0 and m.ancount == 0 and
                  len(m.wire) <= len(wires[0]) for m in tc),
              "full %r, truncated %r (query %d bytes)" % (
                  full[:1], tc[:2], len(wires[0])))
        # dig, told TC, asks again over TCP, which is not limited.
        r = lab.run(["dig", "@127.0.0.1", "-p", str(d.port), "-b",
                     "127.0.0.5", "+time=2", "+tries=1", name])
        check("Truncated, retrying in TCP mode" in r.stdout and
              GOOD_A in r.stdout, "dig over the limit: %s" % r.stdout)

        # 400 sources, 127.1.x.y, a query each: all answered, the
        # table stays at 64.
        socks, sent = [], 0
        try:
            for i in range(400):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.1.%d.%d" % (i // 250, 1 + i % 250), 0))
                s.sendto(lab.make_query(name, qid=i), ("127.0.0.1",
                                                      d.port))
                sent += 1
            answered = 0
            for s in socks:
                s.settimeout(2 * lab.SLOW)
                try:
                    m = lab.parse(s.recv(4096))
                    answered += m.values("A") == [GOOD_A] and not m.tc
                except socket.timeout:
                    pass
        finally:
            for s in socks:
                s.close()
        check(answered == 400, "%d of %d sources answered" % (answered,
                                                             sent))
        mt = lab.metrics(d.metrics_port)
        check(mt.get("dohstub_ratelimit_entries") == 64,
              "ratelimit entries %r, want 64" %
              mt.get("dohstub_ratelimit_entries"))
        check(mt.get("dohstub_ratelimit_evictions_total", 0) >= 400 - 64,
              "evictions %r" % mt.get("dohstub_ratelimit_evictions_total"))
        check(mt.get('dohstub_ratelimited_total{action="truncate"}') >= 12,
              "ratelimited truncate %r" %
              mt.get('dohstub_ratelimited_total{action="truncate"}'))
        # Only the warm-up went upstream: the rest were cache hits.
        check(srv.count("request") == 1, "upstream requests: %d" %
              srv.count("request"))
        d.stop()
    finally:
        srv.stop()


@lab.timeout(60)
def test_ratelimit_drop():
    srv = faultsrv("none")
    try:
        d = daemon(srv, "dohstub-ratelimit-drop", ratelimit=5,
                   ratelimit_action="drop", cache_size="1m")
        name = lab.unique_name("rd")
        wires = [lab.make_query(name, qid=800 + i) for i in range(10)]
        got = burst_from("127.0.0.6", d.port, wires, timeout=2)
        check(len(got) == 5 and all(m.values("A") == [GOOD_A] and not m.tc
                                    for m in got.values()),
              "127.0.0.6 with drop: %r" % list(got.values()))
        # TCP is not limited.
        m = d.tcp(name)
        check(m is not None and m.values("A") == [GOOD_A], "TCP: %r" % m)
        mt = lab.metrics(d.metrics_port)
        check(mt.get('dohstub_ratelimited_total{action="drop"}') == 5 and
              mt.get('dohstub_ratelimited_total{action="truncate"}') == 0,
              "ratelimited: %r" % {k: v for k, v in mt.items()
                                   if "ratelimited" in k})
        d.stop()
    finally:
        srv.stop()


if __name__ == "__main__":
    lab.main(globals())
