#!/usr/bin/python3
"""Hostile client input: malformed messages over UDP and TCP, TCP streams
that lie, stall, pipeline without reading or flood the listener.  One
unbound (DoH) and one daemon for the whole file; after every case the
daemon must still be running and answer www.lab.test A over UDP.  At the
end its peak RSS (VmHWM) must stay under RSS_BOUND.

What the daemon does where either answer is acceptable (a TCP connection
kept or closed after a dropped message, FORMERR or silence for a 64 KB
datagram) is printed as "  . name: what" lines."""

import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, make_query, opt_rr, encode_name  # noqa: E402

U = None	# unbound (DoH)
D = None	# the daemon under test
IDLE = 1.0	# --tcp-idle-timeout, seconds
MAX_TCP = 20	# --max-tcp-clients
PER_SOURCE = MAX_TCP // 4	# max-tcp-per-client auto
RSS_BOUND = 64 << 20	# bytes of VmHWM; scaled up under ASan
NO_REPLY = 0.3	# seconds of silence that count as "dropped"
ASAN = False	# the daemon runs with AddressSanitizer

FORMERR, NOTIMP, REFUSED = 1, 4, 5
BADVERS = 16	# header rcode 0, the OPT's extended rcode 1
HDR = struct.Struct(">HHHHHH")


def setup_module():
    global U, D
    # log-queries: what reached the upstream, for the BADVERS case
    U = lab.Unbound("unbound", plain=False,
                    extra=("log-queries: yes",)).start()
    D = lab.Dohstub({"mode": "encrypted-only", "upstream": U.url,
                     "resolve": U.resolve, "ca-file": lab.certs().ca_pem,
                     "tcp-idle-timeout": "%ds" % IDLE,
                     "max-tcp-clients": MAX_TCP},
                    name="dohstub-bad").start()
    global ASAN
    with open("/proc/%d/maps" % D.pid) as f:
        ASAN = "libasan" in f.read()
    alive("start-up")


def teardown_module():
    if D:
        D.kill()
    if U:
        U.stop()


def record(what, how):
    print("  . %s: %s" % (what, how), flush=True)


_qid = [0x4000]


def next_id():
    _qid[0] = (_qid[0] + 0x101) & 0xFFFF or 1
    return _qid[0]


def alive(after):
    """The daemon is running and answers a valid query over UDP."""
    check(D.running(), "daemon died after %s (status %s): %s" % (
        after, D.proc.returncode, D.log_tail(8)))
    qid = next_id()
    m = lab.udp_exchange(D.port, make_query("www.lab.test", "A", qid=qid),
                         timeout=2)
    check(m is not None, "no answer to www.lab.test A after %s" % after)
    check(m.id == qid and m.rcode == 0 and m.values("A") == [lab.WWW_A],
          "after %s: bad answer to www.lab.test A: %r" % (after, m))


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return HDR.pack(qid, flags, qd, an, ns, ar)


def frame(wire):
    return struct.pack(">H", len(wire)) + wire


# ---------------------------------------------------------------- transports


