"""
selftest: check every faultsrv fault against a real TLS client.

    python3 tests/faultsrv/selftest.py [test_name ...]

FAULTSRV_BIN picks the binary (default: build-fault/faultsrv).  Most checks
use a small HTTP/2 client written here on Python's ssl module, which sees
every frame; kdig and curl, when installed, check what a real DoH client
makes of it.  After each test faultsrv must exit 0 with nothing on stderr,
so an ASan/UBSan build is checked too.  Prints "PASS name" / "FAIL name:
reason" / "SKIP name: reason"; exit status 1 if any failed.
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import lab  # noqa: E402  (certificates and DNS wire helpers)
from faultsrv import FaultServer, default_bin  # noqa: E402

ADDR, TTL = "192.0.2.42", 60
QNAME = "www.lab.test"

DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 5, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------- client


def hpack_int(first, n, v):
    m = (1 << n) - 1
    if v < m:
        return bytes([first | v])
    out = [first | m]
    v -= m
    while v >= 128:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    return bytes(out + [v])


def hpack_lit(name, value):
    """Literal without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(0, 7, len(n)) + n + hpack_int(0, 7, len(v)) \
        + v


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + \
        struct.pack(">BBI", ftype, flags, sid) + payload


class Frame:
    def __init__(self, ftype, flags, sid, payload, t):
        self.type, self.flags, self.sid = ftype, flags, sid
        self.payload, self.t = payload, t

    def __repr__(self):
        return "Frame(type=%d flags=%#x sid=%d len=%d)" % (
            self.type, self.flags, self.sid, len(self.payload))


class H2:
    """Just enough HTTP/2 over TLS to see every frame faultsrv sends.
    Headers are not decoded (nghttp2's HPACK uses Huffman and the dynamic
    table); DATA is."""

    def __init__(self, port, ca, alpn=("h2",), min_version=None,
                 timeout=3.0):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(list(alpn))
        # Python 3.10+ with OpenSSL 3 takes an EOF without close_notify
        # for a clean close unless told not to.
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        if min_version is not None:
            ctx.minimum_version = min_version
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            self.s = ctx.wrap_socket(raw, server_hostname="doh.test",
                                     suppress_ragged_eofs=False)
        except BaseException:
            raw.close()
            raise
        self.buf = b""
        self.frames = []
        self.closed = None	# "close_notify", "abrupt" or "reset"
        self.t0 = time.monotonic()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def start(self, window=1 << 20):
        """Preface, SETTINGS (no push, a big window) and a connection
        WINDOW_UPDATE, so huge bodies flow."""
        settings = struct.pack(">HIHI", 2, 0, 4, window)
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings) +
                       frame(WINDOW_UPDATE, 0, 0,
                             struct.pack(">I", window)))

    def request(self, sid, wire, method="POST", path="/dns-query"):
        if method == "GET":
            import base64
            path += "?dns=" + base64.urlsafe_b64encode(wire).decode() \
                .rstrip("=")
        block = (hpack_lit(":method", method) + hpack_lit(":scheme", "https")
                 + hpack_lit(":authority", "doh.test")
                 + hpack_lit(":path", path)
                 + hpack_lit("accept", "application/dns-message"))
        if method == "POST":
            block += hpack_lit("content-type", "application/dns-message")
            self.s.sendall(frame(HEADERS, END_HEADERS, sid, block) +
                           frame(DATA, END_STREAM, sid, wire))
        else:
            self.s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid,
                                 block))

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.s.settimeout(left)
        try:
            chunk = self.s.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLEOFError:
            self.closed = "abrupt"
            return False
        except ssl.SSLError as e:
            if "UNEXPECTED_EOF" not in str(e):
                raise
            self.closed = "abrupt"
            return False
        except ConnectionResetError:
            self.closed = "reset"
            return False
        if not chunk:
            self.closed = "close_notify"
            return False
        self.buf += chunk
        return True

    def next_frame(self, timeout=2.0):
        """The next frame, or None on timeout or close (see .closed)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    ftype, flags, sid = struct.unpack(">BBI",
                                                      self.buf[3:9])
                    f = Frame(ftype, flags, sid & 0x7fffffff,
                              self.buf[9:9 + n], time.monotonic() - self.t0)
                    self.buf = self.buf[9 + n:]
                    self.frames.append(f)
                    if ftype == SETTINGS and not flags & ACK:
                        self.s.sendall(frame(SETTINGS, ACK, 0))
                    return f
            if self.closed or not self._fill(deadline):
                return None

    def until(self, pred, timeout=2.0):
        """Read frames until pred(frame); that frame, or None."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.next_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return None
            if pred(f):
                return f

    def drain(self, timeout):
        """Read until timeout or close; the frames read."""
        n = len(self.frames)
        while self.next_frame(timeout) is not None:
            pass
        return self.frames[n:]

    def answer(self, sid, timeout=2.0):
        """DATA of stream sid up to END_STREAM, or None."""
        f = self.until(lambda f: f.sid == sid and f.flags & END_STREAM and
                       f.type in (DATA, HEADERS), timeout)
        if f is None:
            return None
        return b"".join(x.payload for x in self.frames
                        if x.type == DATA and x.sid == sid)

    def first(self, ftype, timeout=2.0):
        """The first frame of ftype, read already or still to come."""
        got = self.of(ftype)
        return got[0] if got else self.until(lambda f: f.type == ftype,
                                             timeout)

    def of(self, ftype, sid=None):
        return [f for f in self.frames if f.type == ftype and
                (sid is None or f.sid == sid)]


