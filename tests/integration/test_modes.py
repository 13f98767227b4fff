#!/usr/bin/python3
"""The mode policy: encrypted-only never speaks plain DNS and fails fast;
encrypted-preferred falls back to plain DNS and comes back to DoH;
plaintext never opens a TLS connection.  The Sink answers 192.0.2.99, so
an answer tells where it came from (DoH answers 192.0.2.7 for the unique
names under w.lab.test, which no cache can have seen)."""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

# seconds: a failure answer must come well before the timeout (2 s)
FAST = 1.0 * lab.SLOW


def _settings(mode, upstream_port, sink, **extra):
    s = {"mode": mode,
         "upstream": "https://doh.test:%d/dns-query" % upstream_port,
         "resolve": "doh.test:%d:127.0.0.1" % upstream_port,
         "ca-file": lab.certs().ca_pem}
    if sink is not None:
        s["fallback"] = sink.addr
        s["bootstrap"] = sink.addr
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def _timed(d, name, qtype="A", transport="udp", timeout=4):
    t0 = time.monotonic()
    if transport == "udp":
        m = d.udp(name, qtype, timeout=timeout)
    else:
        m = d.tcp(name, qtype, timeout=timeout)
    return m, time.monotonic() - t0


def _servfails_fast_and_no_plaintext(port, what):
    sink = lab.Sink()
    d = lab.Dohstub(_settings("encrypted-only", port, sink),
                    name="dohstub-" + what).start()
    try:
        for i in range(6):
            tr = "tcp" if i % 3 == 2 else "udp"
            m, took = _timed(d, lab.unique_name(what), transport=tr)
            check(m is not None, "%s: query %d (%s) got no answer" % (
                what, i, tr))
            check(m.rcode == 2, "%s: query %d: %s, want SERVFAIL: %r" % (
                what, i, m.rcode_name, m))
            check(took < FAST, "%s: SERVFAIL %d (%s) took %.2fs, want < "
                  "%.1fs" % (what, i, tr, took, FAST))
        time.sleep(0.5)	# let anything late reach the sink
        check(sink.total == 0, "%s: encrypted-only sent plain DNS: sink "
              "got %d datagrams, %d connections (%r)" % (
                  what, sink.datagrams, sink.tcp_connections,
                  sink.names[:3]))
        st = d.stop()
        check(st.get("servfail", 0) >= 6 and
              st.get("answered_fallback", -1) == 0 and
              st.get("answered_doh", -1) == 0, "stats %r" % st)
    finally:
        sink.close()


@lab.timeout(20)
def test_encrypted_only_upstream_down():
    _servfails_fast_and_no_plaintext(lab.free_port(), "down")


@lab.timeout(20)
def test_encrypted_only_untrusted_ca():
    u = lab.Unbound("unbound-rogue", cert="rogue", plain=False).start()
    try:
        _servfails_fast_and_no_plaintext(u.doh_port, "untrusted")
    finally:
        u.stop()


@lab.timeout(20)
def test_encrypted_only_wrong_name():
    u = lab.Unbound("unbound-wrongname", cert="wrong", plain=False).start()
    try:
        _servfails_fast_and_no_plaintext(u.doh_port, "wrongname")
    finally:
        u.stop()