def udp_raw(wire, timeout):
    """Send one datagram; the raw reply or None after timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
        s.connect(("127.0.0.1", D.port))
        s.send(wire)
        s.settimeout(timeout * lab.SLOW)
        try:
            return s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
    finally:
        s.close()


class Closed(Exception):
    pass


class Tcp:
    """A client connection reading length-prefixed frames."""

    def __init__(self, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(2)
        self.s.connect(("127.0.0.1", D.port))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.s.settimeout(left)
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            raise Closed("reset")
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk
        return True

    def frame(self, timeout):
        """The next frame's message, None on timeout; Closed on EOF."""
        deadline = time.monotonic() + timeout * lab.SLOW
        while True:
            if len(self.buf) >= 2:
                n = struct.unpack(">H", self.buf[:2])[0]
                if len(self.buf) >= 2 + n:
                    msg, self.buf = self.buf[2:2 + n], self.buf[2 + n:]
                    return msg
            if not self._fill(deadline):
                return None

    def wait_closed(self, timeout, scale=True):
        """Seconds until the daemon closed us (data read meanwhile is
        kept), or None if still open after timeout (times SLOW unless
        not scale)."""
        t0 = time.monotonic()
        deadline = t0 + timeout * (lab.SLOW if scale else 1)
        try:
            while self._fill(deadline):
                pass
        except Closed:
            return time.monotonic() - t0
        return None

    def usable(self):
        """Ask www.lab.test A on this connection: True if answered,
        False if the daemon closed it."""
        qid = next_id()
        try:
            self.send(frame(make_query("www.lab.test", "A", qid=qid)))
            while True:
                w = self.frame(2)
                check(w is not None, "connection neither answers nor "
                      "closes within 2 s")
                m = lab.parse(w)
                if m.id == qid:
                    check(m.rcode == 0 and m.values("A") == [lab.WWW_A],
                          "bad answer on the same connection: %r" % m)
                    return True
        except (Closed, BrokenPipeError, ConnectionResetError):
            return False

    def close(self):
        self.s.close()


def daemon_clients():
    """Established TCP connections the daemon holds on its listen port."""
    mine = lab._socket_inodes(D.pid)
    return sum(1 for l, r, st, ino in lab._proc_net_tcp()
               if l == D.port and st == 1 and ino in mine)


def wait_no_clients(timeout=3):
    lab.wait_for(lambda: daemon_clients() == 0, timeout * lab.SLOW,
                 what="the daemon to drop its TCP clients (has %d)" %
                 daemon_clients())


# ---------------------------------------------------------------- checks


def check_reply(raw, qid, rcode, what):
    check(raw is not None, "%s: no reply, want %s" % (what,
                                                      lab.RCODES[rcode]))
    m = lab.parse(raw)
    check(m.qr, "%s: QR not set: %r" % (what, m))
    check(m.id == qid, "%s: id %d, want %d" % (what, m.id, qid))
    check(m.rcode == rcode, "%s: %s, want %s" % (
        what, m.rcode_name, lab.RCODES[rcode]))
    check(not m.answer and not m.authority,
          "%s: records in an error answer: %r" % (what, m))
    return m


def bad(wire, expect, what):
    """Send wire over UDP, then over a fresh TCP connection; expect
    "drop" (no reply within NO_REPLY) or an rcode with the query's ID.
    Returns whether the TCP connection stayed usable."""
    qid = struct.unpack(">H", wire[:2])[0] if len(wire) >= 2 else None
    raw = udp_raw(wire, NO_REPLY if expect == "drop" else 2)
    if expect == "drop":
        check(raw is None, "%s over UDP: %d-byte reply, want none" % (
            what, len(raw or b"")))
    else:
        check_reply(raw, qid, expect, what + " over UDP")
    alive(what + " over UDP")

    t = Tcp()
    try:
        t.send(frame(wire))
        try:
            raw = t.frame(NO_REPLY if expect == "drop" else 2)
            closed = False
        except Closed:
            raw, closed = None, True
        if expect == "drop":
            check(raw is None, "%s over TCP: %d-byte reply, want none" % (
                what, len(raw or b"")))
        else:
            check_reply(raw, qid, expect, what + " over TCP")
        kept = not closed and t.usable()
    finally:
        t.close()
    alive(what + " over TCP")
    return kept


def formerr(wire, what):
    bad(wire, FORMERR, what)


# ---------------------------------------------------------------- cases


