#!/usr/bin/env python3
"""Make the DNSSEC test vectors of tests/dnssec_vectors.h and the seeds of
fuzz/corpus/dnssec/ (msg_alg*, anchors_alg*).

For each algorithm (8, 10, 13, 14, 15, 16) a zone alg<N>.test. is signed
with a fresh KSK and ZSK by bind9-utils:

    dnssec-keygen -K DIR -a ALG [-b BITS] -f KSK alg<N>.test.
    dnssec-keygen -K DIR -a ALG [-b BITS] alg<N>.test.
    dnssec-signzone -K DIR -o alg<N>.test. -s 20200101000000 \\
        -e 20851231000000 -O full -f OUT ZONE
    dnssec-dsfromkey -a SHA-1|SHA-256|SHA-384 KSK.key

and its records are put into one DNS message the way a server might send
them: owner names in another case, names compressed where RFC 1035 lets a
server compress them, TTLs counted down, an RRset written out of canonical
order with a duplicate record, a wildcard expansion.  Only public keys,
signatures and DS records are written; the key directory, private keys
included, is deleted.  The validity window stays within 68 years of any
time the tests run at (2020 to 2085): RRSIG times are serial numbers (RFC
4034 3.1.5, RFC 1982), so an expiry more than 2^31 seconds after "now",
like 2099 from 2026, reads as already past.  Stdlib only, and bind9-utils:

    python3 tests/make_dnssec_vectors.py
"""
import base64
import calendar
import os
import shutil
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
HEADER = os.path.join(HERE, "dnssec_vectors.h")
CORPUS = os.path.join(TOP, "fuzz", "corpus", "dnssec")

ALGS = [
    (8, "RSASHA256", 2048, 1024),
    (10, "RSASHA512", 2048, 1280),
    (13, "ECDSAP256SHA256", None, None),
    (14, "ECDSAP384SHA384", None, None),
    (15, "ED25519", None, None),
    (16, "ED448", None, None),
]

TYPES = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "RRSIG": 46,
         "NSEC": 47, "DNSKEY": 48}

ZONE = """$TTL 3600
@	IN SOA ns.{z} hostmaster.{z} 1 3600 900 604800 300
@	IN NS ns.{z}
@	IN MX 10 Mail.{z}
ns	IN A 192.0.2.53
www	IN A 192.0.2.1
www	IN A 192.0.2.2
*.wild	IN TXT "wildcard"
"""


def run(*args, cwd=None):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def labels(name):
    return [l for l in name.rstrip(".").split(".") if l] if name != "." else []


class Msg:
    """A message writer with case-sensitive name compression."""

    def __init__(self):
        self.buf = bytearray()
        self.names = {}

    def name(self, name, compress=True):
        labs = labels(name)
        for i in range(len(labs)):
            suffix = ".".join(labs[i:])
            if compress and suffix in self.names:
                self.buf += struct.pack(">H", 0xc000 | self.names[suffix])
                return
            if len(self.buf) < 0x3fff:
                self.names.setdefault(suffix, len(self.buf))
            self.buf += bytes([len(labs[i])]) + labs[i].encode()
        self.buf += b"\0"


def epoch(s):
    return calendar.timegm(time.strptime(s, "%Y%m%d%H%M%S"))