@lab.timeout(40)
def test_encrypted_preferred_falls_back_and_recovers():
    u = lab.Unbound("unbound-pref", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_settings("encrypted-preferred", u.doh_port, sink),
                        name="dohstub-pref").start()
        for i in range(3):
            m, took = _timed(d, lab.unique_name("up"))
            check(lab.source(m) == "doh", "unbound up, query %d: %s" % (
                i, lab.source(m)))
        check(sink.total == 0, "sink used while DoH works: %d" % sink.total)

        u.stop()
        # down long enough (3 s) for the reconnect backoff to grow
        for i in range(12):
            m, took = _timed(d, lab.unique_name("down"))
            check(lab.source(m) == "fallback", "unbound down, query %d: %s" %
                  (i, lab.source(m)))
            check(took < FAST, "fallback answer %d took %.2fs" % (i, took))
            time.sleep(0.25)
        check(sink.total >= 12, "sink saw %d, want >= 12" % sink.total)

        u.start()
        t0 = time.monotonic()
        seen = []
        while True:
            m, took = _timed(d, lab.unique_name("back"))
            seen.append(lab.source(m))
            if seen[-1] == "doh":
                break
            check(seen[-1] == "fallback", "while recovering: %s" % seen[-1])
            check(time.monotonic() - t0 < 8, "no DoH answer 8 s after "
                  "unbound came back (%d fallback answers)" % len(seen))
            time.sleep(0.25)
        recovered = time.monotonic() - t0
        lab.note("DoH again %.2fs after unbound restarted" % recovered)
        for i in range(3):
            m, _ = _timed(d, lab.unique_name("again"))
            check(lab.source(m) == "doh", "after recovery (%.1fs): %s" % (
                recovered, lab.source(m)))
        st = d.stop()
        check(st.get("answered_fallback", 0) >= 6,
              "answered_fallback %r" % st.get("answered_fallback"))
        check(st.get("fallback_activations", 0) >= 1,
              "fallback_activations %r" % st.get("fallback_activations"))
        check(st.get("answered_doh", 0) >= 6, "answered_doh %r" %
              st.get("answered_doh"))
    finally:
        sink.close()
        if u.running():
            u.stop()


@lab.timeout(25)
def test_plaintext_never_tls():
    u = lab.Unbound("unbound-plain").start()
    watch = lab.PortWatch()	# where the upstream URL points
    try:
        s = _settings("plaintext", watch.port, None,
                      fallback="127.0.0.1:%d" % u.plain_port,
                      bootstrap="127.0.0.1:%d" % u.plain_port)
        d = lab.Dohstub(s, name="dohstub-plaintext").start()
        m = d.udp("www.lab.test", "A", qid=900)
        check(m and m.id == 900 and m.values("A") == [lab.WWW_A],
              "A: %r" % m)
        m = d.udp("alias.lab.test", "A", edns=1232)
        check(m and m.values("CNAME") == ["www.lab.test."] and
              m.values("A") == [lab.WWW_A], "CNAME: %r" % m)
        m = d.udp("nope.lab.test", "A")
        check(m and m.rcode == 3, "NXDOMAIN: %r" % m)
        m = d.udp("big.lab.test", "TXT")
        check(m and m.tc and len(m.wire) <= 512, "big over UDP: %r" % m)
        m = d.tcp("big.lab.test", "TXT")
        check(len(m.values("TXT")) == lab.BIG_TXT_COUNT, "big over TCP: "
              "%d TXT" % len(m.values("TXT")))
        for _ in range(5):
            m = d.udp(lab.unique_name("pt"))
            check(m and m.values("A") == [lab.WILD_ADDR], repr(m))
        time.sleep(1.0)
        check(watch.connections == 0, "plaintext mode connected %d times "
              "to the upstream's port" % watch.connections)
        check(d.doh_connections(watch.port) == 0, "connection held")
        st = d.stop()
        check(st.get("answered_doh", -1) == 0 and
              st.get("answered_fallback", 0) >= 9, "stats %r" % st)
        check(watch.connections == 0, "connected while stopping")
    finally:
        watch.close()
        u.stop()


@lab.timeout(20)
def test_stalled_upstream_times_out():
    # a server that accepts TCP and then says nothing: only the timeout
    # can end the query
    hole = lab.PortWatch(hold=True)
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_settings("encrypted-only", hole.port, sink,
                                  timeout="500ms"),
                        name="dohstub-stalled").start()
        m, took = _timed(d, lab.unique_name("stall"))
        check(m.rcode == 2, "stalled upstream: %s, want SERVFAIL" %
              m.rcode_name)
        check(0.4 <= took <= 1.5 * lab.SLOW, "SERVFAIL after %.2fs with "
              "timeout 500ms" % took)
        check(hole.connections >= 1, "never connected to the upstream")
        check(sink.total == 0, "plain DNS in encrypted-only")
        d.stop()
    finally:
        hole.close()
        sink.close()