def test_short_messages():
    good = make_query("www.lab.test", "A", qid=next_id())
    # an empty datagram is dropped; over TCP a zero length prefix is a
    # broken stream, so the connection may go (recorded)
    check(udp_raw(b"", NO_REPLY) is None, "reply to an empty datagram")
    alive("empty datagram")
    t = Tcp()
    try:
        t.send(b"\0\0")
        try:
            raw = t.frame(NO_REPLY)
            check(raw is None, "reply to a zero length prefix: %r" % raw)
            kept = t.usable()
        except Closed:
            kept = False
        record("TCP zero length prefix", "connection kept" if kept
               else "connection closed")
    finally:
        t.close()
    alive("zero length prefix")
    for n in (1, 11):
        kept = bad(good[:n], "drop", "%d-byte message" % n)
        record("TCP prefix %d with %d bytes" % (n, n),
               "dropped, connection kept" if kept else
               "dropped, connection closed")


def test_qr_set_dropped():
    bad(make_query("www.lab.test", "A", qid=next_id(), qr=True), "drop",
        "QR set")


def test_opcode_notimp():
    bad(make_query("www.lab.test", "A", qid=next_id(), opcode=5), NOTIMP,
        "opcode 5")
    # an UPDATE may fill every section; absurd counts just stop the walk
    wire = header(next_id(), 5 << 11, 1, 65535, 65535, 65535) + \
        encode_name("x") + b"\0\1\0\1"
    bad(wire, NOTIMP, "opcode 5 with counts 65535")


def test_opcode_notimp_without_ra():
    """RA is defined for QUERY only: NOTIMP to STATUS and NOTIFY, with
    and without EDNS, does not set it; RD, the opcode and the question
    are echoed."""
    for opcode, name in ((2, "STATUS"), (4, "NOTIFY")):
        for edns in (None, 1232):
            qid = next_id()
            wire = make_query("lab.test", "SOA", qid=qid, opcode=opcode,
                              edns=edns)
            for how, m in (("UDP", lab.udp_exchange(D.port, wire)),
                           ("TCP", lab.tcp_exchange(D.port, wire)[0])):
                what = "%s%s over %s" % (name, " with EDNS" if edns else "",
                                         how)
                check(m is not None, "%s: no answer" % what)
                check(m.id == qid and m.qr and m.rcode == NOTIMP,
                      "%s: %r, want NOTIMP" % (what, m))
                check(not m.ra, "%s: RA set" % what)
                check(m.rd and m.opcode == opcode,
                      "%s: RD %s, opcode %d" % (what, m.rd, m.opcode))
                check(m.question == [("lab.test.", 6, 1)],
                      "%s: question %r" % (what, m.question))
                check((m.opt is not None) == (edns is not None),
                      "%s: OPT %r" % (what, m.opt))
    alive("STATUS and NOTIFY")


def upstream_saw(name):
    """unbound logged a query for name (log-queries)."""
    return (" %s. " % name) in open(U.log, errors="replace").read()


