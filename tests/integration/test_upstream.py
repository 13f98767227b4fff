#!/usr/bin/python3
"""The life of an upstream connection: the bootstrap lookup of an upstream's
name (and nothing else) in plain DNS, a server that stalls after the
handshake (SIGSTOP: the kernel still accepts, nothing answers), dead idle
connections found by HTTP/2 PING, TLS session resumption on reconnect,
the privilege drop, and failover to a second upstream.

Answers tell where they came from: unbound answers 192.0.2.7 for the
unique names under w.lab.test (no cache can have seen them), the Sink
192.0.2.99."""

import os
import pwd
import re
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

TIMEOUT = "500ms"	# the daemon's query timeout in the stall tests
TIMEOUT_S = 0.5
QUICK = 0.3 * lab.SLOW	# an answer that waited on nothing
DEAD_BY = 1.2 * lab.SLOW	# a stalled connection declared dead, at most
RECOVER_S = 8.0 * lab.SLOW	# DoH again after the server is back


def _ca():
    return lab.certs().ca_pem


def _timed(d, name, qtype="A", transport="udp", timeout=3.0):
    """(message or None, seconds)."""
    t0 = time.monotonic()
    if transport == "udp":
        m = lab.udp_query(d.port, name, qtype, timeout)
    else:
        try:
            m = d.tcp(name, qtype, timeout=timeout)
        except (OSError, ConnectionError):
            m = None
    return m, time.monotonic() - t0


def _doh_settings(mode, u, sink=None, **extra):
    """One upstream u pinned to 127.0.0.1; sink as fallback and
    bootstrap."""
    s = {"mode": mode, "upstream": u.url, "resolve": u.resolve,
         "ca-file": _ca()}
    if sink is not None:
        s["fallback"] = sink.addr
        s["bootstrap"] = sink.addr
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def _recover(d, what):
    """Query until DoH answers again (RECOVER_S at most); returns the
    seconds it took.  Meanwhile every answer must come in time."""
    t0 = time.monotonic()
    seen = []
    while True:
        m, took = _timed(d, lab.unique_name("back"))
        seen.append(lab.source(m))
        if seen[-1] == "doh":
            return time.monotonic() - t0
        check(took < 1.5 * lab.SLOW, "%s: while recovering an answer took "
              "%.2fs (%s)" % (what, took, seen[-1]))
        check(time.monotonic() - t0 < RECOVER_S, "%s: no DoH answer %.0f s "
              "after SIGCONT (answers: %s)" % (what, RECOVER_S,
                                                 ", ".join(seen[-5:])))
        time.sleep(0.2)


class _LogWatch:
    """Notes when a log line matching pattern first appears (polled every
    20 ms in a thread), as time.monotonic()."""

    def __init__(self, d, pattern, since):
        self.at = None
        self._stop = False
        self._t = threading.Thread(target=self._run,
                                       args=(d, pattern, since), daemon=True)
        self._t.start()

    def _run(self, d, pattern, since):
        while not self._stop and self.at is None:
            if d.log_lines(pattern, since):
                self.at = time.monotonic()
                return
            time.sleep(0.02)

    def stop(self):
        self._stop = True
        self._t.join(1)


def _log_summary(d, since, n=8):
    """The distinct messages logged since line `since`, with counts."""
    counts = {}
    order = []
    for l in d.log_text().splitlines()[since:]:
        k = re.sub(r"\d+", "N", l)
        if k not in counts:
            order.append(k)
            counts[k] = 0
        counts[k] += 1
    return "; ".join("%s x%d" % (k, counts[k]) for k in order[:n]) or \
        "(nothing)"


# ------------------------------------------------------------ bootstrap

def _only_upstream_lookups(boot, what):
    qs = list(boot.queries)
    bad = [q for q in qs if q[0] != "doh.test." or q[1] not in (1, 28)]
    check(not bad, "%s: the bootstrap server was asked more than the "
          "upstream's address: %r" % (what, bad[:5]))
    return qs