def rdata(msg, rtype, fields):
    """Append RDATA of rtype to msg (for the RDLENGTH, written before)."""
    if rtype == "A":
        msg.buf += bytes(int(x) for x in fields[0].split("."))
    elif rtype == "NS":
        msg.name(fields[0])
    elif rtype == "MX":
        msg.buf += struct.pack(">H", int(fields[0]))
        msg.name(fields[1])
    elif rtype == "SOA":
        msg.name(fields[0])
        msg.name(fields[1])
        msg.buf += struct.pack(">IIIII", *(int(x) for x in fields[2:7]))
    elif rtype == "TXT":
        for f in fields:
            t = f.strip('"').encode()
            msg.buf += bytes([len(t)]) + t
    elif rtype == "DNSKEY":
        msg.buf += struct.pack(">HBB", int(fields[0]), int(fields[1]),
                               int(fields[2]))
        msg.buf += base64.b64decode("".join(fields[3:]))
    elif rtype == "RRSIG":
        msg.buf += struct.pack(">HBBIIIH", TYPES[fields[0]], int(fields[1]),
                               int(fields[2]), int(fields[3]),
                               epoch(fields[4]), epoch(fields[5]),
                               int(fields[6]))
        msg.name(fields[7], compress=False)
        msg.buf += base64.b64decode("".join(fields[8:]))
    elif rtype == "NSEC":
        msg.name(fields[0], compress=False)
        win = {}
        for t in fields[1:]:
            n = TYPES[t]
            win.setdefault(n >> 8, bytearray(32))[(n & 0xff) >> 3] |= \
                0x80 >> (n & 7)
        for w in sorted(win):
            bm = bytes(win[w]).rstrip(b"\0")
            msg.buf += bytes([w, len(bm)]) + bm
    else:
        raise ValueError(rtype)


def rr(msg, owner, rtype, ttl, fields, compress_owner=True):
    msg.name(owner, compress_owner)
    msg.buf += struct.pack(">HHI", TYPES[rtype], 1, ttl)
    at = len(msg.buf)
    msg.buf += b"\0\0"
    rdata(msg, rtype, fields)
    struct.pack_into(">H", msg.buf, at, len(msg.buf) - at - 2)


def make_message(zone, recs):
    """The answer a server could give to www.<zone> A, and then some."""
    m = Msg()
    m.buf += struct.pack(">HHHHHH", 0x4242, 0x8400, 1, 0, 0, 0)
    m.name("www." + zone)
    m.buf += struct.pack(">HH", 1, 1)
    an = 0

    def sigs(owner, covered):
        return [r for r in recs if r[0] == owner and r[2] == "RRSIG" and
                r[3][0] == covered]

    def one(name, rtype):
        return [r for r in recs if r[0] == name and r[2] == rtype]

    www = "www." + zone
    a = one(www, "A")
    # Out of canonical order, with a duplicate, owner in upper case.
    for r in [a[1], a[0], a[1]]:
        rr(m, www.upper(), "A", 1234, r[3])
        an += 1
    for r in sigs(www, "A"):
        rr(m, www, "RRSIG", 1234, r[3])
        an += 1
    # MX: owner and target compressed, the target in mixed case.
    for rtype in ["MX", "SOA", "NS", "DNSKEY", "NSEC"]:
        for r in one(zone, rtype):
            f = r[3]
            if rtype == "MX":
                f = [f[0], "MAIL." + zone]
            rr(m, zone, rtype, r[1] - 7, f)
            an += 1
        for r in sigs(zone, rtype):
            rr(m, zone, "RRSIG", r[1] - 7, r[3])
            an += 1
    # A wildcard expansion: foo.wild.<zone> from *.wild.<zone>.
    wild = "*.wild." + zone
    for r in one(wild, "TXT"):
        rr(m, "Foo.wild." + zone, "TXT", 60, r[3])
        an += 1
    for r in sigs(wild, "TXT"):
        rr(m, "foo.wild." + zone, "RRSIG", 60, r[3])
        an += 1
    struct.pack_into(">H", m.buf, 6, an)
    return bytes(m.buf)


def parse_zone(text):
    recs = []
    for line in text.splitlines():
        if not line or line.startswith(";"):
            continue
        f = line.split()
        recs.append((f[0].lower(), int(f[1]), f[3], f[4:]))
    return recs


def c_bytes(data, indent="\t"):
    out = []
    for i in range(0, len(data), 12):
        out.append(indent + " ".join("0x%02x," % b for b in data[i:i + 12]))
    return "\n".join(out)


def c_string(text):
    """Lines as C string literals within 80 columns (cut anywhere: the
    pieces are joined by the compiler, so no blank comes in)."""
    out = []
    for line in text.splitlines():
        line += "\\n"
        while len(line) > 66:
            out.append('\t"%s"' % line[:66])
            line = line[66:]
        out.append('\t"%s"' % line)
    return "\n".join(out)


