#!/usr/bin/python3
"""The daemon against a DoH server that misbehaves on purpose: faultsrv
(tests/faultsrv), one fault per run.  For every fault and both encrypted
modes:

  encrypted-only       the client gets SERVFAIL, in time, and a Sink that
                       is both fallback and bootstrap server receives
                       nothing at all;
  encrypted-preferred  the client gets the Sink's answer (192.0.2.99);
  both                 once the faulty server is replaced by a good one on
                       the same port, DoH answers again (faultsrv's
                       192.0.2.42), the peak RSS (VmHWM) stays under a
                       stated bound, and SIGTERM ends the daemon with
                       status 0;
  certificates         no application byte crossed a connection whose
                       certificate was rejected (faultsrv's app-bytes).

GOAWAY (a refused query is sent again, once, on a new connection),
MAX_CONCURRENT_STREAMS 1 and closing after N requests have rules of their
own (see their functions).  The hostile frames (floods, a huge
header block) may be tolerated: then the query is answered by DoH, and
which way the daemon went is printed.

Each (fault, mode) pair is one scenario with its own faultsrv, Sink and
daemon; scenarios run in parallel and each prints an "ok"/"FAIL" line.

Environment: FAULTSRV_BIN (default: faultsrv in $DOHSTUB_BUILD, else
../../build/faultsrv), DOHSTUB_BIN as for every suite."""

import concurrent.futures
import datetime
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer  # noqa: E402

GOOD_A = "192.0.2.42"	# faultsrv's answer to any A question
TIMEOUT = "1s"	# the daemon's query timeout
TIMEOUT_S = 1.0
FAST = 0.5 * lab.SLOW	# a failure that waited on nothing: half the timeout
LATE = (TIMEOUT_S + 1.0) * lab.SLOW	# a failure that waited on it
CLIENT_WAIT = 3.0	# seconds a test client waits for any answer
RECOVER_S = 8.0 * lab.SLOW	# backoff is at most 5 s
RSS_BOUND_KIB = 16 << 10	# VmHWM bound, plain build (measured ~8 MB)
RSS_BOUND_ASAN_KIB = 64 << 10	# with AddressSanitizer (measured ~25 MB)
# Scenarios at once, two per CPU: each is a daemon and a faultsrv, and
# FAST bounds what a loaded sanitized build does in half a second.
WORKERS = 2 * (os.cpu_count() or 1)

MODES = ("encrypted-only", "encrypted-preferred")

# ------------------------------------------------------------ the lab


def faultsrv_bin():
    b = os.environ.get("FAULTSRV_BIN")
    if not b:
        build = os.environ.get("DOHSTUB_BUILD")
        b = os.path.join(build, "faultsrv") if build else \
            os.path.join(HERE, "..", "..", "build", "faultsrv")
    b = os.path.abspath(b)
    if not os.access(b, os.X_OK):
        raise lab.LabError("no faultsrv binary at %s (set FAULTSRV_BIN)" % b)
    return b


_dated = {}
_dated_lock = threading.Lock()


def _utc(days):
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(days=days)
    return t.strftime("%y%m%d%H%M%SZ")


