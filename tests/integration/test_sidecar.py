#!/usr/bin/python3
"""The sidecar: configuration from the environment alone, /health that
follows the upstream, /metrics in Prometheus text format whose counters
move with the traffic, and JSON logs.  The metrics are read the way
Prometheus reads them: every line parsed, nothing taken on trust."""

from http import client as httpc
import json
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

# ---------------------------------------------------------------- HTTP


def fetch(port, path, method="GET", body=None, timeout=3.0):
    """(status, {header: value} in lower case, body text)."""
    c = httpc.HTTPConnection("127.0.0.1", port,
                                   timeout=timeout * lab.SLOW)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        return (r.status, {k.lower(): v for k, v in r.getheaders()},
                data.decode("utf-8"))
    finally:
        c.close()


# ---------------------------------------------------------------- Prometheus

NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME_RE)
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"'
                      r'\s*(,|$)')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _unescape(v):
    out, i = "", 0
    while i < len(v):
        if v[i] == "\\":
            nxt = v[i + 1]
            out += {"n": "\n", "\\": "\\", '"': '"'}[nxt]
            i += 2
        else:
            out += v[i]
            i += 1
    return out


def _labels(text, line):
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        check(m is not None, "bad labels in %r" % line)
        check(m.group(1) not in out, "label repeated in %r" % line)
        out[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return out


def _family(name, types):
    """The family a sample belongs to (histogram suffixes stripped)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


class Metrics:
    """A parsed /metrics page: text format 0.0.4, checked line by line."""

    def __init__(self, text):
        self.text = text
        self.samples = {}	# (name, frozenset(labels)) -> float
        self.types, self.helps = {}, {}
        check(text.endswith("\n"), "the page does not end with a newline")
        for line in text.split("\n")[:-1]:
            check(line.strip() != "", "empty line in /metrics")
            if line.startswith("#"):
                p = line.split(" ", 3)
                if len(p) >= 3 and p[1] in ("HELP", "TYPE"):
                    check(re.fullmatch(NAME_RE, p[2]), "bad name %r" % line)
                    check(len(p) == 4 and p[3], "empty %s: %r" % (p[1], line))
                    d = self.types if p[1] == "TYPE" else self.helps
                    check(p[2] not in d, "second %s for %s" % (p[1], p[2]))
                    if p[1] == "TYPE":
                        check(p[3] in TYPES, "bad type %r" % line)
                        # TYPE before any sample of the family
                        check(not any(_family(n, {p[2]: p[3]}) == p[2]
                                      for n, _ in self.samples),
                              "TYPE after samples: %r" % line)
                    d[p[2]] = p[3]
                continue
            m = SAMPLE_RE.match(line)
            check(m is not None, "not `name{labels} value`: %r" % line)
            name, labels = m.group(1), _labels(m.group(2) or "", line)
            value = float(m.group(3))	# also +Inf, NaN
            key = (name, frozenset(labels.items()))
            check(key not in self.samples, "sample repeated: %r" % line)
            fam = _family(name, self.types)
            check(fam in self.types and fam in self.helps,
                  "no HELP and TYPE for %s" % name)
            if self.types[fam] == "counter":
                check(name.endswith("_total"), "counter %s without "
                      "_total" % name)
            check(name.startswith("dohstub_"), "%s not dohstub_" % name)
            self.samples[key] = value

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        check(key in self.samples, "no sample %s%r in:\n%s" % (
            name, labels, self.text))
        return self.samples[key]

    def all(self, name):
        """{frozenset(labels): value} of every sample of name."""
        return {k[1]: v for k, v in self.samples.items() if k[0] == name}

    def histogram(self, name):
        """[(le, cumulative count)] in page order, sum, count."""
        buckets = []
        for line in self.text.splitlines():
            m = SAMPLE_RE.match(line)
            if m and m.group(1) == name + "_bucket":
                le = _labels(m.group(2), line)["le"]
                buckets.append((float(le), float(m.group(3))))
        return buckets, self.get(name + "_sum"), self.get(name + "_count")


def scrape(port):
    st, hdr, body = fetch(port, "/metrics")
    check(st == 200, "/metrics: %d %r" % (st, body[:200]))
    check(hdr.get("content-type", "").startswith(
        "text/plain; version=0.0.4"), "content type %r" %
        hdr.get("content-type"))
    return Metrics(body)


# ---------------------------------------------------------------- lab

U = None	# one unbound for the suite; some tests stop and restart it


def setup_module():
    global U
    U = lab.Unbound("unbound-sidecar").start()


def teardown_module():
    if U is not None:
        U.stop()


def _ensure_unbound():
    if not U.running():
        U.start()


def _settings(mode="encrypted-only", sink=None, **extra):
    s = {"mode": mode, "upstream": U.url, "resolve": U.resolve,
         "ca-file": lab.certs().ca_pem}
    if sink is not None:
        s["fallback"] = sink.addr
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def _daemon(name, mode="encrypted-only", sink=None, **extra):
    mport = lab.free_port(udp_too=False)
    d = lab.Dohstub(_settings(mode, sink, metrics="127.0.0.1:%d" % mport,
                              **extra), name=name)
    d.mport = mport
    d.start()
    _wait_listening(mport)
    return d


def _wait_listening(port):
    """start() returns once the DNS ports are bound; the metrics endpoint
    opens just after."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    wait_for_value(up, 5, "the metrics port to open")


def _health(d):
    return fetch(d.mport, "/health")


def _wait_health(d, code, kick=False, timeout=10):
    """Until /health answers code; with kick, a query on every poll so an
    idle upstream connection gets made."""
    def ok():
        if kick:
            lab.udp_query(d.port, lab.unique_name("kick"), timeout=0.3)
        st, _, body = _health(d)
        return (st, body) if st == code else None
    return wait_for_value(ok, timeout, "/health %d" % code)


def wait_for_value(pred, timeout, what, interval=0.1):
    return lab.wait_for(pred, timeout * lab.SLOW, interval=interval,
                        what=what)


# ---------------------------------------------------------------- tests


@lab.timeout(30)
def test_environment_only():
    """-c /dev/null and DOHSTUB_* alone: no flag on the command line."""
    mport = lab.free_port(udp_too=False)
    port = lab.free_port()
    env = {"DOHSTUB_LISTEN": "127.0.0.1:%d" % port,
           "DOHSTUB_MODE": "encrypted-only",
           "DOHSTUB_UPSTREAM": U.url,
           "DOHSTUB_RESOLVE": U.resolve,
           "DOHSTUB_CA_FILE": lab.certs().ca_pem,
           "DOHSTUB_DNSSEC": "process",	# the lab's zones are unsigned
           "DOHSTUB_METRICS": "127.0.0.1:%d" % mport,
           "DOHSTUB_LOG_FORMAT": "json"}
    d = lab.Dohstub(port=port, env=env, name="dohstub-env", cache=True)
    del d.settings["listen"]	# Dohstub adds --listen by default
    argv = d.argv()
    argv = argv[argv.index(lab.daemon_bin()) + 1:]	# past any valgrind
    check(argv == ["-d", "-c", "/dev/null"],
          "more than -c /dev/null on the command line: %r" % argv)
    d.start()
    _wait_listening(mport)
    m = d.udp("www.lab.test")
    check(m.rcode == 0 and m.values("A") == [lab.WWW_A], "UDP: %r" % m)
    m = d.tcp("alias.lab.test")
    check(m.rcode == 0 and lab.WWW_A in m.values("A"), "TCP: %r" % m)
    st, _, body = fetch(mport, "/health")
    check(st == 200 and body.startswith("ok\nupstream "),
          "/health %d %r" % (st, body))
    ms = scrape(mport)
    check(ms.get("dohstub_answers_total", path="doh") == 2,
          "answers %r" % ms.all("dohstub_answers_total"))
    stats = d.stop()
    check(stats.get("answered_doh") == 2, "stats %r" % stats)
    for line in d.log_text().splitlines():
        check(line.startswith("{"), "not JSON: %r" % line)


@lab.timeout(40)
def test_health_follows_upstream():
    _ensure_unbound()
    d = _daemon("dohstub-health")
    st, body = _wait_health(d, 200, kick=True)
    check(body.startswith("ok\nupstream ") and U.url in body and
          "answers" in body and "dead connections" in body,
          "healthy body %r" % body)
    st, hdr, head = fetch(d.mport, "/health", "HEAD")
    # The length of the GET's body (the counters may have moved by
    # a digit or so: the first line is what a probe reads).
    check(st == 200 and head == "" and
          abs(int(hdr.get("content-length", "0")) - len(body)) <= 4,
          "HEAD /health: %d %r %r" % (st, hdr, head))

    U.stop()
    st, body = _wait_health(d, 503, kick=True)
    check(body.startswith("no DoH upstream connected: answering SERVFAIL"),
          "503 without the reason: %r" % body)
    check(U.url in body, "503 does not name the upstream: %r" % body)
    ms = scrape(d.mport)
    check(ms.get("dohstub_upstream_up", url=U.url) == 0, "still up")
    check(ms.get("dohstub_healthy") == 0, "dohstub_healthy not 0")

    U.start()
    st, body = _wait_health(d, 200, kick=True, timeout=15)
    check(body.startswith("ok\nupstream ") and "TLS handshake" not in body,
          "after restart: %r" % body)
    ms = scrape(d.mport)
    check(ms.get("dohstub_upstream_up", url=U.url) == 1, "not up again")
    check(ms.get("dohstub_healthy") == 1, "dohstub_healthy not 1")
    d.stop()


def _nxdomain_name():
    return "nx-%x.nowhere.lab.test" % os.getpid()


@lab.timeout(40)
def test_counters_move_with_traffic():
    _ensure_unbound()
    d = _daemon("dohstub-counters")
    m0 = scrape(d.mport)
    for k, v in m0.samples.items():
        if k[0].endswith("_total") or k[0].endswith("_count"):
            check(v == 0, "%s%r is %g before any query" % (
                k[0], dict(k[1]), v))

    N, M = 7, 4
    for i in range(N - 1):
        m = d.udp(lab.unique_name("udp"))
        check(m.values("A") == [lab.WILD_ADDR], "UDP %d: %r" % (i, m))
    m = d.udp(_nxdomain_name())
    check(m.rcode == 3, "want NXDOMAIN: %r" % m)
    for i in range(M):
        m = d.tcp(lab.unique_name("tcp"))
        check(m.values("A") == [lab.WILD_ADDR], "TCP %d: %r" % (i, m))
    # one query dohstub answers itself (a non-zero opcode)
    m = lab.udp_exchange(d.port, lab.make_query("www.lab.test", opcode=2))
    check(m is not None and m.rcode in (1, 4), "opcode 2: %r" % m)
    local_rcode = m.rcode_name

    ms = scrape(d.mport)
    g = ms.get
    check(g("dohstub_queries_total", transport="udp") == N + 1,
          "udp queries %g, want %d" % (
              g("dohstub_queries_total", transport="udp"), N + 1))
    check(g("dohstub_queries_total", transport="tcp") == M,
          "tcp queries %g, want %d" % (
              g("dohstub_queries_total", transport="tcp"), M))
    check(g("dohstub_answers_total", path="doh") == N + M,
          "doh answers %g" % g("dohstub_answers_total", path="doh"))
    check(g("dohstub_answers_total", path="fallback") == 0, "fallback")
    check(g("dohstub_answers_total", path="local") == 1,
          "local answers %g" % g("dohstub_answers_total", path="local"))
    check(g("dohstub_responses_total", rcode="NXDOMAIN") == 1,
          "NXDOMAIN %g" % g("dohstub_responses_total", rcode="NXDOMAIN"))
    check(g("dohstub_responses_total", rcode="NOERROR") == N + M - 1,
          "NOERROR %g" % g("dohstub_responses_total", rcode="NOERROR"))
    check(g("dohstub_responses_total", rcode=local_rcode) == 1,
          "%s %g" % (local_rcode, g("dohstub_responses_total",
                                    rcode=local_rcode)))
    check(sum(ms.all("dohstub_responses_total").values()) == N + M + 1,
          "responses %r" % ms.all("dohstub_responses_total"))
    # the header's 16, and BADVERS (extended) that dohstub makes itself
    check(len(ms.all("dohstub_responses_total")) == 17, "not every rcode")

    buckets, hsum, hcount = ms.histogram("dohstub_upstream_latency_seconds")
    check(hcount == N + M, "histogram count %g, want %d" % (hcount, N + M))
    les = [le for le, _ in buckets]
    check(les == sorted(les) and les[-1] == float("inf") and
          les[0] == 0.001, "le bounds %r" % les)
    counts = [c for _, c in buckets]
    check(all(a <= b for a, b in zip(counts, counts[1:])),
          "buckets not cumulative: %r" % buckets)
    check(counts[-1] == hcount, "+Inf %g != count %g" % (counts[-1], hcount))
    # the sum lies within what the buckets allow
    lo = hi = 0.0
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c > prev_c:
            lo += (c - prev_c) * prev_le
            hi += (c - prev_c) * le
        prev_le, prev_c = le, c
    check(lo <= hsum <= hi, "sum %g s outside [%g, %g] for %r" % (
        hsum, lo, hi, buckets))

    check(g("dohstub_upstream_up", url=U.url) == 1, "upstream not up")
    check(g("dohstub_upstream_pending", url=U.url) == 0, "pending")
    check(g("dohstub_pending_queries") == 0, "pending queries")
    check(sum(ms.all("dohstub_upstream_errors_total").values()) == 0,
          "errors %r" % ms.all("dohstub_upstream_errors_total"))
    kinds = {dict(k)["kind"] for k in ms.all("dohstub_upstream_errors_total")}
    check({"connect", "tls", "http-status", "timeout", "mismatch"} <= kinds,
          "error kinds %r" % sorted(kinds))

    # an open TCP client shows, and goes when it closes
    s = socket.create_connection(("127.0.0.1", d.port))
    try:
        wait_for_value(lambda: scrape(d.mport).get(
            "dohstub_tcp_connections") == 1, 3, "tcp_connections 1")
    finally:
        s.close()
    wait_for_value(lambda: scrape(d.mport).get(
        "dohstub_tcp_connections") == 0, 3, "tcp_connections 0")

    # the upstream dies with a query in flight: that query's error is
    # counted by kind (later ones fail fast, before any DoH attempt)
    U.pause()
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        q.connect(("127.0.0.1", d.port))
        q.send(lab.make_query(lab.unique_name("inflight"), qid=4242))
        wait_for_value(lambda: scrape(d.mport).get(
            "dohstub_upstream_pending", url=U.url) == 1, 3,
            "the query to be in flight", interval=0.01)
        U.kill()
        q.settimeout(4 * lab.SLOW)
        m = lab.Message(q.recv(65535))
        check(m.id == 4242 and m.rcode == 2, "in flight: %r" % m)
    finally:
        q.close()
    ms = scrape(d.mport)
    errs = {dict(k)["kind"]: v for k, v in
            ms.all("dohstub_upstream_errors_total").items()}
    check(sum(errs.values()) == 1 and
          errs["connect"] + errs["reset"] + errs["protocol"] == 1,
          "errors after the upstream died: %r" % errs)
    check(ms.get("dohstub_upstream_up", url=U.url) == 0, "still up")
    check(ms.get("dohstub_answers_total", path="local") == 1 + 1,
          "local answers %g" % ms.get("dohstub_answers_total",
                                      path="local"))
    check(ms.get("dohstub_responses_total", rcode="SERVFAIL") == 1,
          "SERVFAIL %g" % ms.get("dohstub_responses_total", rcode="SERVFAIL"))
    check(ms.get("dohstub_queries_total", transport="udp") == N + 2,
          "udp queries")
    check(ms.get("dohstub_upstream_latency_seconds_count") == N + M,
          "a failure counted in the latency histogram")
    st = d.stop()
    check(st.get("queries_udp") == N + 2 and
          st.get("answered_doh") == N + M, "stats %r" % st)


@lab.timeout(40)
def test_fallback_activations():
    _ensure_unbound()
    sink = lab.Sink()
    try:
        d = _daemon("dohstub-fallback", "encrypted-preferred", sink)
        _wait_health(d, 200, kick=True)
        check(scrape(d.mport).get("dohstub_fallback_activations_total") == 0,
              "fallback active while DoH works")
        U.stop()
        # until a fallback answer comes back (DoH seen to be down)
        wait_for_value(lambda: d.udp(lab.unique_name("fb")).values("A") ==
                       [lab.SINK_A], 10, "a fallback answer")
        ms = scrape(d.mport)
        check(ms.get("dohstub_fallback_activations_total") >= 1,
              "activations %g" % ms.get("dohstub_fallback_activations_total"))
        check(ms.get("dohstub_answers_total", path="fallback") >= 1,
              "fallback answers")
        st, _, body = _health(d)
        check(st == 503 and body.startswith(
            "no DoH upstream connected: answering over plain DNS"),
            "health %d %r" % (st, body))
        d.stop()
    finally:
        sink.close()
        _ensure_unbound()


@lab.timeout(20)
def test_http_errors():
    _ensure_unbound()
    d = _daemon("dohstub-http")
    st, _, _ = fetch(d.mport, "/nope")
    check(st == 404, "/nope: %d" % st)
    st, _, _ = fetch(d.mport, "/")
    check(st == 404, "/: %d" % st)
    st, _, _ = fetch(d.mport, "/metrics/x")
    check(st == 404, "/metrics/x: %d" % st)
    st, hdr, _ = fetch(d.mport, "/metrics", "POST", body="x=1")
    check(st == 405 and hdr.get("allow") == "GET, HEAD",
          "POST: %d %r" % (st, hdr))
    for method in ("PUT", "DELETE", "OPTIONS"):
        st, _, _ = fetch(d.mport, "/health", method)
        check(st == 405, "%s: %d" % (method, st))
    st, _, body = fetch(d.mport, "/metrics?name[]=x")
    check(st == 200 and "dohstub_queries_total" in body,
          "a query string: %d" % st)
    # HEAD: the headers of GET, no body, the connection still usable
    c = httpc.HTTPConnection("127.0.0.1", d.mport, timeout=3)
    try:
        c.request("HEAD", "/metrics")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"" and
              int(r.getheader("Content-Length")) > 1000, "HEAD /metrics")
        c.request("GET", "/health")
        r = c.getresponse()
        check(r.status in (200, 503) and r.read(), "GET after HEAD")
    finally:
        c.close()
    # a request larger than the endpoint accepts does not hurt it
    s = socket.create_connection(("127.0.0.1", d.mport))
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " +
                  b"a" * 20000 + b"\r\n\r\n")
        s.settimeout(3)
        reply = s.recv(100)
        check(reply == b"" or not reply.startswith(b"HTTP/1.1 200"),
              "a 20 KB header was served: %r" % reply)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    check(fetch(d.mport, "/health")[0] in (200, 503), "endpoint gone")
    d.stop()