def test_edns_version_badvers():
    """RFC 6891 6.1.3: an OPT of version 1 gets BADVERS (extended rcode
    16: header rcode 0, the OPT's upper TTL byte 1) with an OPT of
    version 0 and no records, and the query goes nowhere upstream:
    unbound's query log has no line for it, while the same name with
    version 0 right after does."""
    name = lab.unique_name("badvers")
    ttl = (1 << 16) | 0x8000		# version 1, DO
    for how in ("UDP", "TCP"):
        qid = next_id()
        wire = make_query(name, "A", qid=qid, extra_ar=b"\0" + struct.pack(
            ">HHIH", 41, 1232, ttl, 0), extra_arcount=1)
        m = (lab.udp_exchange(D.port, wire) if how == "UDP" else
             lab.tcp_exchange(D.port, wire)[0])
        what = "EDNS version 1 over " + how
        check(m is not None, "%s: no answer" % what)
        check(m.id == qid and m.qr and m.rcode == 0 and m.ra,
              "%s: %r" % (what, m))
        check(not m.answer and not m.authority and m.arcount == 1,
              "%s: records besides the OPT: %r" % (what, m))
        check(m.question == [(name + ".", 1, 1)],
              "%s: question %r" % (what, m.question))
        o = m.opt
        check(o is not None and o.name == ".", "%s: no OPT" % what)
        check(o.ttl >> 24 == BADVERS >> 4 and (o.ttl >> 16) & 0xff == 0,
              "%s: OPT TTL %#x, want extended rcode 1, version 0" % (
                  what, o.ttl))
        check(o.ttl & 0x8000, "%s: DO not echoed" % what)
    # what an operator would type
    r = lab.dig(D.port, "+edns=1", "+noednsneg", name, "A")
    check("status: BADVERS" in r.stdout and "EDNS: version: 0" in
          r.stdout and "ANSWER: 0" in r.stdout, "dig +edns=1: %s" %
          r.stdout)
    alive("EDNS version 1")
    # the same name with version 0 goes upstream and shows in the log;
    # once it does, anything sent before it would have too
    m = D.udp(name, "A", edns=1232)
    check(m.rcode == 0 and m.values("A") == [lab.WILD_ADDR],
          "EDNS version 0 after: %r" % m)
    lab.wait_for(lambda: upstream_saw(name), 3 * lab.SLOW,
                 what="unbound to log the version 0 query")
    with open(U.log, errors="replace") as f:
        seen = [l for l in f if (" %s. " % name) in l]
    check(len(seen) == 1, "unbound saw %s %d times, want once (the "
          "version 0 query): %r" % (name, len(seen), seen))
    # and a cached name is not served from the cache either
    r = lab.dig(D.port, "+edns=1", "+noednsneg", name, "A")
    check("status: BADVERS" in r.stdout and "ANSWER: 0" in r.stdout,
          "dig +edns=1 on a cached name: %s" % r.stdout)


def test_qdcount():
    formerr(make_query("www.lab.test", "A", qid=next_id(), qdcount=0),
            "QDCOUNT 0")
    q = make_query("www.lab.test", "A", qid=next_id())
    q = q[:4] + struct.pack(">H", 2) + q[6:] + encode_name("x.lab.test") + \
        struct.pack(">HH", 1, 1)
    formerr(q, "QDCOUNT 2")


def _raw_question(name_wire, tail=b"\0\1\0\1", **kw):
    return header(next_id(), **kw) + name_wire + tail


def test_bad_names():
    # a length byte of 64 is no length: 0x40 is the extended label type
    formerr(_raw_question(b"\x40" + b"a" * 64 + b"\0"), "64-byte label")
    # 63+63+63+62 byte labels: 256 bytes on the wire, one too many
    labels = [b"a" * 63, b"b" * 63, b"c" * 63]
    n256 = b"".join(bytes([len(x)]) + x for x in labels + [b"d" * 62])
    formerr(_raw_question(n256 + b"\0"), "256-byte name")
    # ... while 255 bytes is a name (nonexistent: NXDOMAIN or so)
    n255 = b"".join(bytes([len(x)]) + x for x in labels + [b"d" * 61])
    qid = next_id()
    raw = udp_raw(header(qid) + n255 + b"\0" + b"\0\1\0\1", 3)
    check(raw is not None, "255-byte name: no answer")
    m = lab.parse(raw)
    check(m.id == qid and m.rcode != FORMERR,
          "255-byte name: %r (a legal name)" % m)
    alive("255-byte name")
    # the pointer at offset 12 points at itself
    formerr(_raw_question(b"\xc0\x0c"), "compression pointer loop")
    # 1 'a' then a pointer back to the 'a' label: a two-step loop
    formerr(_raw_question(b"\x01a\xc0\x0c"), "two-label pointer loop")
    # pointer to offset 18, where a real name sits after the question
    formerr(_raw_question(b"\xc0\x12", b"\0\1\0\1" + encode_name("www")),
            "forward pointer")
    formerr(_raw_question(b"\xff\xff"), "pointer past the end")
    formerr(_raw_question(b"\xc0\x0c"[:1]), "half a pointer")
    formerr(_raw_question(b"\x41\x08" + b"\xff" + b"\0"), "label type 0x40")
    formerr(_raw_question(b"\x85abcde\0"), "label type 0x80")
    q = make_query("www.lab.test", "A", qid=next_id())
    formerr(q[:-2], "question without its class")
    formerr(q[:-5], "question without type and class")
    formerr(q[:-6], "name without its root label")