# ---------------------------------------------------------------- helpers

CERTS = None


def certs():
    global CERTS
    if CERTS is None:
        CERTS = lab.Certs(os.path.join(tempfile.mkdtemp(prefix="fs-pki-"),
                                       "pki"))
    return CERTS


def query():
    return lab.make_query(QNAME, qid=0, edns=None)


class Server(FaultServer):
    """FaultServer with the lab's certificate; on exit it must have
    exited 0 with an empty stderr (ASan, UBSan)."""

    def __init__(self, fault="none", extra=(), cert=None, key=None):
        c = certs()
        super().__init__(default_bin(), cert or c.server_chain,
                         key or c.server_key, fault, extra)

    def client(self, **kw):
        return H2(self.port, certs().ca_pem, **kw)

    def __exit__(self, etype, *rest):
        rc = self.stop()
        if etype is None:
            check(rc == 0, "faultsrv exited %s: %s" % (rc, self.stderr()))
            check(self.stderr() == "", "faultsrv stderr: " + self.stderr())
        return False


def check_answer(wire, name=QNAME + "."):
    check(wire is not None, "no answer")
    m = lab.parse(wire)
    check(m.qr and m.rcode == 0, "bad header: %r" % m)
    check(m.question[0][0].lower() == name, "question %r" % (m.question,))
    check(m.values("A") == [ADDR], "answer %r" % m.answer)
    check(m.answer[0].ttl == TTL, "TTL %d" % m.answer[0].ttl)
    qend = 12 + len(lab.encode_name(name)) + 4
    check(wire[qend:qend + 2] == b"\xc0\x0c", "no compression pointer")
    return m


def have(tool):
    if shutil.which(tool) is None:
        raise Skip(tool + " not installed")


def kdig(port, *extra):
    c = certs()
    return subprocess.run(
        ["kdig", "+https", "@127.0.0.1", "-p", str(port),
         "+tls-ca=" + c.ca_pem, "+tls-hostname=doh.test", "+timeout=2",
         "+retry=0", QNAME, "A"] + list(extra),
        capture_output=True, text=True, timeout=20)


def curl(port, *extra, path="/dns-query", post=True):
    """curl the server; returns (http_code, content_type, body)."""
    c = certs()
    with tempfile.TemporaryDirectory() as d:
        qf, out = os.path.join(d, "q"), os.path.join(d, "out")
        with open(qf, "wb") as f:
            f.write(query())
        argv = ["curl", "-sS", "--http2", "--max-time", "3", "--cacert",
                c.ca_pem, "--resolve", "doh.test:%d:127.0.0.1" % port,
                "-o", out, "-w", "%{http_code} %{content_type}"]
        if post:
            argv += ["-H", "content-type: application/dns-message",
                     "--data-binary", "@" + qf]
        r = subprocess.run(argv + list(extra) +
                           ["https://doh.test:%d%s" % (port, path)],
                           capture_output=True, text=True, timeout=20)
        body = open(out, "rb").read() if os.path.exists(out) else b""
    code, _, ctype = r.stdout.partition(" ")
    return int(code or 0), ctype, body