@lab.timeout(20)
def test_metrics_port_taken():
    """A metrics address that cannot be bound stops the daemon at once."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        d = lab.Dohstub(_settings(metrics="127.0.0.1:%d" %
                                  taken.getsockname()[1]),
                        name="dohstub-taken")
        try:
            d.start()
        except AssertionError as e:
            check("cannot open the metrics endpoint" in str(e), str(e))
        else:
            # it may have bound the DNS ports just before giving up
            try:
                d.proc.wait(5 * lab.SLOW)
            except lab.subprocess.TimeoutExpired:
                d.kill()
                check(False, "still running with its metrics port taken")
            check(d.proc.returncode == 1, "exit %d" % d.proc.returncode)
            check(d.log_lines("cannot open the metrics endpoint"),
                  "no reason logged: %s" % d.log_tail())
            check(d.log_lines(r"metrics: cannot listen on 127\.0\.0\.1:"),
                  "no address logged: %s" % d.log_tail())
    finally:
        taken.close()
    r = lab.run_daemon(["-n", "--upstream", U.url, "--resolve", U.resolve,
                        "--metrics", "127.0.0.1"])
    check(r.returncode == 1 and "--metrics: \"127.0.0.1\": a port is "
          "required" in r.stderr, "no port: %d %r" % (r.returncode,
                                                      r.stderr))


TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@lab.timeout(30)
def test_json_logs():
    _ensure_unbound()
    d = _daemon("dohstub-json", log_format="json", log_level="debug")
    d.udp("www.lab.test")
    d.tcp(_nxdomain_name())
    # odd bytes in a name reach the debug log
    lab.udp_exchange(d.port, lab.make_query('a"b\\c\x01.w.lab.test'))
    lab.udp_exchange(d.port, b"\x00\x01garbage")
    d.stop()
    lines = d.log_text().splitlines()
    check(len(lines) >= 4, "only %d lines" % len(lines))
    levels = set()
    for line in lines:
        try:
            o = json.loads(line)
        except ValueError as e:
            raise AssertionError("not JSON (%s): %r" % (e, line))
        check(isinstance(o, dict) and sorted(o) == ["level", "msg", "ts"],
              "keys %r" % line)
        check(TS_RE.match(o["ts"]), "ts %r" % o["ts"])
        check(o["level"] in ("error", "warn", "info", "debug"),
              "level %r" % o["level"])
        check(o["msg"] and "\n" not in o["msg"], "msg %r" % o["msg"])
        levels.add(o["level"])
    check({"info", "debug"} <= levels, "levels %r" % levels)
    check(any(json.loads(l)["msg"].startswith("stats: ") for l in lines),
          "no stats line")


if __name__ == "__main__":
    lab.main(globals())