@lab.timeout(20)
def test_shutdown_answers_pending_queries():
    hole = lab.PortWatch(hold=True)
    try:
        d = lab.Dohstub(_settings("encrypted-only", hole.port, None,
                                  timeout="10s"),
                        name="dohstub-pending").start()
        socks = []
        for i in range(5):
            s = lab.socket.socket(lab.socket.AF_INET, lab.socket.SOCK_DGRAM)
            s.connect(("127.0.0.1", d.port))
            s.send(lab.make_query(lab.unique_name("pend"), qid=800 + i))
            socks.append(s)
        lab.wait_for(lambda: hole.connections >= 1, 3,
                     what="the connection to the stalled upstream")
        time.sleep(0.3)
        st = d.stop()	# within 1 s although queries are pending
        got = []
        for s in socks:
            s.settimeout(0.5)
            try:
                got.append(lab.parse(s.recv(65535)))
            except lab.socket.timeout:
                pass
            s.close()
        check(len(got) == 5 and all(m.rcode == 2 for m in got),
              "pending queries at shutdown: %d answers %r, want 5 "
              "SERVFAIL" % (len(got), got))
        check(st.get("servfail", 0) >= 5 and st.get("pending") == 0,
              "the final stats line misses the SERVFAILs sent at shutdown:"
              " servfail=%s pending=%s" % (st.get("servfail"),
                                           st.get("pending")))
    finally:
        hole.close()


@lab.timeout(20)
def test_max_pending():
    hole = lab.PortWatch(hold=True)
    try:
        d = lab.Dohstub(_settings("encrypted-only", hole.port, None,
                                  timeout="10s", max_pending=10,
                                  max_pending_per_client=0),
                        name="dohstub-maxpending").start()
        wires = [lab.make_query(lab.unique_name("mp"), qid=2000 + i)
                 for i in range(30)]
        t0 = time.monotonic()
        got = lab.udp_burst(d.port, wires, timeout=1.5)
        took = time.monotonic() - t0
        servfail = [m for m in got.values() if m.rcode == 2]
        check(len(got) == 20 and len(servfail) == 20,
              "30 queries, max-pending 10, upstream stalled: %d answers "
              "(%d SERVFAIL) within %.1fs, want 20 SERVFAIL" % (
                  len(got), len(servfail), took))
        st = d.stop()
        check(st.get("over_limit", 0) == 20, "over_limit %r" %
              st.get("over_limit"))
    finally:
        hole.close()


def _vmhwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@lab.timeout(60)
def test_max_pending_then_upstream_returns():
    """Upstream stalled (unbound stopped with SIGSTOP after a first
    answer): past max-pending every query gets SERVFAIL at once and is
    counted, memory stays bounded; when the upstream comes back, the
    queries that were pending are answered and service goes on, with
    no restart."""
    u = lab.Unbound(name="unbound-maxpending").start()
    try:
        d = lab.Dohstub(_settings("encrypted-only", u.doh_port, None,
                                  timeout="10s", max_pending=10,
                                  max_pending_per_client=0),
                        name="dohstub-maxpending-2").start()
        check(d.udp("www.lab.test").values("A") == [lab.WWW_A], "warm-up")
        u.pause()
        results = {}

        def ask(i):
            results[i] = lab.udp_query(d.port, lab.unique_name("mp2"),
                                       timeout=8)
        pending = [threading.Thread(target=ask, args=(i,))
                   for i in range(10)]
        for t in pending:
            t.start()
        lab.wait_for(lambda: d.stats_now().get("pending") == 10,
                     3 * lab.SLOW, what="ten queries pending")
        wires = [lab.make_query(lab.unique_name("mp2x"), qid=3000 + i)
                 for i in range(200)]
        t0 = time.monotonic()
        got = lab.udp_burst(d.port, wires, timeout=2)
        took = time.monotonic() - t0
        check(len(got) == 200 and all(m.rcode == 2 for m in got.values()),
              "200 over the limit: %d answers, rcodes %r" %
              (len(got), sorted({m.rcode for m in got.values()})))
        check(took < 1.0 * lab.SLOW, "the excess waited %.2fs for its "
              "SERVFAIL" % took)
        stats = d.stats_now()
        check(stats.get("over_limit") == 200 and stats.get("pending") == 10,
              "counters: over_limit %r pending %r" %
              (stats.get("over_limit"), stats.get("pending")))
        hwm = _vmhwm_kib(d.pid)
        bound = 64 * 1024 if lab.under_asan() else 16 * 1024
        check(hwm < bound, "VmHWM %d KiB over %d KiB" % (hwm, bound))
        u.resume()
        for t in pending:
            t.join(10)
        answered = [m for m in results.values()
                    if m is not None and m.rcode == 0]
        check(len(answered) == 10, "after the upstream returned, %d of the "
              "10 pending queries were answered" % len(answered))
        m = d.udp("www.lab.test")
        check(m.rcode == 0 and m.values("A") == [lab.WWW_A],
              "service after the upstream returned: %r" % m)
        lab.note("VmHWM %d KiB; 200 over the limit answered in %.2fs" %
                 (hwm, took))
        d.stop()
    finally:
        u.stop()