def dated_cert(kind):
    """(chain, key) for doh.test signed by the lab CA, valid only in the
    past ("expired": from 10 days ago to 1 day ago) or only in the future
    ("not-yet-valid": from 10 days on).  openssl ca sets the dates."""
    with _dated_lock:
        if kind in _dated:
            return _dated[kind]
        c = lab.certs()
        d = os.path.join(c.dir, "dated-" + kind)
        os.makedirs(d, exist_ok=True)
        start, end = {"expired": (-10, -1),
                      "not-yet-valid": (10, 20)}[kind]
        cnf = lab.write_file(os.path.join(d, "ca.cnf"), "\n".join([
            "[ca]", "default_ca = lab",
            "[lab]",
            "database = %s/index.txt" % d,
            "new_certs_dir = %s" % d,
            "rand_serial = yes",
            "default_md = sha256",
            "unique_subject = no",
            "policy = anything",
            "[anything]", "commonName = supplied", ""]))
        lab.write_file(os.path.join(d, "index.txt"), "")
        ext = lab.write_file(os.path.join(d, "leaf.ext"),
                             "basicConstraints=critical,CA:FALSE\n"
                             "keyUsage=critical,digitalSignature\n"
                             "extendedKeyUsage=serverAuth\n"
                             "subjectAltName=%s\n" % c.GOOD_SAN)
        key = os.path.join(d, "leaf.key")
        csr = os.path.join(d, "leaf.csr")
        pem = os.path.join(d, "leaf.pem")
        chain = os.path.join(d, "leaf-chain.pem")
        for argv in (["req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      key, "-out", csr, "-subj", "/CN=doh.test"],
                     ["ca", "-batch", "-config", cnf, "-cert", c.ca_pem,
                      "-keyfile", c.ca_key, "-in", csr, "-out", pem,
                      "-notext", "-extfile", ext, "-startdate", _utc(start),
                      "-enddate", _utc(end)]):
            r = lab.run(["openssl"] + argv)
            if r.returncode != 0:
                raise lab.LabError("openssl %s: %s" % (argv[0],
                                                       r.stderr.strip()))
        r = lab.run(["openssl", "verify", "-CAfile", c.ca_pem, pem])
        want = {"expired": "certificate has expired",
                "not-yet-valid": "certificate is not yet valid"}[kind]
        if want not in r.stdout + r.stderr:
            raise lab.LabError("%s certificate: openssl verify says %r" % (
                kind, (r.stdout + r.stderr).strip()))
        with open(chain, "w") as out:
            for f in (pem, c.ca_pem):
                with open(f) as i:
                    out.write(i.read())
        _dated[kind] = (chain, key)
        return _dated[kind]


def server_cert(kind):
    c = lab.certs()
    if kind == "good":
        return c.server_chain, c.server_key
    if kind == "wrong-name":
        return c.wrong_chain, c.wrong_key
    if kind == "unknown-ca":
        return c.rogue_chain, c.rogue_key
    return dated_cert(kind)


def start_faultsrv(fault, port, cert="good", extra=()):
    chain, key = server_cert(cert)
    return FaultServer(faultsrv_bin(), chain, key, fault,
                       extra=["--port", str(port)] + list(extra))


def settings(mode, port, sink, timeout=TIMEOUT):
    return {"mode": mode,
            "upstream": "https://doh.test:%d/dns-query" % port,
            "resolve": "doh.test:%d:127.0.0.1" % port,
            "ca-file": lab.certs().ca_pem,
            "fallback": sink.addr,
            "bootstrap": sink.addr,
            "timeout": timeout}


def vm_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def is_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def ask(d, name, transport="udp", wait=CLIENT_WAIT):
    """(message or None, seconds) for an A query."""
    t0 = time.monotonic()
    try:
        if transport == "udp":
            m = lab.udp_query(d.port, name, "A", wait)
        else:
            m = lab.tcp_query(d.port, name, "A", wait)
    except (OSError, ConnectionError, lab.ParseError):
        m = None
    return m, time.monotonic() - t0


def source(m):
    """Where an answer came from: doh, fallback, SERVFAIL or else."""
    if m is None:
        return "no answer"
    a = m.values("A")
    if m.rcode == 0 and a == [GOOD_A]:
        return "doh"
    if m.rcode == 0 and a == [lab.SINK_A]:
        return "fallback"
    if m.rcode == 2 and not m.answer:
        return "SERVFAIL"
    return "%s %r" % (m.rcode_name, a)


def failing_source(mode):
    return "SERVFAIL" if mode == "encrypted-only" else "fallback"


def daemon_lines(d, pattern=r"warn|error|fail|GOAWAY|goaway|SERVFAIL",
                 n=6):
    lines = d.log_lines(pattern)
    return lines[-n:]


class Scenario:
    """One fault against one daemon in one mode: its own ports, Sink,
    faultsrv and daemon.  run() returns a one-line summary or raises
    AssertionError; notes collects what was measured."""

    def __init__(self, label, fault, mode, cert="good", extra=(),
                 timeout=TIMEOUT):
        self.label, self.fault, self.mode = label, fault, mode
        self.cert, self.extra, self.timeout = cert, list(extra), timeout
        self.name = "%s [%s]" % (label, mode)
        # ports and certificates are made here, in the main thread
        server_cert(cert)
        self.fport = lab.free_port(udp_too=False)
        self.dport = lab.free_port()
        self.sport = lab.free_port()
        self.sink = self.srv = self.d = None
        self.notes = []

    def setup(self):
        self.sink = lab.Sink(port=self.sport)
        self.srv = start_faultsrv(self.fault, self.fport, self.cert,
                                  self.extra)
        self.d = lab.Dohstub(settings(self.mode, self.fport, self.sink,
                                      self.timeout),
                             name="dohstub-%s-%s" % (
                                 self.label.replace(" ", "_").replace(
                                     "/", "_"), self.mode[10:]),
                             port=self.dport, args=["-v"]).start()
        # the daemon connects at start-up: let that attempt be under way
        self.srv.wait_event("conn", timeout=5 * lab.SLOW)

    def teardown(self):
        for f in (lambda: self.d and self.d.kill(),
                  lambda: self.srv and self.srv.stop(),
                  lambda: self.sink and self.sink.close()):
            try:
                f()
            except Exception:
                pass

    def fail(self, msg):
        lines = daemon_lines(self.d) if self.d else []
        raise AssertionError(msg + "".join("\n    daemon: " + l
                                           for l in lines))

    def expect(self, m, took, want, bound, what):
        """The answer m (after took s) must come from one of want, within
        bound s."""
        src = source(m)
        if src not in want:
            self.fail("%s: %s after %.2fs, want %s" % (
                what, src, took, " or ".join(want)))
        if took > bound:
            self.fail("%s: %s took %.2fs, bound %.2fs" % (what, src, took,
                                                         bound))
        return src

    def no_plaintext(self, when):
        if self.mode != "encrypted-only":
            return
        time.sleep(0.3)	# let anything late arrive
        if self.sink.total:
            self.fail("%s: encrypted-only sent plain DNS: the sink got %d "
                      "datagrams, %d TCP connections (%r)" % (
                          when, self.sink.datagrams,
                          self.sink.tcp_connections, self.sink.names[:3]))

    def recover(self):
        """Replace faultsrv by a good one on the same port; DoH must
        answer again within RECOVER_S, and every answer meanwhile must
        follow the mode's rule."""
        rc = self.srv.stop()
        self.fault_events = self.srv.events()
        if rc != 0:
            raise lab.LabError("faultsrv (%s) exited %s: %s" % (
                self.fault, rc, self.srv.stderr()[-500:]))
        self.srv = start_faultsrv("none", self.fport)
        t0 = time.monotonic()
        n = 0
        while True:
            m, took = ask(self.d, lab.unique_name("back"))
            n += 1
            src = source(m)
            if src == "doh":
                break
            if src != failing_source(self.mode):
                self.fail("after the fault, while recovering: %s" % src)
            if time.monotonic() - t0 > RECOVER_S:
                self.fail("no DoH answer %.1fs after a good server took "
                          "over the port (%d queries)" % (RECOVER_S, n))
            time.sleep(0.2)
        self.notes.append("DoH again after %.1fs" % (time.monotonic() - t0))
        m, took = ask(self.d, lab.unique_name("again"), "tcp")
        self.expect(m, took, ("doh",), FAST, "after recovery, over TCP")

    def finish(self):
        """Peak memory, then a clean exit."""
        self.no_plaintext("at the end")
        hwm = vm_kib(self.d.pid, "VmHWM")
        bound = RSS_BOUND_ASAN_KIB if is_asan(self.d.pid) else RSS_BOUND_KIB
        self.notes.append("VmHWM %d KiB" % hwm)
        self.hwm = hwm
        if not lab.VALGRIND and not 0 < hwm < bound:
            self.fail("peak RSS (VmHWM) %d KiB, bound %d KiB" % (hwm,
                                                                 bound))
        self.d.stop(within=2.0)

    def run(self, body):
        try:
            self.setup()
            body(self)
            self.finish()
            return ", ".join(self.notes)
        finally:
            self.teardown()


def run_all(scenarios):
    """Run (Scenario, body) pairs in parallel; print one line each;
    raise if any failed, naming every failure."""
    failed = []
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
        futs = [(s, ex.submit(s.run, body)) for s, body in scenarios]
        for s, f in futs:
            try:
                summary = f.result()
                print("  ok   %s: %s" % (s.name, summary), flush=True)
            except Exception as e:
                text = str(e) if isinstance(e, AssertionError) else \
                    "%s: %s" % (type(e).__name__, e)
                print("  FAIL %s: %s" % (s.name, text.replace(
                    "\n", "\n        ")), flush=True)
                if s.d is not None:
                    print("        daemon log: %s" % s.d.log, flush=True)
                failed.append(s.name)
    # more than one line: the runner then leaves out the daemons' logs
    check(not failed, "%d of %d scenarios failed (FAIL lines above):\n%s"
          % (len(failed), len(scenarios), "\n".join(failed)))


# ------------------------------------------------------------ the rule

# what the server does wrong, and when the failure may be seen
PROMPT = "prompt"	# the server says no at once: SERVFAIL < FAST
STALLED = "stalled"	# only the timeout ends the query: < LATE
TOLERABLE = "tolerable"	# the daemon may also answer through DoH


def fails_per_mode(kind, cert_check=False, evidence=None, queries=3):
    """The body for a fault that must fail in the mode's way.  evidence,
    (event, key, value) or (event,), must be in faultsrv's log: the fault
    was carried out."""
    def body(s):
        bound = FAST if kind == PROMPT else LATE
        want = (failing_source(s.mode),)
        if kind == TOLERABLE:
            want += ("doh",)
        seen = []
        for i in range(queries):
            tr = "tcp" if i == queries - 1 else "udp"
            m, took = ask(s.d, lab.unique_name("f%d" % i), tr)
            seen.append("%s %.2fs" % (s.expect(m, took, want, bound,
                                               "query %d (%s)" % (i, tr)),
                                      took))
        s.notes.append("; ".join(seen))
        s.no_plaintext("during the fault")
        if cert_check:
            no_app_bytes(s)
        s.recover()
        if cert_check:
            check_app_bytes(s, s.fault_events)
        if evidence:
            check_evidence(s, s.fault_events, evidence)
    return body


def check_evidence(s, events, evidence):
    name, kv = evidence[0], evidence[1:]
    hits = [e for e in events if e.name == name and
            (not kv or e.get(kv[0]) == kv[1])]
    if not hits:
        s.fail("faultsrv never logged %s: the fault did not happen; "
               "its log:\n%s" % (" ".join(evidence), "\n".join(
                   e.line for e in events[:12])))


def no_app_bytes(s):
    """Certificate rejected: the handshake failed on every connection and
    no request reached the server."""
    reqs = s.srv.count("request")
    if reqs:
        s.fail("%d HTTP request(s) reached a server whose certificate "
               "failed the check" % reqs)


def check_app_bytes(s, events):
    conns = [e for e in events if e.name == "conn"]
    fails = [e for e in events if e.name == "tls-fail"]
    ok = [e for e in events if e.name == "tls-ok"]
    app = [e for e in events if e.name == "app-bytes"]
    if not conns or not fails:
        s.fail("the daemon never had its handshake fail (%d connections, "
               "%d tls-fail)" % (len(conns), len(fails)))
    if ok:
        s.fail("a handshake completed with a bad certificate: %s" %
               ok[0].line)
    if len(app) != len(conns):
        s.fail("app-bytes logged for %d of %d connections" % (len(app),
                                                              len(conns)))
    sent = [e for e in app if e.int("bytes") != 0]
    if sent:
        s.fail("application bytes read after a rejected certificate: %s" %
               sent[0].line)
    s.notes.append("%d connections, tls-fail %r, app-bytes all 0" % (
        len(conns), fails[0].get("reason")))


def make(specs, modes=MODES):
    out = []
    for spec in specs:
        label, fault, kind, evidence = spec[:4]
        opts = spec[4] if len(spec) > 4 else {}
        for mode in modes:
            s = Scenario(label, fault, mode, cert=opts.get("cert", "good"),
                         extra=opts.get("extra", ()))
            out.append((s, fails_per_mode(kind, opts.get("cert_check",
                                                          False),
                                          evidence)))
    return out


# ------------------------------------------------------------ the tests


@lab.timeout(60)
def test_connection_faults():
    """Refused, reset, a failed handshake, TLS 1.2 only (the daemon wants
    1.3), no ALPN h2.  With no-h2 the daemon must not speak HTTP/2 either
    (faultsrv logs close reason=h2-without-alpn if it did)."""
    def no_h2(s):
        fails_per_mode(PROMPT, evidence=("tls-ok", "alpn", "-"))(s)
        bad = [e for e in s.fault_events if
               (e.name == "close" and e.get("reason") == "h2-without-alpn")
               or (e.name == "app-bytes" and e.int("bytes") != 0)]
        if bad:
            s.fail("HTTP spoken although ALPN did not select h2: %s" %
                   bad[0].line)
        s.notes.append("no HTTP byte sent")

    sc = make([("refused", "refuse", PROMPT, ("close", "reason", "refuse")),
               ("reset", "reset", PROMPT, ("close", "reason", "reset")),
               ("tls-fail", "tls-fail", PROMPT, ("tls-fail",)),
               ("tls1.2-only", "tls12-only", PROMPT,
                ("tls-fail",))])
    for mode in MODES:
        sc.append((Scenario("alpn-no-h2", "no-h2", mode), no_h2))
    run_all(sc)


@lab.timeout(60)
def test_certificate_faults():
    dated_cert("expired")
    dated_cert("not-yet-valid")
    run_all(make([(k, "none", PROMPT, ("tls-fail",),
                   {"cert": k, "cert_check": True})
                  for k in ("wrong-name", "expired", "not-yet-valid",
                            "unknown-ca")]))


@lab.timeout(60)
def test_http_faults():
    run_all(make([
        ("status-301", "status:301", PROMPT, ("answer", "status", "301")),
        ("status-404", "status:404", PROMPT, ("answer", "status", "404")),
        ("status-503", "status:503", PROMPT, ("answer", "status", "503")),
        ("content-type", "ctype", PROMPT,
         ("answer", "ctype", "text/plain")),
        ("empty-body", "empty-body", PROMPT, ("answer", "len", "0")),
        ("body-70000", "huge-body:70000", PROMPT,
         ("answer", "len", "70000")),
        ("wrong-question", "wrong-question", PROMPT, ("answer",)),
        ("qr0", "qr0", PROMPT, ("answer",)),
        ("short-answer", "short-answer", PROMPT, ("answer",)),
        ("rst-stream", "rst-stream", PROMPT, ("rst-stream",))]))


@lab.timeout(60)
def test_stalls():
    """Only the timeout (1 s) can end these queries: SERVFAIL or the
    fallback answer must come before LATE."""
    run_all(make([
        ("stall-after-handshake", "stall-after-handshake", STALLED,
         ("stall",)),
        ("stall-mid-body", "stall-mid-body", STALLED, ("stall-mid-body",)),
        ("no-settings", "no-settings", STALLED, ("tls-ok",)),
        ("max-streams-0", "max-streams:0", STALLED, ("tls-ok",))]))


@lab.timeout(60)
def test_hostile_frames():
    """PUSH_PROMISE although push is off is a connection error (RFC 9113
    8.4): it must fail.  The floods and the 70000-byte header block may be
    refused or survived; the line says which."""
    run_all(make([
        ("push-promise", "push-promise", PROMPT, ("push-promise",)),
        ("continuation-flood", "continuation-flood", TOLERABLE,
         ("continuation-flood",)),
        ("ping-flood", "ping-flood", TOLERABLE, ("ping-flood",)),
        ("settings-flood", "settings-flood", TOLERABLE,
         ("settings-flood",)),
        ("huge-header", "huge-header", TOLERABLE, ("huge-header",))]))


def goaway_body(s):
    """goaway:2: the first request on each connection is answered, the
    second gets GOAWAY(last-stream-id = the first).  The daemon must send
    it again, once, on a new connection, where it is the first and is
    answered."""
    m, took = ask(s.d, lab.unique_name("first"))
    s.expect(m, took, ("doh",), FAST, "the query before the GOAWAY")
    name = lab.unique_name("goaway")
    m, took = ask(s.d, name)
    s.expect(m, took, ("doh",), FAST, "the query refused by the GOAWAY")
    ev = s.srv.events()
    ga = [e for e in ev if e.name == "goaway" and e.conn == 1]
    if not ga:
        s.fail("faultsrv sent no GOAWAY on connection 1")
    want = name.lower().rstrip(".") + "."
    on = sorted({e.conn for e in ev if e.name == "request" and
                 e.get("qname", "").lower() in (want, want[:-1])})
    if len(on) != 2 or on[0] != 1:
        s.fail("the refused query reached faultsrv on connections %r, "
               "want 1 and then a new one" % on)
    s.notes.append("GOAWAY last=%s on conn 1, sent again on conn %d, "
                   "answered in %.2fs" % (ga[0].get("last"), on[1], took))
    s.no_plaintext("after the GOAWAY")


def goaway_twice_body(s):
    """goaway:1: every connection refuses its first request with
    GOAWAY(last-stream-id 0).  The query is sent again once, refused
    again, and then fails by the mode's rule: it reaches faultsrv exactly
    twice."""
    name = lab.unique_name("twice")
    m, took = ask(s.d, name)
    src = s.expect(m, took, (failing_source(s.mode),), FAST,
                   "a query refused by GOAWAY on two connections")
    time.sleep(0.3)	# a third attempt would show by now
    want = name.lower().rstrip(".") + "."
    reqs = [e for e in s.srv.events("request")
            if e.get("qname", "").lower() in (want, want[:-1])]
    if len(reqs) != 2 or len({e.conn for e in reqs}) != 2:
        s.fail("the query reached faultsrv %d time(s) on connections %r, "
               "want twice on two" % (len(reqs), [e.conn for e in reqs]))
    s.notes.append("sent on connections %d and %d, then %s in %.2fs" % (
        reqs[0].conn, reqs[1].conn, src, took))
    s.no_plaintext("after the GOAWAYs")
    s.recover()


@lab.timeout(30)
def test_goaway_mid_stream():
    run_all([(Scenario("goaway", "goaway:2", mode), goaway_body)
             for mode in MODES] +
            [(Scenario("goaway-every-first", "goaway:1", mode),
              goaway_twice_body) for mode in MODES])


def max1_body(s):
    """max-streams:1: faultsrv holds each answer 100 ms, so 20 queries at
    once take 2 s; all are answered through the one connection, queued
    behind the limit."""
    s.srv.wait_event("tls-ok", timeout=3 * lab.SLOW)
    wires = [lab.make_query(lab.unique_name("m%d" % i), qid=3000 + i)
             for i in range(20)]
    t0 = time.monotonic()
    got = lab.udp_burst(s.d.port, wires, timeout=6.0)
    took = time.monotonic() - t0
    srcs = {}
    for m in got.values():
        srcs[source(m)] = srcs.get(source(m), 0) + 1
    if srcs != {"doh": 20}:
        s.fail("20 queries at once: %r within %.1fs, want 20 doh" % (
            srcs, took))
    conns = s.srv.count("conn")
    mc = max([e.int("n") for e in s.srv.events("max-concurrent")] or [0])
    reqs = s.srv.count("request")
    if conns != 1 or mc != 1:
        s.fail("%d connection(s), max concurrent streams %d; want 1 and 1"
               % (conns, mc))
    s.notes.append("20 answered in %.2fs over 1 connection, %d requests, "
                   "max concurrent 1" % (took, reqs))
    s.no_plaintext("queueing")


@lab.timeout(30)
def test_max_concurrent_streams_1():
    run_all([(Scenario("max-streams-1", "max-streams:1", mode,
                       timeout="5s"), max1_body) for mode in MODES])


def close_after_body(s):
    """close-after:2: two answers per connection, then the TCP connection
    is closed under the third request.  That one may fail (by the mode's
    rule) or be sent again; the daemon must reconnect and answer later
    queries (two of them, as each new connection is cut again after
    two)."""
    for i in range(2):
        m, took = ask(s.d, lab.unique_name("c%d" % i))
        s.expect(m, took, ("doh",), FAST, "request %d before the close" %
                 (i + 1))
    m, took = ask(s.d, lab.unique_name("cut"))
    third = s.expect(m, took, ("doh", failing_source(s.mode)), LATE,
                     "the request cut by the close")
    s.notes.append("cut request: %s in %.2fs" % (third, took))
    t0 = time.monotonic()
    seen = []
    while seen.count("doh") < 2:
        if time.monotonic() - t0 > RECOVER_S:
            s.fail("later queries not answered within %.1fs: %r" % (
                RECOVER_S, seen))
        m, took = ask(s.d, lab.unique_name("later"))
        seen.append(s.expect(m, took, ("doh", failing_source(s.mode)),
                             LATE, "a query after the close"))
    conns = s.srv.count("conn")
    if conns < 2:
        s.fail("%d connection(s) after the close, want a reconnect" %
               conns)
    s.notes.append("%d connections; later queries %s within %.2fs" % (
        conns, " ".join(seen), time.monotonic() - t0))
    s.no_plaintext("after the close")


@lab.timeout(30)
def test_close_after_n_requests():
    run_all([(Scenario("close-after-2", "close-after:2", mode),
              close_after_body) for mode in MODES])


@lab.timeout(40)
def test_stalled_first_upstream_fails_over():
    """Two upstreams; the first completes TLS and HTTP/2 (and acks PINGs)
    but answers no request: stalled, or MAX_CONCURRENT_STREAMS 0.  After
    at most one timeout it must be backed off, so that queries go to the
    second one, quickly, in encrypted-only mode; nothing leaves in
    plaintext."""
    for fault in ("stall-after-handshake", "max-streams:0"):
        bad = start_faultsrv(fault, 0)
        good = start_faultsrv("none", 0)
        sink = lab.Sink()
        d = None
        try:
            s = settings("encrypted-only", bad.port, sink)
            s["upstream"] = [s["upstream"],
                             "https://doh.test:%d/dns-query" % good.port]
            s["resolve"] = [s["resolve"], "doh.test:%d:127.0.0.1" %
                            good.port]
            d = lab.Dohstub(s, name="dohstub-failover").start()
            times, sources = [], []
            t_end = time.monotonic() + 6
            while time.monotonic() < t_end and len(times) < 12:
                m, took = ask(d, lab.unique_name("fo"))
                times.append(took)
                sources.append(source(m))
            tail = sources[-5:]
            check(tail == ["doh"] * 5 and all(t < 0.5 for t in times[-5:]),
                  "%s: the stalled first upstream was not given up on: "
                  "sources %r, times %s" % (fault, sources,
                                            ["%.2f" % t for t in times]))
            slow = [t for t in times if t >= TIMEOUT_S * 0.9]
            check(len(slow) <= 2, "%s: %d queries waited out the timeout "
                  "(%s)" % (fault, len(slow), ["%.2f" % t for t in times]))
            check(good.count("answer") >= 5, "%s: the second upstream "
                  "answered %d" % (fault, good.count("answer")))
            check(sink.datagrams == 0 and sink.tcp_connections == 0,
                  "%s: plaintext reached the sink" % fault)
        finally:
            if d is not None:
                d.stop()
            bad.stop()
            good.stop()
            sink.close()


def _goodbye(srv, what):
    """srv's one connection ended with the client's GOAWAY (NO_ERROR),
    without an error: faultsrv closes once HTTP/2 is done both ways
    (h2-done), or sees the client's close_notify (an EOF, no detail)."""
    ev = srv.wait_event("close", timeout=5 * lab.SLOW)
    goaways = srv.events("client-goaway")
    check(len(goaways) == 1 and goaways[0]["code"] == "NO_ERROR",
          "%s: client GOAWAY %r" % (what, [g.line for g in goaways]))
    check(ev["reason"] in ("h2-done", "eof") and "detail" not in ev.kv,
          "%s: the connection did not end cleanly: %s" % (what, ev.line))


@lab.timeout(30)
def test_goodbye_on_shutdown_and_reload():
    """A connection the daemon closes itself ends with GOAWAY (NO_ERROR)
    (RFC 9113 6.8): when a reload replaced its upstream and its queries
    were answered, and at SIGTERM."""
    a = start_faultsrv("none", 0)
    b = start_faultsrv("none", 0)
    d = None
    conf = os.path.join(lab.tmpdir(), "goodbye.conf")

    def use(srv):
        lab.write_file(conf, "\n".join([
            "mode encrypted-only",
            "upstream https://doh.test:%d/dns-query" % srv.port,
            "resolve doh.test:%d:127.0.0.1" % srv.port,
            "ca-file %s" % lab.certs().ca_pem, ""]))
    try:
        use(a)
        d = lab.Dohstub({}, name="dohstub-goodbye", config=conf,
                        args=["-v"]).start()
        m, _ = ask(d, lab.unique_name("bye"))
        check(source(m) == "doh", "before the reload: %s" % source(m))
        use(b)
        since = d.log_count()
        os.kill(d.pid, signal.SIGHUP)
        d.wait_log("configuration reloaded", 5, since=since)
        m, _ = ask(d, lab.unique_name("bye"))
        check(source(m) == "doh" and b.count("answer") == 1,
              "after the reload: %s" % source(m))
        _goodbye(a, "replaced by a reload")
        d.stop()
        d = None
        _goodbye(b, "SIGTERM")
    finally:
        if d is not None:
            d.kill()
        a.stop()
        b.stop()


if __name__ == "__main__":
    lab.main(globals())