@lab.timeout(25)
def test_bootstrap_sees_only_the_upstream_name():
    u = lab.Unbound("unbound-boot", plain=False).start()
    boot = lab.Sink(records={"doh.test": {"A": ["127.0.0.1"]}})
    try:
        d = lab.Dohstub({"mode": "encrypted-only", "upstream": u.url,
                         "bootstrap": boot.addr, "ca-file": _ca()},
                        name="dohstub-boot", args=["-v"]).start()
        # the first query may wait for the lookup and the handshake
        m, took = _timed(d, "www.lab.test", timeout=4)
        check(m is not None and m.rcode == 0 and
              m.values("A") == [lab.WWW_A], "www A through a bootstrapped "
              "upstream: %r (%.2fs)" % (m, took))
        m = d.udp("www.lab.test", "AAAA")
        check(m.values("AAAA") == [lab.WWW_AAAA], "www AAAA: %r" % m)
        m = d.tcp("alias.lab.test", "A")
        check(m.values("CNAME") == ["www.lab.test."] and
              m.values("A") == [lab.WWW_A], "alias over TCP: %r" % m)
        names = [lab.unique_name("boot") for _ in range(4)]
        for n in names:
            m = d.udp(n)
            check(lab.source(m) == "doh", "%s: %s" % (n, lab.source(m)))
        check(d.doh_connections(u.doh_port) >= 1,
              "no connection to the upstream at the bootstrapped address")
        check(d.log_lines(r"doh\.test:%d: resolved to 127\.0\.0\.1" %
                          u.doh_port), "no 'resolved to 127.0.0.1' line")
        time.sleep(0.3)	# anything late
        qs = _only_upstream_lookups(boot, "bootstrap working")
        check(("doh.test.", 1) in qs, "no A lookup of doh.test: %r" % qs)
        st = d.stop()
        check(st.get("answered_doh", 0) >= 7 and st.get("servfail") == 0,
              "stats %r" % st)
    finally:
        boot.close()
        u.stop()


def _bootstrap_fails(rule, what, first_bound):
    """The bootstrap server answers rule for doh.test: every client query
    gets SERVFAIL (within first_bound while the lookup is pending, QUICK
    once it has failed), nothing connects, nothing else is asked."""
    watch = lab.PortWatch()	# where doh.test's port is, if it resolved
    boot = lab.Sink(records={"doh.test": rule})
    try:
        d = lab.Dohstub({"mode": "encrypted-only",
                         "upstream": "https://doh.test:%d/dns-query" %
                         watch.port,
                         "bootstrap": boot.addr, "ca-file": _ca(),
                         "timeout": TIMEOUT},
                        name="dohstub-boot-" + what, args=["-v"]).start()
        names = []
        t0 = time.monotonic()
        while not d.log_lines(r"bootstrap lookup of doh\.test failed"):
            check(time.monotonic() - t0 < 5 * lab.SLOW, "%s: no 'bootstrap "
                  "lookup of doh.test failed' within 5 s" % what)
            names.append(lab.unique_name("bf"))
            m, took = _timed(d, names[-1])
            check(m is not None and m.rcode == 2, "%s: lookup pending: %s, "
                  "want SERVFAIL" % (what, lab.source(m)))
            check(took < first_bound, "%s: SERVFAIL took %.2fs while the "
                  "lookup was pending (timeout %s)" % (what, took, TIMEOUT))
            time.sleep(0.1)
        for i in range(6):
            names.append(lab.unique_name("bf"))
            tr = "tcp" if i % 3 == 2 else "udp"
            m, took = _timed(d, names[-1], transport=tr)
            check(m is not None and m.rcode == 2, "%s: query %d (%s) after "
                  "the failed lookup: %s, want SERVFAIL" % (
                      what, i, tr, lab.source(m)))
            check(took < QUICK, "%s: SERVFAIL %d (%s) took %.2fs after the "
                  "lookup had failed, want < %.1fs" % (what, i, tr, took,
                                                       QUICK))
        time.sleep(0.3)
        qs = _only_upstream_lookups(boot, what)
        check(qs, "%s: the bootstrap server was never asked" % what)
        leaked = [n for n in names if (n + ".").lower() in
                  [q[0] for q in qs]]
        check(not leaked, "%s: client names sent in plaintext: %r" % (
            what, leaked))
        check(watch.connections == 0, "%s: connected %d times to the "
              "upstream's port without an address" % (
                  what, watch.connections))
        st = d.stop()
        check(st.get("answered_doh", -1) == 0 and
              st.get("answered_fallback", -1) == 0 and
              st.get("servfail", 0) >= len(names), "stats %r" % st)
    finally:
        boot.close()
        watch.close()


@lab.timeout(20)
def test_bootstrap_nxdomain_servfails_fast():
    _bootstrap_fails("NXDOMAIN", "nxdomain", QUICK)


@lab.timeout(25)
def test_bootstrap_silent_servfails():
    _bootstrap_fails(None, "silent", (TIMEOUT_S + 0.5) * lab.SLOW)