def wait_close(srv, conn=1):
    return srv.wait_event("close", lambda e: e.conn == conn)


# ---------------------------------------------------------------- tests


def test_none():
    with Server() as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        h.request(3, query(), method="GET")
        check_answer(h.answer(3))
        sets = [f for f in h.of(SETTINGS) if not f.flags & ACK]
        check(sets and struct.pack(">HI", 3, 100) in sets[0].payload,
              "no MAX_CONCURRENT_STREAMS 100")
        h.close()
        reqs = srv.events("request")
        check([(e["method"], e["path"].split("?")[0]) for e in reqs] ==
              [("POST", "/dns-query"), ("GET", "/dns-query")],
              "requests %r" % reqs)
        check(reqs[0]["qname"] == QNAME + "." and reqs[0]["qtype"] == "1",
              "qname/qtype %r" % reqs[0])
        check(srv.count("answer") == 2, "answers")
        ev = srv.wait_event("tls-ok")
        check(ev["alpn"] == "h2" and ev["sni"] == "doh.test", repr(ev))
        wait_close(srv)
        check(srv.events("app-bytes")[0].int("bytes") > 0, "app-bytes 0")


def test_none_kdig_curl():
    have("kdig")
    with Server() as srv:
        r = kdig(srv.port)
        check("192.0.2.42" in r.stdout and "\t60\t" in r.stdout,
              "kdig: " + r.stdout + r.stderr)
        if shutil.which("curl"):
            code, ctype, body = curl(srv.port)
            check(code == 200 and ctype == "application/dns-message",
                  "curl %d %s" % (code, ctype))
            check_answer(body)
            import base64
            dns = base64.urlsafe_b64encode(query()).decode().rstrip("=")
            code, _, body2 = curl(srv.port, path="/dns-query?dns=" + dns,
                                  post=False)
            check(code == 200 and body2 == body, "curl GET differs")


def test_cert_rejected():
    """A client that rejects the certificate: no HTTP byte is read."""
    c = certs()
    with Server(cert=c.rogue_chain, key=c.rogue_key) as srv:
        try:
            srv.client()
            raise AssertionError("handshake succeeded")
        except ssl.SSLCertVerificationError:
            pass
        wait_close(srv)
        check(srv.count("tls-ok") == 0, "tls-ok logged")
        check(srv.count("tls-fail") == 1, "no tls-fail")
        check(srv.events("bytes-before-tls")[0].int("bytes") > 0,
              "no ClientHello counted")
        check(srv.events("app-bytes")[0].int("bytes") == 0,
              "application bytes read")


def test_refuse():
    with Server("refuse") as srv:
        try:
            srv.client()
            raise AssertionError("handshake succeeded")
        except (ssl.SSLError, OSError):
            pass
        check(wait_close(srv)["reason"] == "refuse", "reason")


def test_reset():
    with Server("reset") as srv:
        s = None
        try:
            # On loopback the RST may already fail the connect().
            s = socket.create_connection(("127.0.0.1", srv.port),
                                         timeout=3)
            s.recv(1)
            raise AssertionError("no reset")
        except ConnectionResetError:
            pass
        finally:
            if s is not None:
                s.close()
        check(wait_close(srv)["reason"] == "reset", "reason")


def test_tls_fail():
    with Server("tls-fail") as srv:
        try:
            srv.client()
            raise AssertionError("handshake succeeded")
        except ssl.SSLError as e:
            check("HANDSHAKE_FAILURE" in str(e).upper(), str(e))
        srv.wait_event("tls-fail")