def main():
    tmp = tempfile.mkdtemp(prefix="dnssec-vectors-")
    vectors = []
    try:
        for num, alg, kbits, zbits in ALGS:
            zone = "alg%d.test." % num
            d = os.path.join(tmp, str(num))
            os.mkdir(d)
            ka = ["-a", alg] + (["-b", str(kbits)] if kbits else [])
            za = ["-a", alg] + (["-b", str(zbits)] if zbits else [])
            ksk = run("dnssec-keygen", "-q", "-K", d, *ka, "-f", "KSK",
                      zone).strip()
            zsk = run("dnssec-keygen", "-q", "-K", d, *za, zone).strip()
            zf = os.path.join(d, "zone")
            with open(zf, "w") as f:
                f.write(ZONE.format(z=zone))
                f.write("$INCLUDE %s.key\n$INCLUDE %s.key\n" % (ksk, zsk))
            out = os.path.join(d, "signed")
            run("dnssec-signzone", "-q", "-K", d, "-o", zone,
                "-s", "20200101000000", "-e", "20851231000000",
                "-O", "full", "-f", out, zf, cwd=d)
            with open(out) as f:
                recs = parse_zone(f.read())
            anchors = ""
            for digest in ["SHA-1", "SHA-256", "SHA-384"]:
                anchors += run("dnssec-dsfromkey", "-a", digest,
                               os.path.join(d, ksk + ".key"))
            with open(os.path.join(d, ksk + ".key")) as f:
                keyline = [l for l in f.read().splitlines()
                           if l and not l.startswith(";")][0]
            anchors += keyline + "\n"
            msg = make_message(zone, recs)
            vectors.append((num, zone, int(ksk.split("+")[2]),
                            int(zsk.split("+")[2]), anchors, msg))
    finally:
        shutil.rmtree(tmp)

    os.makedirs(CORPUS, exist_ok=True)
    version = subprocess.run(["dnssec-signzone", "-V"], capture_output=True,
                             text=True).stderr.split()[1]
    h = ["/*",
         " * Generated by tests/make_dnssec_vectors.py (bind9-utils",
         " * " + version + "); do not edit.",
         " * Per algorithm: the zone, dnssec-keygen's key tags of the KSK",
         " * and the ZSK, the KSK's DS records (SHA-1, SHA-256, SHA-384,",
         " * dnssec-dsfromkey) and DNSKEY line as trust-anchor text, and an",
         " * answer holding signed RRsets of the zone.  Signatures are valid",
         " * from 2020-01-01 to 2085-12-31.",
         " */", ""]
    for num, zone, ktag, ztag, anchors, msg in vectors:
        h.append("static const uint8_t vec_msg_alg%d[] = {" % num)
        h.append(c_bytes(msg))
        h.append("};")
        h.append("")
        h.append("static const char vec_anchors_alg%d[] =" % num)
        h.append(c_string(anchors) + ";")
        h.append("")
        with open(os.path.join(CORPUS, "msg_alg%d" % num), "wb") as f:
            f.write(b"\x01" + msg)
        if num == 15:
            # Byte 0 & 2: checked at each RRSIG's inception.
            with open(os.path.join(CORPUS, "msg_alg15_at_inception"),
                      "wb") as f:
                f.write(b"\x03" + msg)
        with open(os.path.join(CORPUS, "anchors_alg%d" % num), "wb") as f:
            f.write(b"\x00" + anchors.encode())
    h.append("static const struct vector {")
    h.append("\tint\t\t alg;")
    h.append("\tconst char\t*zone;")
    h.append("\tuint16_t\t ksk_tag, zsk_tag;")
    h.append("\tconst char\t*anchors;")
    h.append("\tconst uint8_t\t*msg;")
    h.append("\tsize_t\t\t len;")
    h.append("} vectors[] = {")
    for num, zone, ktag, ztag, anchors, msg in vectors:
        h.append('\t{ %d, "%s", %d, %d, vec_anchors_alg%d,' %
                 (num, zone, ktag, ztag, num))
        h.append("\t    vec_msg_alg%d, sizeof(vec_msg_alg%d) }," % (num, num))
    h.append("};")
    with open(HEADER, "w") as f:
        f.write("\n".join(h) + "\n")


if __name__ == "__main__":
    main()