@lab.timeout(40)
def test_bootstrap_repeated_when_ttl_runs_out():
    """The upstream's name is looked up again when its TTL runs out (not
    before bootstrap-min-ttl, 4 s here: the bootstrap server says 1 s),
    and a reconnection goes to the new address.  The connection to the old
    one is kept while it works."""
    floor = 4
    # unbound's idle timeout (30 s by default) must not end the old
    # connection first
    u1 = lab.Unbound("unbound-ttl-old", plain=False,
                     extra=["log-queries: yes",
                            "tcp-idle-timeout: 120000"]).start()
    u2 = lab.Unbound("unbound-ttl-new", plain=False, addr="127.0.0.2",
                     doh_port=u1.doh_port,
                     extra=["log-queries: yes"]).start()
    boot = lab.Sink(records={"doh.test": {"A": ["127.0.0.1"]}}, ttl=1)
    try:
        started = time.monotonic()
        d = lab.Dohstub({"mode": "encrypted-only", "upstream": u1.url,
                         "bootstrap": boot.addr, "ca-file": _ca(),
                         "bootstrap-min-ttl": "%ds" % floor},
                        name="dohstub-ttl", args=["-v"]).start()
        first = lab.unique_name("ttl-old")
        m, took = _timed(d, first, timeout=4)
        check(lab.source(m) == "doh", "first query: %s" % lab.source(m))
        check(first in lab.tail(u1.log, 1000), "first query not at the "
              "old address")
        if time.monotonic() - started < floor:
            check(len(d.log_lines(r"resolved to 127\.0\.0\.1")) == 1,
                  "looked up again before the %d s floor" % floor)
        boot.records["doh.test"] = {"A": ["127.0.0.2"]}
        while not d.log_lines(r"resolved to 127\.0\.0\.2"):
            check(time.monotonic() - started < floor + 10 * lab.SLOW,
                  "no second lookup of doh.test %.0f s after the start "
                  "(bootstrap queries: %r)" % (time.monotonic() - started,
                                               boot.queries))
            time.sleep(0.2)
        # the first lookup came after the start: the floor is a minimum
        took = time.monotonic() - started
        check(took >= floor, "looked up again after %.1f s, before the "
              "%d s floor" % (took, floor))
        _only_upstream_lookups(boot, "TTL re-lookup")
        kept = lab.unique_name("ttl-kept")
        m, _ = _timed(d, kept)
        check(lab.source(m) == "doh" and kept in lab.tail(u1.log, 1000),
              "the working connection to the old address was dropped: %s"
              % lab.source(m))

        # the old server goes: the next connection is to the new address
        u1.stop()
        t0 = time.monotonic()
        while True:
            name = lab.unique_name("ttl-new")
            m, _ = _timed(d, name)
            if lab.source(m) == "doh" and name in lab.tail(u2.log, 1000):
                break
            check(time.monotonic() - t0 < 5 * lab.SLOW, "no answer from "
                  "the new address 5 s after the old one stopped: %s" %
                  lab.source(m))
            time.sleep(0.2)
        d.stop()
    finally:
        boot.close()
        u1.stop()
        u2.stop()


# ------------------------------------------------------------ stalls