def test_bad_opt():
    formerr(make_query("www.lab.test", "A", qid=next_id(), edns=1232,
                       extra_ar=opt_rr(4096), extra_arcount=1),
            "two OPT records")
    q = make_query("www.lab.test", "A", qid=next_id())
    q = q[:10] + b"\0\1" + q[12:]
    formerr(q + b"\0" + struct.pack(">HHIH", 41, 1232, 0, 100) + b"x" * 10,
            "OPT RDLEN past the end")
    formerr(q + b"\0" + struct.pack(">HHI", 41, 1232, 0),
            "OPT without RDLEN")
    # 17 bytes: a header claiming 65535 of everything, and 5 bytes
    wire = header(next_id(), 0x0100, 65535, 65535, 65535, 65535) + \
        b"\x01a\0\0\1"
    check(len(wire) == 17, "test bug")
    formerr(wire, "counts 65535 in 17 bytes")
    wire = header(next_id(), 0x0100, 1, 0, 0, 65535) + b"\0\0\1\0\1"
    formerr(wire[:17], "ARCOUNT 65535 with one question")


def _soa_rr(owner_wire, rtype=6, rclass=1, rdata_fix=b""):
    rdata = encode_name("ns.lab.test") + encode_name("admin.lab.test") + \
        struct.pack(">IIIII", 2026120101, 3600, 600, 86400, 300) + rdata_fix
    return owner_wire + struct.pack(">HHIH", rtype, rclass, 3600,
                                    len(rdata)) + rdata


def test_authority_section():
    """An IXFR query carries the client's SOA in its authority section
    (RFC 1995): it gets REFUSED like AXFR, not FORMERR.  Any other
    authority record, or one on any other query, is still FORMERR."""
    def q(qtype, *rrs):
        return header(next_id(), 0, 1, 0, len(rrs), 0) + \
            encode_name("lab.test") + struct.pack(">HH", qtype, 1) + \
            b"".join(rrs)
    zone = encode_name("lab.test")
    bad(q(251, _soa_rr(zone)), REFUSED, "IXFR with its SOA")
    bad(q(251, _soa_rr(b"\xc0\x0c")), REFUSED, "IXFR, SOA owner compressed")
    formerr(q(251, _soa_rr(encode_name("other.test"))), "IXFR, SOA of "
            "another zone")
    formerr(q(251, _soa_rr(zone, rtype=1)), "IXFR, an A record in "
            "authority")
    formerr(q(251, _soa_rr(zone, rdata_fix=b"x")), "IXFR, SOA RDATA too "
            "long")
    formerr(q(251, _soa_rr(zone), _soa_rr(zone)), "IXFR with two SOAs")
    formerr(q(1, _soa_rr(zone)), "A query with an SOA in authority")
    formerr(q(252, _soa_rr(zone)), "AXFR with an SOA in authority")


def test_edns_extreme_sizes():
    for size in (1, 65535):
        qid = next_id()
        m = D.udp("www.lab.test", "A", qid=qid, edns=size)
        check(m.id == qid and m.rcode == 0 and
              m.values("A") == [lab.WWW_A] and m.opt is not None,
              "EDNS size %d: %r" % (size, m))
        alive("EDNS size %d" % size)
    for size, limit in ((1, 512), (65535, 1232)):
        qid = next_id()
        m = D.udp("big.lab.test", "TXT", qid=qid, edns=size)
        check(m.id == qid and m.tc and len(m.wire) <= limit,
              "big TXT with EDNS %d: TC=%s, %d bytes (limit %d)" % (
                  size, m.tc, len(m.wire), limit))
        check(m.opt is not None, "EDNS %d: no OPT in the truncated "
              "answer" % size)
        record("big TXT, EDNS %d" % size, "%d bytes, TC" % len(m.wire))
        alive("big TXT with EDNS %d" % size)


