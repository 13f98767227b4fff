"""
lab: the integration-test laboratory for dohstub.

Standard library only (runs with Debian's /usr/bin/python3).  Everything
runs on loopback: certificates made with the openssl CLI, unbound as the
DoH server, a plain-DNS "sink" that marks its answers, the daemon itself,
a small DNS client and a tiny test runner.

Run a suite:    python3 tests/integration/test_modes.py [test_name ...]
(or ctest -L integration, which sets DOHSTUB_BIN).  Each suite prints
"PASS name" / "FAIL name: reason" / "SKIP name: reason" and ends with
"N passed, N failed"; exit status 1 if any failed.  test_lab.py checks the
lab itself without the daemon.

Environment:
  DOHSTUB_BIN       the daemon (default ../../build/dohstub from here)
  DOHSTUB_VALGRIND  1: run the daemon under valgrind --error-exitcode=99
                    (waits scaled by 10, load tests skipped)
  DOHSTUB_KEEP      1: keep the temporary directory (logs, configs)
  DOHSTUB_VERBOSE   1: tracebacks and measurements
The daemon gets our environment minus every DOHSTUB_* variable (it
rejects unknown ones, and ctest sets DOHSTUB_BIN and DOHSTUB_BUILD).
"""

import atexit
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
VALGRIND = os.environ.get("DOHSTUB_VALGRIND") == "1"
SLOW = 10.0 if VALGRIND else 1.0	# time factor for waits on the daemon

# ---------------------------------------------------------------- basics


class LabError(Exception):
    """The lab itself could not be set up (not a daemon failure)."""


class TestTimeout(Exception):
    pass


class Skip(Exception):
    """Raised by skip(): the test cannot mean anything here."""


def skip(reason):
    raise Skip(reason)