@lab.timeout(30)
def test_stall_after_handshake_falls_back():
    """encrypted-preferred: the server stops answering on a warm
    connection.  Queries reach the fallback within about the timeout; the
    daemon declares the connection dead and, once it has said it falls
    back, sends queries straight there; after SIGCONT, DoH again."""
    u = lab.Unbound("unbound-stall-pref", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_doh_settings("encrypted-preferred", u, sink,
                                      timeout=TIMEOUT),
                        name="dohstub-stall-pref", args=["-v"]).start()
        m, _ = _timed(d, lab.unique_name("warm"))
        check(lab.source(m) == "doh", "before the stall: %s" % lab.source(m))
        mark = d.log_count()
        watch = _LogWatch(d, r"connection lost", mark)
        u.pause()
        t0 = time.monotonic()
        problems = []
        took_all = []
        after = []	# queries sent once the daemon said it falls back
        while time.monotonic() - t0 < 4.0 * lab.SLOW and len(after) < 3:
            announced = bool(d.log_lines(r"falling back to plain DNS",
                                         mark))
            m, took = _timed(d, lab.unique_name("stall"))
            took_all.append(took)
            check(lab.source(m) == "fallback", "stalled, query %d: %s after "
                  "%.2fs" % (len(took_all), lab.source(m), took))
            check(took < 1.5 * lab.SLOW, "stalled, query %d: fallback "
                  "answer after %.2fs (timeout %s)" % (len(took_all), took,
                                                      TIMEOUT))
            if announced:
                after.append(took)
            time.sleep(0.1)
        watch.stop()
        dead = d.log_lines(r"connection lost", mark)
        # the first stalled query was sent at t0: a liveness check worth
        # the name fires about one timeout later
        if not dead:
            problems.append(
                "the stalled connection was never declared dead: %d "
                "queries in %.1fs after SIGSTOP each waited %.2f-%.2fs on "
                "it before the fallback (log since SIGSTOP: %s)" % (
                    len(took_all), time.monotonic() - t0, min(took_all),
                    max(took_all), _log_summary(d, mark)))
        elif watch.at is not None and watch.at - t0 > DEAD_BY:
            problems.append(
                "the stalled connection was declared dead only %.2fs after "
                "the first unanswered query (timeout %s, want <= %.1fs); "
                "the queries before took %s" % (
                    watch.at - t0, TIMEOUT, DEAD_BY, ", ".join(
                        "%.2fs" % t for t in took_all)))
        if dead and not after:
            problems.append("declared dead (%r) but no 'falling back to "
                            "plain DNS' within 4 s" % dead[0])
        slow = [t for t in after if t >= QUICK]
        if after and slow:
            problems.append("after 'falling back to plain DNS' queries "
                            "still waited: %s" % ", ".join(
                                "%.2fs" % t for t in after))
        u.resume()
        rec = _recover(d, "encrypted-preferred")
        lab.note("stall: %s; dead after %s s; DoH again %.2fs after "
                 "SIGCONT" % (", ".join("%.2f" % t for t in took_all),
                              "%.2f" % (watch.at - t0) if watch.at else
                              "never", rec))
        for i in range(3):
            m, _ = _timed(d, lab.unique_name("again"))
            check(lab.source(m) == "doh", "after recovery: %s" % lab.source(m))
        st = d.stop()
        check(st.get("answered_fallback", 0) >= len(took_all), "stats %r"
              % st)
        check(not problems, "; ".join(problems))
    finally:
        sink.close()
        u.stop()


@lab.timeout(30)
def test_stall_after_handshake_encrypted_only():
    u = lab.Unbound("unbound-stall-only", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_doh_settings("encrypted-only", u, sink,
                                      timeout=TIMEOUT),
                        name="dohstub-stall-only", args=["-v"]).start()
        m, _ = _timed(d, lab.unique_name("warm"))
        check(lab.source(m) == "doh", "before the stall: %s" % lab.source(m))
        mark = d.log_count()
        u.pause()
        took_all = []
        for i in range(6):
            tr = "tcp" if i % 3 == 2 else "udp"
            m, took = _timed(d, lab.unique_name("stall"), transport=tr)
            took_all.append(took)
            check(m is not None and m.rcode == 2, "stalled, query %d (%s): "
                  "%s, want SERVFAIL" % (i, tr, lab.source(m)))
            check(took < (TIMEOUT_S + 0.5) * lab.SLOW, "stalled, query %d "
                  "(%s): SERVFAIL after %.2fs (timeout %s)" % (
                      i, tr, took, TIMEOUT))
            time.sleep(0.1)
        time.sleep(0.3)
        check(sink.total == 0, "encrypted-only sent plain DNS while "
              "stalled: %d datagrams, %d connections (%r)" % (
                  sink.datagrams, sink.tcp_connections, sink.names[:3]))
        lab.note("stall (encrypted-only): %s; log: %s" % (
            ", ".join("%.2f" % t for t in took_all), _log_summary(d, mark)))
        u.resume()
        _recover(d, "encrypted-only")
        st = d.stop()
        check(sink.total == 0, "plain DNS after SIGCONT: %d" % sink.total)
        check(st.get("answered_fallback", -1) == 0 and
              st.get("servfail", 0) >= 6, "stats %r" % st)
    finally:
        sink.close()
        u.stop()