def test_tls12_only():
    for args in (("tls12-only", ()), ("none", ("--tls12-only",))):
        with Server(*args) as srv:
            try:
                srv.client(min_version=ssl.TLSVersion.TLSv1_3)
                raise AssertionError("TLS 1.3 handshake succeeded")
            except ssl.SSLError:
                pass
            h = srv.client()
            check(h.s.version() == "TLSv1.2", h.s.version())
            h.start()
            h.request(1, query())
            check_answer(h.answer(1))
            h.close()


def test_no_h2():
    with Server("no-h2") as srv:
        h = srv.client()
        check(h.s.selected_alpn_protocol() is None, "ALPN chosen")
        h.close()
        h = srv.client(alpn=("h2", "http/1.1"))
        check(h.s.selected_alpn_protocol() == "http/1.1", "not http/1.1")
        h.s.sendall(b"GET / HTTP/1.1\r\nhost: doh.test\r\n\r\n")
        check(h.s.recv(100).startswith(b"HTTP/1.1 505"), "no 505")
        h.close()
        srv.wait_event("http1-request")
    with Server(extra=("--alpn", "none")) as srv:
        h = srv.client(alpn=("h2", "http/1.1"))
        check(h.s.selected_alpn_protocol() is None, "ALPN chosen")
        h.start()	# h2 without ALPN: logged and dropped
        h.drain(1)
        check(h.closed is not None, "not closed")
        check(wait_close(srv)["reason"] == "h2-without-alpn", "reason")


def test_status():
    have("curl")
    for code in (301, 404, 503):
        with Server("status:%d" % code) as srv:
            got, ctype, body = curl(srv.port)
            check(got == code and ctype == "text/plain" and
                  body.startswith(b"faultsrv"), "%d %s" % (got, ctype))


def test_ctype():
    have("curl")
    with Server("ctype") as srv:
        code, ctype, body = curl(srv.port)
        check(code == 200 and ctype == "text/plain", ctype)
        check_answer(body)


def test_empty_body():
    with Server("empty-body") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check(h.answer(1) == b"", "body")
        check(h.of(HEADERS, 1)[0].flags & END_STREAM, "no END_STREAM")
        h.close()


def test_huge_body():
    with Server("huge-body") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        body = h.answer(1)
        check(body is not None and len(body) == 70000, "len")
        check_answer(body[:46])
        h.close()


def test_wrong_question():
    with Server("wrong-question") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1), name="wrong.faultsrv.test.")
        h.close()


def test_qr0():
    with Server("qr0") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        m = lab.parse(h.answer(1))
        check(not m.qr and m.values("A") == [ADDR], repr(m))
        h.close()