def test_huge_datagram():
    qid = next_id()
    body = (b"\x3f" + b"z" * 63) * 1024	# endless 63-byte labels
    wire = (header(qid) + body)[:65507]
    check(len(wire) == 65507, "test bug")
    try:
        raw = udp_raw(wire, 1)
    except OSError as e:
        lab.skip("cannot send a 65507-byte datagram here: %s" % e)
    if raw is not None:
        check_reply(raw, qid, FORMERR, "65507-byte datagram")
    record("65507-byte datagram", "dropped" if raw is None else "FORMERR")
    alive("65507-byte datagram")


def test_tcp_prefix_longer_than_data():
    for n in (100, 65535):
        t = Tcp()
        q = make_query("www.lab.test", "A", qid=next_id())
        t.send(struct.pack(">H", n) + q)	# len(q) < n
        time.sleep(0.1)
        t.close()
        alive("prefix %d, %d bytes, client closed" % (n, len(q)))
    # the same, but the client only half-closes and waits for an answer
    t = Tcp()
    try:
        t.send(struct.pack(">H", 100) + b"x" * 10)
        t.s.shutdown(socket.SHUT_WR)
        took = t.wait_closed(2 + IDLE)
        check(took is not None, "half-closed client with a partial frame "
              "not closed within %.1fs" % (2 + IDLE))
        check(t.buf == b"", "reply to a partial frame: %r" % t.buf)
        record("partial frame then FIN", "closed after %.2fs" % took)
    finally:
        t.close()
    alive("partial frame then FIN")


def test_tcp_garbage_after_query():
    # garbage that reads as a long prefix: the daemon waits for the rest,
    # so the query before it must be answered, then the idle timeout ends
    # the connection
    qid = next_id()
    t = Tcp()
    try:
        t.send(frame(make_query("www.lab.test", "A", qid=qid)) +
               b"\xfe\xed" + os.urandom(300))
        w = t.frame(3)
        check(w is not None, "no answer to the query before the garbage")
        m = lab.parse(w)
        check(m.id == qid and m.values("A") == [lab.WWW_A],
              "answer before the garbage: %r" % m)
        took = t.wait_closed(IDLE + 2)
        check(took is not None, "connection with a half frame of garbage "
              "still open %.1fs after the answer" % (IDLE + 2))
        check(t.buf == b"", "more data after the answer: %r" % t.buf[:40])
        record("garbage (long prefix) after a query",
               "answered, closed %.2fs later" % took)
    finally:
        t.close()
    alive("garbage after a query")
    # garbage frames: short ones are dropped, a zero prefix ends it all
    qid = next_id()
    t = Tcp()
    try:
        t.send(frame(make_query("www.lab.test", "A", qid=qid)) +
               frame(b"garbage") + frame(os.urandom(5)) + b"\0\0" +
               os.urandom(50))
        got = []
        try:
            while True:
                w = t.frame(3)
                if w is None:
                    break
                got.append(lab.parse(w))
        except Closed:
            pass
        took = t.wait_closed(IDLE + 2)
        check(took is not None, "connection still open after a zero "
              "length prefix")
        check(all(m.id == qid for m in got), "replies to garbage: %r" % got)
        record("query, garbage frames, zero prefix",
               "query %s, then closed" % ("answered" if got else
                                          "not answered"))
    finally:
        t.close()
    alive("garbage frames after a query")


_rss_seen = [0]	# highest VmRSS sampled (VmHWM can lag behind it)