def need_ipv6_loopback():
    """Skip the test when ::1 cannot be bound (IPv6 disabled, as in some
    containers)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::1", 0))
    except OSError as e:
        skip("no IPv6 loopback: %s" % e)
    finally:
        s.close()


def check(cond, msg="check failed"):
    """assert that survives python -O."""
    if not cond:
        raise AssertionError(msg)


_tmpdir = None


def tmpdir():
    """One temporary directory per test process, removed at exit.

    Open to all (0755, not mkdtemp's 0700): the daemon started as root
    drops to an unprivileged user once bound, as it does on a host, and
    then must still read what a reload reads (the configuration, the CA
    file, resolv.conf) and reach a notify socket, as it would in /etc and
    /run.  So every suite runs the default a root start gets."""
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="dohstub-lab-")
        os.chmod(_tmpdir, 0o755)
        if os.environ.get("DOHSTUB_KEEP") != "1":
            atexit.register(shutil.rmtree, _tmpdir, True)
    return _tmpdir


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# Every child is killed when the test process dies, even by SIGKILL
# (PR_SET_PDEATHSIG), and at normal exit (atexit).
_children = []
_libc = None


def _pdeathsig():
    try:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)	# PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(argv, **kw):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    p = subprocess.Popen(argv, preexec_fn=_pdeathsig, **kw)
    _children.append(p)
    return p


def _kill_children():
    for p in _children:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(2)
            except Exception:
                pass


atexit.register(_kill_children)


def _on_term(signum, frame):
    sys.exit(128 + signum)	# runs atexit


signal.signal(signal.SIGTERM, _on_term)


def run(argv, timeout=30, env=None, input=None):
    """Run a short command, return CompletedProcess (text)."""
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, env=env, input=input)


def note(msg):
    """Print a measurement when DOHSTUB_VERBOSE=1."""
    if os.environ.get("DOHSTUB_VERBOSE") == "1":
        print("  . " + msg, flush=True)


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until true; returns its value or raises."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------- ports

_given_ports = set()


def _test_ports():
    """(lo, hi): ports for test servers, outside the kernel's ephemeral
    range, so that no process's outgoing socket takes one between the
    moment we pick it and the moment a server binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            elo, ehi = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        elo, ehi = 32768, 60999
    if elo - 10000 >= 2000:
        return 10000, elo
    if 65536 - (ehi + 1) >= 2000:
        return ehi + 1, 65536
    raise LabError("ip_local_port_range %d-%d leaves no ports for test "
                   "servers: leave 2000 free below 10000+ or above" % (
                       elo, ehi))


def free_port(udp_too=True):
    """A port free for TCP (and UDP) on 127.0.0.1, never handed out twice
    in this process: a random one outside the ephemeral range, checked by
    binding it, remembered, closed."""
    # A slice of the range of our own, by pid: suites run in parallel
    # (ctest -j) then never pick the same port, even when a test binds a
    # port long after picking it.
    base, top = _test_ports()
    slices = max(1, (top - base) // 1000)
    lo = base + (os.getpid() % slices) * 1000
    hi = min(lo + 1000, top)
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            try:
                t.bind(("127.0.0.1", random.randrange(lo, hi)))
            except OSError:
                continue
            port = t.getsockname()[1]
            if port in _given_ports:
                continue
            if udp_too:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    u.close()
        finally:
            t.close()
        _given_ports.add(port)
        return port
    raise LabError("no free port")


def shut_and_join(socks, threads):
    """Close server sockets that threads wait on, so that the port is
    free when this returns.  close() alone is not enough: a thread asleep
    in poll() holds the socket until its timeout, and a server started
    at once on the same port fails with "Address already in use".
    shutdown() wakes the threads; they are joined, then the sockets
    closed."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass	# an unconnected UDP socket says ENOTCONN, and wakes
    for t in threads:
        if t is not threading.current_thread():
            t.join(5)
    for s in socks:
        s.close()


# ---------------------------------------------------------------- certificates


class Certs:
    """Throw-away PKI made with the openssl CLI.

    ca_pem                the lab CA (give it to the daemon as ca-file)
    server_key/_chain     doh.test + IP SANs, signed by the lab CA
    wrong_key/_chain      DNS:wrong.test only, signed by the lab CA
    rogue_ca_pem          a second CA the daemon does not trust
    rogue_key/_chain      doh.test + IP SANs, signed by the rogue CA
    *_chain = leaf + CA, as unbound wants in tls-service-pem.
    leaf_for(ips)         (key, chain): doh.test + those IP SANs, lab CA,
                          made on first use (DDR's verified discovery
                          wants the plain resolver's IP on the DoH
                          server's certificate)
    """

    GOOD_SAN = "DNS:doh.test,IP:127.0.0.1,IP:::1"

    def __init__(self, d=None):
        self.dir = d or os.path.join(tmpdir(), "pki")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key, self.ca_pem = self._ca("ca", "dohstub lab CA")
        self.rogue_ca_key, self.rogue_ca_pem = self._ca("rogue-ca",
                                                        "untrusted CA")
        self.server_key, self.server_pem, self.server_chain = self._leaf(
            "server", "doh.test", self.GOOD_SAN, self.ca_key, self.ca_pem)
        self.wrong_key, self.wrong_pem, self.wrong_chain = self._leaf(
            "wrong", "wrong.test", "DNS:wrong.test", self.ca_key,
            self.ca_pem)
        self.rogue_key, self.rogue_pem, self.rogue_chain = self._leaf(
            "rogue", "doh.test", self.GOOD_SAN, self.rogue_ca_key,
            self.rogue_ca_pem)

    def leaf_for(self, ips):
        name = "leaf-" + "-".join(i.replace(":", "_") for i in ips)
        if not hasattr(self, "_leaves"):
            self._leaves = {}
        if name not in self._leaves:
            san = ",".join(["DNS:doh.test"] + ["IP:" + i for i in ips])
            key, pem, chain = self._leaf(name, "doh.test", san, self.ca_key,
                                         self.ca_pem)
            self._leaves[name] = (key, chain)
        return self._leaves[name]

    def _ossl(self, *args):
        r = run(["openssl"] + list(args))
        if r.returncode != 0:
            raise LabError("openssl %s: %s" % (args[0], r.stderr.strip()))
        return r

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        key, pem = self._p(name + ".key"), self._p(name + ".pem")
        self._ossl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                   "-out", pem, "-days", "30", "-subj", "/CN=" + cn,
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return key, pem

    def _leaf(self, name, cn, san, ca_key, ca_pem):
        key, csr = self._p(name + ".key"), self._p(name + ".csr")
        pem, chain = self._p(name + ".pem"), self._p(name + "-chain.pem")
        ext = write_file(self._p(name + ".ext"),
                         "basicConstraints=critical,CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=serverAuth\n"
                         "subjectAltName=%s\n" % san)
        self._ossl("req", "-new", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                   "-out", csr, "-subj", "/CN=" + cn)
        self._ossl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey",
                   ca_key, "-set_serial", str(random.getrandbits(63)),
                   "-days", "30", "-out", pem, "-extfile", ext)
        with open(chain, "w") as out:
            for f in (pem, ca_pem):
                with open(f) as i:
                    out.write(i.read())
        return key, pem, chain


_certs = None


def certs():
    """The process-wide Certs, made on first use."""
    global _certs
    if _certs is None:
        _certs = Certs()
    return _certs


# ---------------------------------------------------------------- DNS wire

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "OPT": 41, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode()
            out += bytes([len(b)]) + b
    return out + b"\0"


def opt_rr(size=1232, do=False, options=b""):
    return (b"\0" + struct.pack(">HHIH", 41, size, 0x8000 if do else 0,
                                len(options)) + options)


def make_query(name, qtype="A", qid=None, rd=True, edns=None, do=False,
               opcode=0, qr=False, qdcount=None, extra_ar=b"",
               extra_arcount=0):
    """Build a query.  edns: None for no OPT, else the UDP size.
    qdcount overrides the header count (the question is still written
    when qdcount != 0)."""
    if qid is None:
        qid = random.randrange(1, 65536)
    flags = (0x8000 if qr else 0) | ((opcode & 15) << 11) | \
        (0x0100 if rd else 0)
    if isinstance(qtype, str):
        qtype = TYPES[qtype]
    question = encode_name(name) + struct.pack(">HH", qtype, 1)
    ar = b""
    arcount = 0
    if edns is not None:
        ar += opt_rr(edns, do)
        arcount += 1
    ar += extra_ar
    arcount += extra_arcount
    qd = 1 if qdcount is None else qdcount
    msg = struct.pack(">HHHHHH", qid, flags, qd, 0, 0, arcount)
    if qd:
        msg += question
    return msg + ar


class ParseError(Exception):
    pass


def _read_name(msg, off, depth=0):
    labels = []
    jumped = False
    end = None
    hops = 0
    while True:
        if off >= len(msg):
            raise ParseError("name past end")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise ParseError("pointer past end")
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped = True
            off = ptr
            hops += 1
            if hops > 64:
                raise ParseError("pointer loop")
            continue
        if n & 0xC0:
            raise ParseError("bad label type")
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n
    return ".".join(labels) + ".", (end if jumped else off)


class RR:
    def __init__(self, name, rtype, rclass, ttl, rdata, value):
        self.name, self.type, self.rclass = name, rtype, rclass
        self.ttl, self.rdata, self.value = ttl, rdata, value

    @property
    def tname(self):
        return TYPE_NAMES.get(self.type, str(self.type))

    def __repr__(self):
        v = repr(self.value)
        if len(v) > 40:
            v = v[:37] + "..."
        return "%s %d %s %s" % (self.name, self.ttl, self.tname, v)


class Message:
    """A parsed DNS message (enough for the tests)."""

    def __init__(self, wire):
        self.wire = wire
        if len(wire) < 12:
            raise ParseError("short message (%d bytes)" % len(wire))
        (self.id, self.flags, self.qdcount, self.ancount, self.nscount,
         self.arcount) = struct.unpack(">HHHHHH", wire[:12])
        off = 12
        self.question = []
        for _ in range(self.qdcount):
            name, off = _read_name(wire, off)
            if off + 4 > len(wire):
                raise ParseError("question past end")
            qt, qc = struct.unpack(">HH", wire[off:off + 4])
            off += 4
            self.question.append((name, qt, qc))
        self.answer, off = self._rrs(off, self.ancount)
        self.authority, off = self._rrs(off, self.nscount)
        self.additional, off = self._rrs(off, self.arcount)
        self.trailing = len(wire) - off

    def _rrs(self, off, count):
        out = []
        w = self.wire
        for _ in range(count):
            name, off = _read_name(w, off)
            if off + 10 > len(w):
                raise ParseError("RR header past end")
            t, c, ttl, rdlen = struct.unpack(">HHIH", w[off:off + 10])
            off += 10
            if off + rdlen > len(w):
                raise ParseError("rdata past end")
            rdata = w[off:off + rdlen]
            out.append(RR(name, t, c, ttl, rdata,
                          self._value(t, off, rdata)))
            off += rdlen
        return out, off

    def _value(self, t, off, rdata):
        if t == 1 and len(rdata) == 4:
            return socket.inet_ntop(socket.AF_INET, rdata)
        if t == 28 and len(rdata) == 16:
            return socket.inet_ntop(socket.AF_INET6, rdata)
        if t in (2, 5, 12):
            return _read_name(self.wire, off)[0]
        if t == 16:
            strs, i = [], 0
            while i < len(rdata):
                n = rdata[i]
                strs.append(rdata[i + 1:i + 1 + n].decode("latin-1"))
                i += 1 + n
            return strs
        if t == 6:
            mname, o = _read_name(self.wire, off)
            rname, o = _read_name(self.wire, o)
            return (mname, rname) + struct.unpack(">IIIII",
                                                  self.wire[o:o + 20])
        return rdata

    # flags
    qr = property(lambda s: bool(s.flags & 0x8000))
    opcode = property(lambda s: (s.flags >> 11) & 15)
    aa = property(lambda s: bool(s.flags & 0x0400))
    tc = property(lambda s: bool(s.flags & 0x0200))
    rd = property(lambda s: bool(s.flags & 0x0100))
    ra = property(lambda s: bool(s.flags & 0x0080))
    rcode = property(lambda s: s.flags & 15)
    rcode_name = property(lambda s: RCODES.get(s.rcode, str(s.rcode)))

    @property
    def opt(self):
        opts = [r for r in self.additional if r.type == 41]
        return opts[0] if opts else None

    def values(self, rtype):
        if isinstance(rtype, str):
            rtype = TYPES[rtype]
        return [r.value for r in self.answer if r.type == rtype]

    def __repr__(self):
        an = repr(self.answer[:3])
        if len(self.answer) > 3:
            an = an[:-1] + ", ... %d in all]" % len(self.answer)
        return ("<id=%d %s%s%s qd=%d an=%s ns=%d ar=%d len=%d>" % (
            self.id, self.rcode_name, " QR" if self.qr else "",
            " TC" if self.tc else "", self.qdcount, an,
            self.nscount, self.arcount, len(self.wire)))


def parse(wire):
    return Message(wire)


# ---------------------------------------------------------------- DNS client


def ede(m):
    """(INFO-CODE, EXTRA-TEXT) of m's first Extended DNS Error, or None."""
    opt = m.opt
    if opt is None:
        return None
    d, i = opt.rdata, 0
    while i + 4 <= len(d):
        code, n = struct.unpack(">HH", d[i:i + 4])
        if code == 15 and n >= 2:
            return (struct.unpack(">H", d[i + 4:i + 6])[0],
                    d[i + 6:i + 4 + n].decode(errors="replace"))
        i += 4 + n
    return None


def port_open(port, host="127.0.0.1"):
    """1 if a TCP connection to host:port is accepted."""
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False


def metrics(port):
    """{"name" or "name{labels}": value} of dohstub's /metrics on port."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3 * SLOW)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode()
    finally:
        c.close()
    check(r.status == 200, "/metrics: %d" % r.status)
    out = {}
    for line in body.splitlines():
        m = re.match(r"^(\S+) (\S+)$", line)
        if m and not line.startswith("#"):
            out[m.group(1)] = float(m.group(2))
    return out


def metric(port, name, labels=""):
    """The value of one sample of /metrics ("name" plus "{labels}")."""
    got = metrics(port)
    check(name + labels in got, "no %s%s in /metrics" % (name, labels))
    return got[name + labels]


def udp_exchange(port, wire, timeout=2.0, host="127.0.0.1"):
    """Send one datagram, return the parsed reply whose ID matches, or
    None on timeout.  A reply with another ID is an error (the socket is
    ours alone, so it can only be a wrong ID)."""
    qid = struct.unpack(">H", wire[:2])[0] if len(wire) >= 2 else None
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect((host, port))
        s.send(wire)
        s.settimeout(timeout * SLOW)
        try:
            data = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
        m = Message(data)
        if qid is not None and m.id != qid:
            raise AssertionError("reply has id %d, query had %d: %r" % (
                m.id, qid, m))
        return m
    finally:
        s.close()


def udp_query(port, name, qtype="A", timeout=2.0, **kw):
    return udp_exchange(port, make_query(name, qtype, **kw), timeout)


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes"
                                  % (len(buf), n))
        buf += chunk
    return buf


def tcp_exchange(port, wires, timeout=3.0, host="127.0.0.1"):
    """Send every message of wires in ONE write (2-byte framing), read as
    many answers; returns them (parsed) in arrival order."""
    if isinstance(wires, bytes):
        wires = [wires]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    try:
        s.connect((host, port))
        s.sendall(b"".join(struct.pack(">H", len(w)) + w for w in wires))
        out = []
        for _ in wires:
            n = struct.unpack(">H", _recv_exact(s, 2))[0]
            out.append(Message(_recv_exact(s, n)))
        return out
    finally:
        s.close()


def tcp_query(port, name, qtype="A", timeout=3.0, **kw):
    return tcp_exchange(port, [make_query(name, qtype, **kw)], timeout)[0]


def udp_burst(port, wires, timeout=5.0, sockets=8):
    """Send every query at once over a few sockets; return {id: Message}
    of what came back before timeout.  IDs must be unique."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(sockets)]
    try:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
        for i, w in enumerate(wires):
            socks[i % sockets].send(w)
        got = {}
        import selectors
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        end = time.monotonic() + timeout * SLOW
        while len(got) < len(wires):
            left = end - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(left):
                try:
                    while True:
                        data = key.fileobj.recv(65535)
                        m = Message(data)
                        got[m.id] = m
                except (BlockingIOError, ConnectionRefusedError):
                    pass
        sel.close()
        return got
    finally:
        for s in socks:
            s.close()


def kdig(port, *args, timeout=10, server="127.0.0.1"):
    """Run kdig against server:port; returns CompletedProcess."""
    return run(["kdig", "@" + server, "-p", str(port), "+time=2",
                "+retry=0"] + list(args), timeout=timeout)


def dig(port, *args, timeout=10):
    return run(["dig", "@127.0.0.1", "-p", str(port), "+time=2",
                "+tries=1"] + list(args), timeout=timeout)


def kdig_doh(port, name, qtype="A", ca=None, hostname="doh.test", *extra):
    """kdig +https against a DoH server on 127.0.0.1:port."""
    ca = ca or certs().ca_pem
    return kdig(port, "+https=/dns-query", "+tls-ca=" + ca,
                "+tls-hostname=" + hostname, name, qtype, *extra)


# ---------------------------------------------------------------- unbound

LAB_ZONE = "lab.test"
BIG_TXT_COUNT = 40
MEDIUM_TXT_COUNT = 20
WILD_ADDR = "192.0.2.7"	# every name under w.lab.test (cache-proof names)
WWW_A, WWW_AAAA = "192.0.2.1", "2001:db8::1"
SINK_A = "192.0.2.99"


def txt_string(i):
    """The i-th string of the big TXT set: 100 bytes, recognisable."""
    head = "txt-%02d-" % i
    return head + ("abcdefghij" * 10)[:100 - len(head)]


def lab_zone_text():
    """The lab.test zone.  It is served as an unbound auth-zone rather than
    local-data: unbound answers a local-data CNAME without its target, an
    auth-zone follows in-zone CNAMEs (answer = CNAME + A) and supports the
    wildcard."""
    z = LAB_ZONE
    lines = [
        "$ORIGIN %s." % z,
        "@ 3600 IN SOA ns.%s. hostmaster.%s. 2024010101 3600 600 86400 300"
        % (z, z),
        "@ 3600 IN NS ns",
        "ns 3600 IN A 192.0.2.53",
        "www 300 IN A %s" % WWW_A,
        "www 300 IN AAAA %s" % WWW_AAAA,
        "alias 300 IN CNAME www",
    ]
    for i in range(BIG_TXT_COUNT):
        lines.append('big 300 IN TXT "%s"' % txt_string(i))
    for i in range(MEDIUM_TXT_COUNT):
        lines.append('medium 300 IN TXT "%s"' % txt_string(i))
    # every name below w.lab.test exists: unique names per query defeat
    # any answer cache in the daemon
    lines.append("*.w 300 IN A %s" % WILD_ADDR)
    return "\n".join(lines) + "\n"


def unique_name(tag="q"):
    return "%s-%d-%x.w.%s" % (tag, os.getpid(), random.getrandbits(48),
                              LAB_ZONE)


def source(m):
    """Where the answer m to a unique name under w.lab.test came from:
    "doh" (unbound's 192.0.2.7), "fallback" (the Sink's 192.0.2.99), or
    what it was."""
    if m is None:
        return "no answer"
    a = m.values("A")
    if m.rcode == 0 and a == [WILD_ADDR]:
        return "doh"
    if m.rcode == 0 and a == [SINK_A]:
        return "fallback"
    return "%s %r" % (m.rcode_name, a)


class Unbound:
    """unbound as a DoH server (and optionally plain DNS) on loopback
    address addr.

    cert: "good" (lab CA, doh.test), "rogue" (untrusted CA), "wrong"
    (lab CA, wrong.test only), or a (key, chain) pair (Certs.leaf_for).
    extra: more "key: value" lines for the server: section.
    """

    def __init__(self, name="unbound", cert="good", plain=True,
                 doh_port=None, plain_port=None, verbosity=1, extra=(),
                 addr="127.0.0.1"):
        c = certs()
        self.name = name
        self.addr = addr
        self.key, self.pem = cert if isinstance(cert, tuple) else {
            "good": (c.server_key, c.server_chain),
            "rogue": (c.rogue_key, c.rogue_chain),
            "wrong": (c.wrong_key, c.wrong_chain),
        }[cert]
        self.doh_port = doh_port or free_port()
        self.plain_port = (plain_port or free_port()) if plain else None
        self.dir = os.path.join(tmpdir(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.log = os.path.join(self.dir, "unbound.log")
        self.proc = None
        self.paused = False
        lines = [
            "server:",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % self.dir,
            "  use-syslog: no",
            '  logfile: ""',
            '  pidfile: ""',
            "  verbosity: %d" % verbosity,
            "  do-ip6: no",
            "  do-daemonize: no",
            "  interface: %s@%d" % (addr, self.doh_port),
            "  https-port: %d" % self.doh_port,
            '  tls-service-key: "%s"' % self.key,
            '  tls-service-pem: "%s"' % self.pem,
            '  http-endpoint: "/dns-query"',
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  incoming-num-tcp: 1000",
            "  so-reuseport: no",
            "  num-threads: 1",
        ]
        if self.plain_port:
            lines.append("  interface: %s@%d" % (addr, self.plain_port))
        lines += ["  " + l for l in extra]	# more server: settings
        zone = write_file(os.path.join(self.dir, "lab.zone"),
                          lab_zone_text())
        lines += [
            '  local-zone: "." static',	# never recurse: no internet
            '  local-zone: "%s." transparent' % LAB_ZONE,	# to the auth-zone
            "auth-zone:",
            '  name: "%s."' % LAB_ZONE,
            '  zonefile: "%s"' % zone,
            "  for-downstream: yes",
            "  for-upstream: no",
            "remote-control:",
            "  control-enable: no",
        ]
        write_file(self.conf, "\n".join(lines) + "\n")
        r = run(["unbound-checkconf", self.conf])
        if r.returncode != 0:
            raise LabError("unbound-checkconf: " + r.stdout + r.stderr)

    @property
    def url(self):
        return "https://doh.test:%d/dns-query" % self.doh_port

    @property
    def resolve(self):
        return "doh.test:%d:%s" % (self.doh_port, self.addr)

    def start(self, timeout=10):
        check(self.proc is None or self.proc.poll() is not None,
              "unbound already running")
        self._logf = open(self.log, "ab")
        self.proc = spawn(["unbound", "-d", "-c", self.conf],
                          stdout=self._logf, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise LabError("unbound exited %d: %s" % (
                    self.proc.returncode, self.log_tail()))
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise LabError("unbound did not answer within %ds: %s" % (
            timeout, self.log_tail()))

    def _answers(self):
        # a DoH query answered with the lab data (kdig without a CA does
        # not authenticate, so this works with every certificate), and the
        # plain port answering too
        try:
            socket.create_connection((self.addr, self.doh_port),
                                     0.2).close()
        except OSError:
            return False
        r = kdig(self.doh_port, "+https=/dns-query", "www." + LAB_ZONE, "A",
                 "+short", timeout=5, server=self.addr)
        if r.stdout.split() != [WWW_A]:
            return False
        if self.plain_port:
            try:
                m = udp_exchange(self.plain_port,
                                 make_query("www." + LAB_ZONE, "A"), 0.3,
                                 host=self.addr)
            except (OSError, ParseError):
                return False
            return m is not None and m.values("A") == [WWW_A]
        return True

    def pause(self):
        """SIGSTOP: the process stays, its sockets stay open, the kernel
        still completes TCP handshakes, and nothing is ever answered."""
        check(self.running(), "unbound not running")
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        if self.paused:
            self.resume()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self._logf.close()
        # wait until the port is really free again
        wait_for(lambda: not _port_listening(self.doh_port, self.addr), 5,
                 what="unbound's port to close")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
            self._logf.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=15):
        return tail(self.log, n)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def _port_listening(port, addr="127.0.0.1"):
    try:
        socket.create_connection((addr, port), 0.2).close()
        return True
    except OSError:
        return False


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- sink


def make_sink_answer(wire, addr=SINK_A):
    """NOERROR with one A record for whatever was asked."""
    return make_records_answer(wire, [("A", addr)], ttl=60)


def make_records_answer(wire, rrs=(), rcode=0, ttl=300):
    """An authoritative answer to wire with rcode and the records rrs, a
    list of (type name, value) where value is an address for A and AAAA;
    None if wire is not a one-question query."""
    if len(wire) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", wire[:6])
    if flags & 0x8000 or qd != 1:
        return None
    try:
        _, off = _read_name(wire, 12)
    except ParseError:
        return None
    if off + 4 > len(wire):
        return None
    question = wire[12:off + 4]
    body = b""
    for t, v in rrs:
        fam = socket.AF_INET6 if t == "AAAA" else socket.AF_INET
        rdata = socket.inet_pton(fam, v)
        body += b"\xc0\x0c" + struct.pack(">HHIH", TYPES[t], 1, ttl,
                                          len(rdata)) + rdata
    flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | (rcode & 15)
    hdr = struct.pack(">HHHHHH", qid, flags, 1, len(rrs), 0, 0)
    return hdr + question + body


class Sink:
    """A plain-DNS server on host:port (UDP and TCP; host 127.0.0.1 by
    default) that counts what reaches it and answers every query with
    A 192.0.2.99.

    records (optional) answers some names differently, keyed by the name
    in lower case without the final dot:
      {"A": ["127.0.0.1"], "AAAA": [...]}  those records; another type of
                                           the name gets NOERROR, no data
      "NXDOMAIN", "SERVFAIL", "REFUSED"    that rcode, no records
      None                                 no answer at all
    Names not in records get the default answer.  queries lists every
    (name, type number) received, names in lower case with the final
    dot; names lists the names alone, as they came.  ttl: the TTL of the
    records given."""

    def __init__(self, port=None, answer=True, records=None, ttl=300,
                 host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        self.answer = answer
        self.ttl = ttl
        self.records = dict(records or {})
        self.lock = threading.Lock()
        self.datagrams = 0
        self.tcp_connections = 0
        self.tcp_queries = 0
        self.names = []
        self.queries = []
        self._stop = False
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.udp.settimeout(0.1)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((host, self.port))
        self.tcp.listen(64)
        self.tcp.settimeout(0.1)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()
        atexit.register(self.close)

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def total(self):
        """Everything that ever reached the sink."""
        with self.lock:
            return self.datagrams + self.tcp_connections

    def reset(self):
        with self.lock:
            self.datagrams = self.tcp_connections = self.tcp_queries = 0
            self.names = []
            self.queries = []

    def _note(self, wire):
        qtype = None
        try:
            name, off = _read_name(wire, 12)
            if off + 2 <= len(wire):
                qtype = struct.unpack(">H", wire[off:off + 2])[0]
        except Exception:
            name = None
        with self.lock:
            self.names.append(name)
            self.queries.append((name.lower() if name else name, qtype))

    def _reply(self, wire):
        """The answer to send to wire, or None."""
        key = qtype = None
        try:
            name, off = _read_name(wire, 12)
            key = name.lower().rstrip(".")
            qtype = struct.unpack(">H", wire[off:off + 2])[0]
        except Exception:
            pass
        if key is not None and key in self.records:
            rule = self.records[key]
            if rule is None:
                return None
            if isinstance(rule, str):
                rc = {v: k for k, v in RCODES.items()}[rule]
                return make_records_answer(wire, (), rc, self.ttl)
            t = TYPE_NAMES.get(qtype)
            return make_records_answer(wire, [(t, v) for v in
                                              rule.get(t, ())],
                                       ttl=self.ttl)
        return make_sink_answer(wire) if self.answer else None

    def _udp_loop(self):
        while not self._stop:
            try:
                data, peer = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if self._stop:
                return
            with self.lock:
                self.datagrams += 1
            self._note(data)
            a = self._reply(data)
            if a:
                try:
                    self.udp.sendto(a, peer)
                except OSError:
                    pass

    def _tcp_loop(self):
        while not self._stop:
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.tcp_connections += 1
            threading.Thread(target=self._tcp_client, args=(c,),
                             daemon=True).start()

    def _tcp_client(self, c):
        c.settimeout(5)
        try:
            while not self._stop:
                n = struct.unpack(">H", _recv_exact(c, 2))[0]
                data = _recv_exact(c, n)
                with self.lock:
                    self.tcp_queries += 1
                self._note(data)
                a = self._reply(data)
                if a:
                    c.sendall(struct.pack(">H", len(a)) + a)
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            c.close()

    def close(self):
        self._stop = True
        shut_and_join([self.udp, self.tcp], self.threads)


class PortWatch:
    """A TCP listener that only counts connections and closes them: stands
    where a DoH server would be, to prove nobody came.  With hold=True it
    keeps them open and silent instead: a stalled server."""

    def __init__(self, port=None, hold=False):
        self.port = port or free_port()
        self.connections = 0
        self.hold = hold
        self.held = []
        self._stop = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _loop(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            if self.hold:
                self.held.append(c)
            else:
                c.close()

    def close(self):
        self._stop = True
        shut_and_join([self.sock], [self.thread])
        for c in self.held:
            c.close()


# ---------------------------------------------------------------- sockets


def _proc_net_tcp():
    """(local_port, remote_port, state, inode) of every TCP socket."""
    out = []
    seen = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in proc_lines(f):
            p = line.split()
            lport = int(p[1].rsplit(":", 1)[1], 16)
            rport = int(p[2].rsplit(":", 1)[1], 16)
            ino = int(p[9])
            # a socket once, even if the table moved between reads
            key = ino or (lport, rport, p[1], p[2])
            if key in seen:
                continue
            seen.add(key)
            out.append((lport, rport, int(p[3], 16), ino))
    return out


def proc_lines(path):
    """The rows of a /proc/net table (header dropped), read in one large
    read: the kernel builds it page by page between small reads, and a
    table that changes meanwhile would repeat or skip rows."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").splitlines()[1:]


def _socket_inodes(pid):
    inodes = set()
    d = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(d):
            try:
                t = os.readlink(os.path.join(d, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(int(t[8:-1]))
    except OSError:
        pass
    return inodes


def tcp_connections_to(pid, port, established_only=True):
    """How many TCP connections process pid holds to remote port."""
    mine = _socket_inodes(pid)
    return sum(1 for l, r, st, ino in _proc_net_tcp()
               if r == port and ino in mine and
               (st == 1 or not established_only))


# ---------------------------------------------------------------- the daemon


def daemon_bin():
    b = os.environ.get("DOHSTUB_BIN") or os.path.join(HERE, "..", "..",
                                                      "build", "dohstub")
    return os.path.abspath(b)


_asan = None


def under_asan():
    """Whether the daemon under test is built with AddressSanitizer."""
    global _asan
    if _asan is None:
        with open(daemon_bin(), "rb") as f:
            _asan = b"__asan_init" in f.read()
    return _asan


def shim_env(**vars):
    """The environment for a daemon run with tests/sleepshim.c preloaded
    (the clocks it moves, vars: SLEEPSHIM_FILE, SLEEPSHIM_WALL); the
    test is skipped when the build has no shim."""
    build = os.environ.get("DOHSTUB_BUILD") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    path = os.path.abspath(os.path.join(build, "libsleepshim.so"))
    if not os.path.exists(path):
        skip("no %s" % path)
    env = {"LD_PRELOAD": path}
    env.update({k: str(v) for k, v in vars.items()})
    if under_asan():
        env["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                               ":verify_asan_link_order=0").lstrip(":")
    return env


def daemon_env(extra=None):
    """The environment for the daemon: ours minus every DOHSTUB_* (the
    daemon rejects unknown ones, and ctest sets DOHSTUB_BIN), plus
    extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DOHSTUB_")}
    env.update(extra or {})
    return env




def run_daemon(args, env=None, timeout=10, config="/dev/null"):
    """Run the daemon to completion (-n checks); CompletedProcess."""
    argv = [daemon_bin()]
    if config is not None:
        argv += ["-c", config]
    return run(argv + list(args), timeout=timeout * SLOW,
               env=daemon_env(env))


def parse_stats(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


_daemons = []


def names_dnssec(settings=None, env=None, config=None, args=()):
    """Whether a daemon's settings, environment, arguments or
    configuration file say what dnssec is."""
    if "dnssec" in (settings or {}) or "DOHSTUB_DNSSEC" in (env or {}):
        return True
    if any(a == "--dnssec" or a.startswith("--dnssec=") for a in args):
        return True
    if config and config != "/dev/null" and os.path.isfile(config):
        with open(config, errors="replace") as f:
            return any(re.match(r"\s*dnssec\s", l) for l in f)
    return False


class Dohstub:
    """The daemon under test, listening on 127.0.0.1:port (UDP+TCP).

    settings: {"mode": "encrypted-only", "upstream": [url, ...], ...}
    become --key value flags (a list repeats the flag).

    The answer cache is off (--cache-size 0) unless cache is true or the
    settings name a cache-size: most suites test what happens to each
    query upstream, and ask the same names again and again.

    dnssec is process unless the settings, env, args or the config file
    name it: the lab's zones are unsigned (lab.test under a static root),
    so validate, the daemon's default, would make every answer bogus.
    test_dnssec.py validates, against its signed lab.

    captive-portal is left at its default (ask) unless the settings name
    it: ask sends nothing in plaintext until the user opens a lease, so
    the suites' "the plain sink sees nothing" checks of encrypted-only
    hold with it as users run it.  test_portal.py tests the lease, and
    auto's probe.
    """

    def __init__(self, settings=None, name="dohstub", port=None, env=None,
                 config="/dev/null", args=(), cache=False):
        self.port = port or free_port()
        self.settings = dict(settings or {})
        self.settings.setdefault("listen", "127.0.0.1:%d" % self.port)
        if not cache:
            self.settings.setdefault("cache-size", "0")
        if not names_dnssec(self.settings, env, config, args):
            self.settings["dnssec"] = "process"
        self.name = name
        self.env = env
        self.config = config
        self.extra_args = list(args)
        self.dir = tmpdir()
        self.log = os.path.join(self.dir, "%s-%d.log" % (name, self.port))
        self.proc = None
        self.returncode = None
        self.final_stats = None
        _daemons.append(self)

    def argv(self):
        argv = [daemon_bin(), "-d"]
        if self.config is not None:
            argv += ["-c", self.config]
        for k, v in self.settings.items():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                argv += ["--" + k, str(item)]
        argv += self.extra_args
        if VALGRIND:
            argv = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "-q"] + argv
        return argv

    def start(self, timeout=10):
        b = daemon_bin()
        if not os.access(b, os.X_OK):
            raise LabError("no daemon binary at %s (set DOHSTUB_BIN)" % b)
        self._logf = open(self.log, "ab")
        self.proc = spawn(self.argv(), stdout=self._logf,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=daemon_env(self.env))
        self.pid = self.proc.pid
        end = time.monotonic() + timeout * SLOW
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                self._logf.close()
                raise AssertionError("%s exited %d at start-up: %s" % (
                    self.name, self.proc.returncode, self.log_tail()))
            if self._bound():
                return self
            time.sleep(0.05)
        self.kill()
        raise AssertionError("%s did not bind 127.0.0.1:%d within %ds: %s" %
                             (self.name, self.port, timeout,
                              self.log_tail()))

    def _bound(self):
        """UDP and TCP sockets of ours bound to the port: ready, without
        sending anything that could reach an upstream."""
        mine = _socket_inodes(self.pid)
        udp = tcp = False
        for f, kind in (("/proc/net/udp", "u"), ("/proc/net/udp6", "u"),
                        ("/proc/net/tcp", "t"), ("/proc/net/tcp6", "t")):
            for line in proc_lines(f):
                p = line.split()
                if int(p[1].rsplit(":", 1)[1], 16) != self.port:
                    continue
                if int(p[9]) not in mine:
                    continue
                if kind == "u":
                    udp = True
                elif int(p[3], 16) == 0x0A:	# LISTEN
                    tcp = True
        return udp and tcp

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        """The log up to its last whole line: one being written is left
        for the next read."""
        try:
            with open(self.log, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[:data.rfind(b"\n") + 1].decode(errors="replace")

    def log_tail(self, n=20):
        return tail(self.log, n)

    def log_lines(self, pattern, since=0):
        """Log lines from line number since on matching regex pattern."""
        lines = self.log_text().splitlines()[since:]
        return [l for l in lines if re.search(pattern, l)]

    def log_count(self):
        """Lines logged so far (a mark for log_lines and wait_log)."""
        return len(self.log_text().splitlines())

    def wait_log(self, pattern, timeout, since=0):
        """Wait until a log line from line number since on matches regex
        pattern; returns the first such line."""
        found = wait_for(lambda: self.log_lines(pattern, since),
                         timeout * SLOW, interval=0.02,
                         what="%s to log /%s/" % (self.name, pattern))
        return found[0]

    def stats_lines(self):
        return [l for l in self.log_text().splitlines() if "stats:" in l]

    def stats_now(self, timeout=2):
        """SIGUSR1, then the new stats line as a dict."""
        before = len(self.stats_lines())
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: len(self.stats_lines()) > before, timeout * SLOW,
                 what="a stats line after SIGUSR1")
        return parse_stats(self.stats_lines()[-1])

    def stop(self, within=1.0):
        """SIGTERM; must exit 0 within `within` s (more under a
        sanitizer: LeakSanitizer scans the heap at exit).  Returns final
        stats."""
        check(self.proc is not None, "not started")
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.terminate()
            try:
                self.proc.wait(within * SLOW * (3 if under_asan() else 1))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._logf.close()
                raise AssertionError("%s still running %.1fs after SIGTERM"
                                     % (self.name, time.monotonic() - t0))
        self._logf.close()
        self.returncode = self.proc.returncode
        check(self.returncode == 0, "%s exited with status %d: %s" % (
            self.name, self.returncode, self.log_tail()))
        lines = self.stats_lines()
        check(lines, "%s logged no stats line at exit" % self.name)
        self.final_stats = parse_stats(lines[-1])
        return self.final_stats

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
            self._logf.close()

    # convenience: a query that must be answered
    def udp(self, name, qtype="A", timeout=2.0, **kw):
        m = udp_query(self.port, name, qtype, timeout, **kw)
        if m is None:
            raise AssertionError("%s: no UDP answer to %s %s within %.1fs"
                                 % (self.name, name, qtype, timeout))
        return m

    def tcp(self, name, qtype="A", timeout=3.0, **kw):
        return tcp_query(self.port, name, qtype, timeout, **kw)

    def doh_connections(self, port):
        return tcp_connections_to(self.pid, port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.kill()


# ---------------------------------------------------------------- runner


def timeout(seconds):
    """Decorator: bound a test's run time (default 30 s)."""
    def deco(f):
        f.timeout = seconds
        return f
    return deco


def _alarm(signum, frame):
    raise TestTimeout("test took too long")


def _call_bounded(f, seconds):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds * (SLOW if SLOW > 1 else 1))
    try:
        f()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def main(ns):
    """Run the test_* functions of module namespace ns (in definition
    order; argv may name a subset), with setup_module()/teardown_module()
    around them.  Exits 1 if any failed."""
    tests = [(n, f) for n, f in ns.items()
             if n.startswith("test_") and callable(f)]
    wanted = sys.argv[1:]
    if wanted:
        tests = [(n, f) for n, f in tests
                 if n in wanted or n[5:] in wanted]
    verbose = os.environ.get("DOHSTUB_VERBOSE") == "1"
    passed = failed = 0
    setup_err = None
    if "setup_module" in ns:
        try:
            _call_bounded(ns["setup_module"], 60)
        except BaseException as e:
            setup_err = "setup: %s: %s" % (type(e).__name__, e)
            traceback.print_exc()
    for name, f in tests:
        if setup_err:
            print("FAIL %s: %s" % (name, setup_err), flush=True)
            failed += 1
            continue
        first = len(_daemons)
        try:
            _call_bounded(f, getattr(f, "timeout", 30))
        except Skip as e:
            print("SKIP %s: %s" % (name, e), flush=True)
        except Exception as e:
            failed += 1
            reason = str(e).split("\n")[0] or type(e).__name__
            if not isinstance(e, AssertionError):
                reason = "%s: %s" % (type(e).__name__, reason)
            print("FAIL %s: %s" % (name, reason), flush=True)
            if verbose or not isinstance(e, AssertionError):
                traceback.print_exc(limit=4)
            rest = str(e).split("\n")[1:]
            for l in rest:
                print("  | " + l)
            for d in _daemons[first:]:
                if not rest:
                    print("  | %s log (%s):" % (d.name, d.log))
                    for l in d.log_tail(12).splitlines():
                        print("  | " + l)
        else:
            passed += 1
            print("PASS %s" % name,
                  flush=True)
        finally:
            for d in _daemons[first:]:
                d.kill()
    if "teardown_module" in ns:
        try:
            ns["teardown_module"]()
        except Exception as e:
            print("teardown: %s" % e)
    _kill_children()
    if os.environ.get("DOHSTUB_KEEP") == "1" and _tmpdir:
        print("lab directory kept: %s" % _tmpdir)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