def test_short_answer():
    with Server("short-answer") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        body = h.answer(1)
        qlen = len(lab.encode_name(QNAME)) + 4
        check(len(body) == 12 + qlen // 2, "len %d" % len(body))
        check(body[4:8] == b"\0\1\0\1", "counts")
        try:
            lab.parse(body)
            raise AssertionError("parsed")
        except lab.ParseError:
            pass
        h.close()


def test_goaway():
    with Server("goaway") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        g = h.until(lambda f: f.type == GOAWAY)
        check(g is not None and struct.unpack(">II", g.payload[:8]) ==
              (0, 0), "GOAWAY %r" % g)
        h.drain(2)
        check(not h.of(HEADERS, 1), "stream 1 answered")
        check(h.closed == "close_notify", "closed %r" % h.closed)
        check(wait_close(srv)["reason"] == "goaway", "reason")
    with Server("goaway:2") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        h.request(3, query())
        g = h.first(GOAWAY)
        check(g is not None and g.payload[:4] == b"\0\0\0\1", "last != 1")
        h.drain(2)
        check(not h.of(HEADERS, 3), "stream 3 answered")
        check(h.closed == "close_notify", "closed %r" % h.closed)


def test_goaway_after():
    with Server("goaway-after:2") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        h.request(3, query())
        check_answer(h.answer(3))
        g = h.first(GOAWAY)	# may come before stream 3's DATA
        check(g is not None and g.payload[:8] == b"\0\0\0\3\0\0\0\0",
              "GOAWAY %r" % g)
        h.drain(2)
        check(h.closed == "close_notify", "closed %r" % h.closed)
        check(srv.count("answer") == 2, "answers")


def test_rst_stream():
    for fault, code in (("rst-stream", 2), ("refuse-stream", 7)):
        with Server(fault) as srv:
            h = srv.client()
            h.start()
            h.request(1, query())
            f = h.until(lambda f: f.type == RST_STREAM)
            check(f is not None and f.sid == 1 and
                  f.payload == struct.pack(">I", code), "%r" % f)
            h.close()


def test_max_streams():
    with Server("max-streams:0") as srv:
        h = srv.client()
        h.start()
        f = h.until(lambda f: f.type == SETTINGS)
        check(struct.pack(">HI", 3, 0) in f.payload, "not 0")
        h.close()
    with Server("max-streams:1") as srv:
        h = srv.client()
        h.start()
        f = h.until(lambda f: f.type == SETTINGS)
        check(struct.pack(">HI", 3, 1) in f.payload, "not 1")
        t = time.monotonic()
        h.request(1, query())
        check_answer(h.answer(1))
        check(time.monotonic() - t >= 0.09, "answer not held")
        h.close()
    with Server("max-streams:2") as srv:
        h = srv.client()
        h.start()
        h.until(lambda f: f.type == SETTINGS)
        h.request(1, query())
        h.request(3, query())
        check_answer(h.answer(1))
        check_answer(h.answer(3))
        h.close()
        ev = srv.events("max-concurrent")[-1]
        check(ev.int("n") == 2, "max-concurrent %r" % ev)


def test_stall_handshake():
    with Server("stall-handshake") as srv:
        try:
            H2(srv.port, certs().ca_pem, timeout=0.5)
            raise AssertionError("handshake succeeded")
        except (socket.timeout, TimeoutError):
            pass
        ev = wait_close(srv)
        check(ev["state"] == "stall", repr(ev))
        check(srv.events("bytes-before-tls")[0].int("bytes") > 0, "bytes")


def test_stall_after_handshake():
    with Server("stall-after-handshake") as srv:
        h = srv.client()
        h.start()
        check(h.until(lambda f: f.type == SETTINGS) is not None,
              "no SETTINGS")
        h.request(1, query())
        h.drain(1)
        check(not h.of(HEADERS) and not h.closed, "answered or closed")
        srv.wait_event("stall")
        h.close()


def test_stall_mid_body():
    with Server("stall-mid-body") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        h.drain(1)
        data = b"".join(f.payload for f in h.of(DATA, 1))
        check(h.of(HEADERS, 1) and len(data) == 23, "data %d" % len(data))
        check(not any(f.flags & END_STREAM for f in h.of(DATA, 1)), "END")
        h.close()


def test_no_settings():
    with Server("no-settings") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        h.drain(1)
        check(not h.frames and not h.closed, "frames %r" % h.frames)
        srv.wait_event("request")
        h.close()


def test_close_after():
    with Server("close-after:1") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        h.request(3, query())
        h.drain(2)
        check(h.closed == "abrupt", "closed %r" % h.closed)
        check(not h.of(GOAWAY), "GOAWAY sent")
        check(wait_close(srv)["reason"] == "close-after", "reason")


def test_push_promise():
    with Server("push-promise") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        kinds = [(f.type, f.flags & ACK) for f in h.frames]
        pp = h.of(PUSH_PROMISE, 1)
        check(pp and pp[0].payload[:4] == b"\0\0\0\2", "no PUSH_PROMISE")
        check(kinds.index((SETTINGS, ACK)) < kinds.index((PUSH_PROMISE, 0)),
              "PUSH_PROMISE before our SETTINGS were acknowledged")
        h.close()


def test_continuation_flood():
    with Server("continuation-flood:50") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        hd = h.of(HEADERS, 1)
        cont = h.of(CONTINUATION, 1)
        check(len(hd) == 1 and not hd[0].flags & END_HEADERS, "HEADERS")
        check(len(cont) == 51 and cont[-1].flags & END_HEADERS and
              not any(f.flags & END_HEADERS for f in cont[:-1]), "CONT")
        h.close()


def test_ping_flood():
    with Server("ping-flood:1000") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1, timeout=5))
        pings = [f for f in h.of(PING) if not f.flags & ACK]
        check(len(pings) == 1000, "%d PINGs" % len(pings))
        h.close()