def rss_kib(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                v = int(line.split()[1])
                _rss_seen[0] = max(_rss_seen[0], v)
                return v
    return 0


@lab.timeout(40)
def test_tcp_pipeline_never_read():
    """5000 queries for the 4.5 KB big.lab.test TXT in one stream whose
    answers are never read: 22 MB of answers cannot all sit in socket
    buffers, so the daemon must stop reading (back-pressure) rather than
    queue them, keep serving everyone else, and keep its memory."""
    wait_no_clients()
    data = b"".join(frame(make_query("big.lab.test", "TXT",
                                     qid=i & 0xFFFF)) for i in range(5000))
    st0 = D.stats_now()
    rss0 = rss_kib(D.pid)
    t = Tcp(rcvbuf=4096)	# a small window: answers back up fast
    t.s.setblocking(False)
    sent = 0
    stall_since = time.monotonic()
    try:
        while sent < len(data) and time.monotonic() - stall_since < 0.5:
            try:
                sent += t.s.send(data[sent:sent + 65536])
                stall_since = time.monotonic()
            except BlockingIOError:
                select.select([], [t.s], [], 0.05)
            except (BrokenPipeError, ConnectionResetError):
                break
        # other clients are served meanwhile, promptly
        worst = 0.0
        for i in range(10):
            t0 = time.monotonic()
            alive("%d bytes of pipelined queries not read" % sent)
            m = D.tcp("alias.lab.test", "A", qid=next_id())
            check(m.values("A") == [lab.WWW_A], "TCP meanwhile: %r" % m)
            worst = max(worst, time.monotonic() - t0)
        check(worst < 1.0 * lab.SLOW, "a UDP+TCP query took %.2fs while a "
              "client did not read" % worst)
        rss1 = rss_kib(D.pid)
        taken = D.stats_now()["queries_tcp"] - st0["queries_tcp"] - 10
        record("5000 pipelined big TXT queries, never read",
               "%d of %d bytes written, %d queries taken by the daemon, "
               "RSS %d -> %d KiB, others served within %.0f ms" % (
                   sent, len(data), taken, rss0, rss1, worst * 1000))
        check(taken < 5000, "the daemon read all 5000 queries of a "
              "client that reads no answer (no back-pressure)")
        if not ASAN:	# ASan's quarantine keeps what was freed
            check(rss1 - rss0 < 16 << 10, "RSS grew by %d KiB" % (
                rss1 - rss0))
        # the stuck client holds no slot for ever: not reading is idle
        t0 = time.monotonic()
        lab.wait_for(lambda: daemon_clients() == 0, (IDLE + 3) * lab.SLOW,
                     what="the daemon to drop the client that never reads")
        record("client that never reads", "dropped %.2fs after the "
               "checks" % (time.monotonic() - t0))
    finally:
        t.close()
    alive("pipeline client gone")


def test_slowloris():
    wait_no_clients()
    conns = []
    try:
        for i in range(10):
            c = Tcp()
            c.send(b"\0")	# one byte of a length prefix, then nothing
            conns.append(c)
        t0 = time.monotonic()
        alive("10 stalled clients")
        m = D.tcp("www.lab.test", "A", qid=next_id())
        check(m.values("A") == [lab.WWW_A], "TCP with stalled clients: %r"
              % m)
        for i, c in enumerate(conns):
            took = c.wait_closed(IDLE + 2 - (time.monotonic() - t0))
            check(took is not None, "stalled client %d still open %.1fs "
                  "after connecting (tcp-idle-timeout %ds)" % (
                      i, time.monotonic() - t0, IDLE))
        took = time.monotonic() - t0
        check(took >= 0.7 * IDLE, "stalled clients closed after %.2fs, "
              "before tcp-idle-timeout %ds" % (took, IDLE))
        record("10 clients stalled on 1 byte", "all closed after %.2fs"
               % took)
    finally:
        for c in conns:
            c.close()
    alive("slowloris")


@lab.timeout(30)
def test_tcp_byte_at_a_time():
    """Only whole queries restart the idle timer, not bytes: a query
    written a byte at a time within tcp-idle-timeout is reassembled and
    answered, but a client trickling bytes more slowly than that (a
    slowloris that never stops sending) is closed at the idle timeout."""
    wait_no_clients()
    qid = next_id()
    q = frame(make_query("www.lab.test", "A", qid=qid))
    c = Tcp()
    try:
        for b in q:             # 32 bytes in about 0.2 s, under 1 s
            c.send(bytes([b]))
            time.sleep(0.005)
        w = c.frame(2)
        check(w is not None, "no answer to a query sent byte by byte")
        m = lab.parse(w)
        check(m.id == qid and m.values("A") == [lab.WWW_A], repr(m))
    finally:
        c.close()
    wait_no_clients()
    c = Tcp()
    t0 = time.monotonic()
    closed_after = None
    try:
        for b in q:             # one byte every 0.3 s: 9.6 s in all
            try:
                c.send(bytes([b]))
            except OSError:
                closed_after = time.monotonic() - t0
                break
            if c.wait_closed(0.3, False) is not None:
                closed_after = time.monotonic() - t0
                break
        check(closed_after is not None, "a trickling client kept its "
              "connection for %.1fs" % (time.monotonic() - t0))
        check(closed_after < IDLE + 1.0, "closed only after %.1fs with "
              "tcp-idle-timeout %ds" % (closed_after, IDLE))
        record("query sent 1 byte / 0.3 s", "closed after %.1fs with "
               "tcp-idle-timeout %ds" % (closed_after, IDLE))
    finally:
        c.close()
    alive("byte at a time")


@lab.timeout(30)
def test_connection_flood():
    wait_no_clients()
    conns = []
    try:
        for i in range(2 * MAX_TCP):
            conns.append(Tcp())
        t0 = time.monotonic()
        # one source: past max-tcp-per-client each new connection closes
        # its oldest idle one at once; the newest stay until the idle
        # timeout (counted from the accept), so look, count and use them
        # well before that
        closed = set()
        while time.monotonic() - t0 < 0.3 * IDLE:
            r, _, _ = select.select([c.s for c in conns if c not in closed],
                                    [], [], 0.05)
            for c in conns:
                if c.s in r:
                    try:
                        if c.s.recv(1) == b"":
                            closed.add(c)
                    except OSError:
                        closed.add(c)
        held = [c for c in conns if c not in closed]
        check(len(held) == PER_SOURCE and held == conns[-PER_SOURCE:],
              "%d connections from one source, max-tcp-per-client %d: %d "
              "closed, %d open (the newest: %s)" % (
                  2 * MAX_TCP, PER_SOURCE, len(closed), len(held),
                  held == conns[-len(held):]))
        check(daemon_clients() == PER_SOURCE, "daemon holds %d clients" %
              daemon_clients())
        # the ones held are really served
        for c in held[:5]:
            check(c.usable(), "held connection not served")
        alive("flood of %d connections" % (2 * MAX_TCP))
        record("flood of %d" % (2 * MAX_TCP), "%d closed at once, the "
               "newest %d held" % (len(closed), len(held)))
    finally:
        for c in conns:
            c.close()
    wait_no_clients()
    m = D.tcp("www.lab.test", "A", qid=next_id())
    check(m.values("A") == [lab.WWW_A], "TCP after the flood: %r" % m)
    alive("flood over")


def test_peak_rss():
    alive("everything")
    bound = RSS_BOUND * (8 if ASAN else 1)
    if lab.VALGRIND:
        lab.skip("RSS means nothing under valgrind")
    rss_kib(D.pid)
    hwm = max(rss_kib(D.pid, "VmHWM"), _rss_seen[0])
    record("peak RSS (VmHWM)", "%d KiB (bound %d KiB%s)" % (
        hwm, bound >> 10, ", ASan" if ASAN else ""))
    check(hwm > 0 and hwm * 1024 < bound, "VmHWM %d KiB, bound %d KiB" %
          (hwm, bound >> 10))


if __name__ == "__main__":
    lab.main(globals())