@lab.timeout(30)
def test_idle_dead_connection_found_by_ping():
    """Nothing is asked while the server is stopped: only the keepalive
    PING can tell the connection is dead, and then the next query goes
    straight to the fallback."""
    u = lab.Unbound("unbound-ping", plain=False).start()
    sink = lab.Sink()
    try:
        d = lab.Dohstub(_doh_settings("encrypted-preferred", u, sink,
                                      timeout=TIMEOUT, keepalive="300ms"),
                        name="dohstub-ping", args=["-v"]).start()
        m, _ = _timed(d, lab.unique_name("warm"))
        check(lab.source(m) == "doh", "before the stall: %s" % lab.source(m))
        mark = d.log_count()
        u.pause()
        try:
            dead = d.wait_log(r"connection lost", 3, since=mark)
        except AssertionError:
            dead = None
        check(sink.total == 0, "the sink got %d messages with no query "
              "sent" % sink.total)
        check(dead, "3 s after SIGSTOP of an idle upstream (keepalive "
              "300ms, timeout %s) the connection is not declared dead; "
              "log: %s" % (TIMEOUT, _log_summary(d, mark)))
        for i in range(3):
            m, took = _timed(d, lab.unique_name("idle"))
            check(lab.source(m) == "fallback" and took < QUICK,
                  "query %d after the PING went unanswered: %s after "
                  "%.2fs, want the fallback < %.1fs (log: %s)" % (
                      i, lab.source(m), took, QUICK, _log_summary(d, mark)))
        u.resume()
        rec = _recover(d, "after the PING timeout")
        lab.note("idle: dead as %r; DoH again %.2fs after SIGCONT" % (
            dead, rec))
        d.stop()
    finally:
        sink.close()
        u.stop()


# ------------------------------------------------------------ resumption


def _unbound_resumes(u):
    """Does unbound resume a TLS 1.3 session (two connections from Python,
    the second offering the first's ticket)?  (resumed, detail)"""
    ctx = ssl.create_default_context(cafile=_ca())
    ctx.set_alpn_protocols(["h2"])
    sess = None
    reused = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", u.doh_port), 2)
        t = ctx.wrap_socket(s, server_hostname="doh.test", session=sess)
        t.settimeout(0.3)
        try:
            t.recv(1024)	# the server's SETTINGS: the tickets come first
        except socket.timeout:
            pass
        reused.append(t.session_reused)
        version = t.version()
        sess = t.session
        t.close()
    return reused == [False, True], "%s, reused %r" % (version, reused)


@lab.timeout(25)
def test_tls_session_resumed_on_reconnect():
    # unbound closes a connection idle for 1 s: a reconnect without any
    # restart; the daemon's keepalive is off so the connection does idle
    u = lab.Unbound("unbound-resume", plain=False,
                    extra=["tcp-idle-timeout: 1000"]).start()
    try:
        ok, detail = _unbound_resumes(u)
        if not ok:
            lab.skip("unbound does not resume TLS 1.3 sessions (%s)" %
                     detail)
        d = lab.Dohstub(_doh_settings("encrypted-only", u, keepalive="0"),
                        name="dohstub-resume", args=["-v"]).start()
        m, _ = _timed(d, lab.unique_name("res"))
        check(lab.source(m) == "doh", "first query: %s" % lab.source(m))
        def two_connections():
            ls = d.log_lines(r": connected \(")
            return ls[:2] if len(ls) >= 2 else None
        lines = lab.wait_for(two_connections, 5 * lab.SLOW,
                             what="a second connection after unbound "
                             "closed the first")
        check("TLSv1.3" in lines[0], "first connection: %r" % lines[0])
        m, _ = _timed(d, lab.unique_name("res"))
        check(lab.source(m) == "doh", "after the reconnect: %s" % lab.source(m))
        d.stop()
        check(lines[1].rstrip().endswith(", resumed)"), "the reconnect did "
              "not resume the TLS session (unbound does, %s): %r" % (
                  detail, lines[1]))
    finally:
        u.stop()


# ------------------------------------------------------------ privileges