def test_settings_flood():
    with Server("settings-flood:300") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1, timeout=5))
        h.drain(0.5)
        n = len([f for f in h.of(SETTINGS) if not f.flags & ACK])
        check(n == 301, "%d SETTINGS" % n)
        h.close()
        srv.stop()
        check(srv.events("h2-stats")[0].int("settings-acks") == 301,
              "ACKs not all counted")


def test_huge_header():
    with Server("huge-header") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        block = sum(len(f.payload) for f in h.frames
                    if f.sid == 1 and f.type in (HEADERS, CONTINUATION))
        check(block >= 65536, "header block only %d bytes" % block)
        h.close()


def test_slow():
    with Server("slow:300") as srv:
        h = srv.client()
        h.start()
        t = time.monotonic()
        h.request(1, query())
        check_answer(h.answer(1))
        check(time.monotonic() - t >= 0.29, "too fast")
        h.close()
        ev = srv.events(("request", "answer"))
        check(ev[1].t - ev[0].t >= 290, "log times %r" % ev)


def test_idle_goaway():
    with Server("idle-goaway:400") as srv:
        h = srv.client()
        h.start()
        h.request(1, query())
        check_answer(h.answer(1))
        t = time.monotonic()
        g = h.until(lambda f: f.type == GOAWAY, timeout=3)
        check(g is not None and g.payload[:8] == b"\0\0\0\1\0\0\0\0",
              "GOAWAY %r" % g)
        check(time.monotonic() - t >= 0.35, "GOAWAY too soon")
        h.drain(2)
        check(h.closed == "close_notify", "closed %r" % h.closed)
        ev = srv.events(("request", "idle"))
        check([e.name for e in ev] == ["request", "idle"] and
              ev[1].t - ev[0].t >= 390 and ev[1]["action"] == "goaway",
              "events %r" % ev)
        check(wait_close(srv)["reason"] == "goaway", "reason")


def test_idle_close():
    with Server("idle-close:300") as srv:
        h = srv.client()
        h.start()
        # a request keeps the connection: idle counts from the last one
        time.sleep(0.2)
        h.request(1, query())
        check_answer(h.answer(1))
        h.drain(2)
        check(h.closed == "abrupt", "closed %r" % h.closed)
        check(not h.of(GOAWAY), "GOAWAY sent")
        ev = srv.events(("request", "idle"))
        check([e.name for e in ev] == ["request", "idle"] and
              ev[1].t - ev[0].t >= 290, "events %r" % ev)
        check(wait_close(srv)["reason"] == "idle", "reason")


def test_helper():
    """FaultServer itself: events, stop(), the exit line."""
    srv = Server()
    h = srv.client()
    h.start()
    h.request(1, query())
    check_answer(h.answer(1))
    check(srv.count("close") == 0, "closed early")
    srv.stop()	# closes the open connection and logs it
    check(srv.returncode == 0, "exit status")
    names = [e.name for e in srv.events(conn=1)]
    for n in ("conn", "tls-ok", "bytes-before-tls", "request", "answer",
              "app-bytes", "close"):
        check(n in names, "no %s in %r" % (n, names))
    check(names[-1] == "close" and
          srv.events("close")[0]["reason"] == "shutdown", "last event")
    ex = srv.events("exit")[0]
    check(ex.int("requests") == 1 and ex.int("answers") == 1, repr(ex))
    h.close()


def main(names):
    tests = [(k, v) for k, v in globals().items()
             if k.startswith("test_") and callable(v)]
    if names:
        tests = [(k, v) for k, v in tests
                 if k in names or k[5:] in names]
    failed = passed = 0
    for name, fn in tests:
        try:
            fn()
            print("PASS " + name, flush=True)
            passed += 1
        except Skip as e:
            print("SKIP %s: %s" % (name, e), flush=True)
        except Exception as e:
            print("FAIL %s: %s" % (name, e), flush=True)
            if os.environ.get("FAULTSRV_VERBOSE") == "1":
                traceback.print_exc()
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