# ------------------------------------------------------------ under load


def _dnsperf_file():
    path = os.path.join(lab.tmpdir(), "dnsperf-%x.txt" %
                        lab.random.getrandbits(32))
    with open(path, "w") as f:
        for i in range(6000):
            f.write("%s A\n" % lab.unique_name("perf%d" % i))
    return path


def _dnsperf_with_pull(d, u, seconds=5, qps=500, pull_at=2.0):
    """dnsperf against d; unbound stopped pull_at s in.  Returns
    (sent, lost, {rcode: count}, output)."""
    p = lab.spawn(["dnsperf", "-s", "127.0.0.1", "-p", str(d.port), "-d",
                   _dnsperf_file(), "-l", str(seconds), "-Q", str(qps),
                   # longer than the daemon's own 2 s timeout: a query
                   # caught by the pull is answered late, not lost
                   "-t", "5"],
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                  text=True)
    time.sleep(pull_at)
    u.stop()
    out, _ = p.communicate(timeout=seconds + 15)
    check(p.returncode == 0, "dnsperf failed: " + out[-500:])
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    codes = {}
    mc = re.search(r"Response codes:\s+(.*)", out)
    if mc:
        for name, n in re.findall(r"([A-Z]+) (\d+)", mc.group(1)):
            codes[name] = int(n)
    return sent, lost, codes, out


@lab.timeout(40)
def test_load_encrypted_preferred_pull():
    if lab.VALGRIND:
        lab.skip("a load test means nothing under valgrind")
    u = lab.Unbound("unbound-load-pref", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_settings("encrypted-preferred", u.doh_port, sink),
                        name="dohstub-load-pref").start()
        sent, lost, codes, out = _dnsperf_with_pull(d, u)
        summary = "sent %d lost %d codes %r sink %d" % (sent, lost, codes,
                                                        sink.total)
        lab.note(summary)
        check(sent >= 2000, "dnsperf sent only %d: %s" % (sent, summary))
        check(lost <= sent * 0.005, "too many lost: " + summary)
        check(codes.get("SERVFAIL", 0) <= sent * 0.01,
              "SERVFAILs in encrypted-preferred: " + summary)
        check(sink.total >= 500, "fallback barely used: " + summary)
        st = d.stop()
        check(st.get("answered_fallback", 0) >= 500 and
              st.get("fallback_activations", 0) >= 1 and
              st.get("answered_doh", 0) >= 500, "stats %r (%s)" % (
                  st, summary))
    finally:
        sink.close()


@lab.timeout(40)
def test_load_encrypted_only_pull():
    if lab.VALGRIND:
        lab.skip("a load test means nothing under valgrind")
    u = lab.Unbound("unbound-load-only", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_settings("encrypted-only", u.doh_port, sink),
                        name="dohstub-load-only").start()
        sent, lost, codes, out = _dnsperf_with_pull(d, u)
        time.sleep(0.3)
        summary = "sent %d lost %d codes %r sink %d" % (sent, lost, codes,
                                                        sink.total)
        lab.note(summary)
        check(sent >= 2000, "dnsperf sent only %d: %s" % (sent, summary))
        check(sink.total == 0, "encrypted-only sent plain DNS: " + summary)
        check(codes.get("NOERROR", 0) >= 500, "few DoH answers before the "
              "pull: " + summary)
        check(codes.get("SERVFAIL", 0) >= 500, "few SERVFAILs after the "
              "pull: " + summary)
        check(lost <= sent * 0.005, "too many lost (SERVFAIL should be "
              "fast): " + summary)
        st = d.stop()
        check(st.get("answered_fallback", -1) == 0 and
              st.get("servfail", 0) >= 500, "stats %r" % st)
    finally:
        sink.close()


if __name__ == "__main__":
    lab.main(globals())