def _proc_ids(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return [int(x) for x in line.split()[1:]]
    return None


@lab.timeout(20)
def test_user_drops_privileges():
    if os.geteuid() != 0:
        lab.skip("not root")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        lab.skip("no user nobody")
    u = lab.Unbound("unbound-user", plain=False).start()
    try:
        d = lab.Dohstub(_doh_settings("encrypted-only", u, user="nobody"),
                        name="dohstub-user").start()
        # the sockets are bound before the drop: wait for it
        d.wait_log(r"dropped privileges to nobody", 3)
        uids = _proc_ids(d.pid, "Uid")
        gids = _proc_ids(d.pid, "Gid")
        groups = _proc_ids(d.pid, "Groups")
        check(uids == [pw.pw_uid] * 4, "Uid %r, want %d (nobody) x4" % (
            uids, pw.pw_uid))
        check(gids == [pw.pw_gid] * 4, "Gid %r, want %d x4" % (
            gids, pw.pw_gid))
        check(groups is not None and set(groups) <= {pw.pw_gid},
              "supplementary groups %r, want only %d" % (groups, pw.pw_gid))
        m, _ = _timed(d, lab.unique_name("user"))
        check(lab.source(m) == "doh", "as nobody, UDP: %s" % lab.source(m))
        m, _ = _timed(d, lab.unique_name("user"), transport="tcp")
        check(lab.source(m) == "doh", "as nobody, TCP: %s" % lab.source(m))
        d.stop()
    finally:
        u.stop()


@lab.timeout(15)
def test_user_unknown_exits():
    r = lab.run_daemon(["--listen", "127.0.0.1:%d" % lab.free_port(),
                        "--mode", "encrypted-only", "--upstream",
                        "https://doh.test:%d/dns-query" % lab.free_port(),
                        "--resolve", "doh.test:1:127.0.0.1",
                        "--ca-file", _ca(), "--user", "nosuchuser"],
                       timeout=5)
    out = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    check(r.returncode != 0, "--user nosuchuser: exit 0, output %r" % out)
    check(len(out) == 1 and "nosuchuser" in out[0], "--user nosuchuser: "
          "want one line naming the user, got %r" % out)


# ------------------------------------------------------------ failover


def _fast_doh(d, n, what, bound=0.5):	# half the timeout: no wait on it
    for i in range(n):
        tr = "tcp" if i % 4 == 3 else "udp"
        name = lab.unique_name("fo")
        m, took = _timed(d, name, transport=tr)
        check(lab.source(m) == "doh", "%s, query %d (%s): %s" % (
            what, i, tr, lab.source(m)))
        check(took < bound * lab.SLOW, "%s, query %d (%s) took %.3fs, want "
              "< %.1fs" % (what, i, tr, took, bound))
        yield name


@lab.timeout(40)
def test_first_upstream_unreachable():
    port1 = lab.free_port()	# nothing listens: connection refused
    u2 = lab.Unbound("unbound-second", plain=False).start()
    u1 = None
    hole = None
    try:
        d = lab.Dohstub({"mode": "encrypted-only",
                         "upstream": ["https://doh.test:%d/dns-query" %
                                      port1, u2.url],
                         "resolve": ["doh.test:%d:127.0.0.1" % port1,
                                     u2.resolve],
                         "ca-file": _ca(), "timeout": "1s",
                         # the order is the point here (fastest is in
                         # test_select)
                         "upstream-policy": "ordered"},
                        name="dohstub-failover", args=["-v"]).start()
        m, took = _timed(d, lab.unique_name("fo"))
        check(lab.source(m) == "doh", "first query: %s after %.2fs" % (
            lab.source(m), took))
        list(_fast_doh(d, 10, "first upstream refused"))
        check(d.log_lines(r"doh\.test:%d: unreachable" % port1),
              "no 'unreachable' line for the first upstream")

        # the first upstream's port now accepts and says nothing: the
        # background probes stall, the queries must not
        hole = lab.PortWatch(port=port1, hold=True)
        t0 = time.monotonic()
        while hole.connections == 0:
            check(time.monotonic() - t0 < 7 * lab.SLOW, "no probe of the "
                  "first upstream within 7 s")
            list(_fast_doh(d, 1, "first upstream stalled"))
            time.sleep(0.2)
        list(_fast_doh(d, 5, "first upstream stalled"))
        hole.close()
        hole = None

        # a real server there: traffic moves to the first upstream
        u1 = lab.Unbound("unbound-first", plain=False, doh_port=port1,
                         extra=["log-queries: yes"]).start()
        t0 = time.monotonic()
        while True:
            names = list(_fast_doh(d, 1, "first upstream back"))
            if names[0] in lab.tail(u1.log, 1000):
                break
            check(time.monotonic() - t0 < 8 * lab.SLOW, "traffic not back "
                  "on the first upstream 8 s after it came up")
            time.sleep(0.25)
        names = list(_fast_doh(d, 4, "first upstream back"))
        time.sleep(0.2)
        text = lab.tail(u1.log, 1000)
        missing = [n for n in names if n not in text]
        check(not missing, "queries not sent to the first upstream once "
              "it answers: %r" % missing)
        st = d.stop()
        check(st.get("servfail") == 0, "stats %r" % st)
    finally:
        if hole is not None:
            hole.close()
        if u1 is not None:
            u1.stop()
        u2.stop()


if __name__ == "__main__":
    lab.main(globals())
