#!/usr/bin/env python3
"""Seeds for fuzz_strip (fuzz/fuzz_strip.c): two bytes of qtype, then an
answer.  The signed answers of tests/dnssec_vectors.h (read from the
dnssec corpus, which tests/make_dnssec_vectors.py writes) asked as A,
RRSIG and ANY; the unit test's answer whose names point into the records
taken out; a signed NXDOMAIN with NSEC3; a validated answer with an NS
set, its RRSIG and glue that dnsmsg_clean_validated() takes out (the
unit test's clean_answer); a plain answer of the answer corpus.
Rewrites only the files it names."""

import os
import struct

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(TOP, "fuzz", "corpus")
OUT = os.path.join(CORPUS, "strip")

A, NS, CNAME, SOA, MX, RRSIG, NSEC, NSEC3, ANY = 1, 2, 5, 6, 15, 46, 47, \
    50, 255
QR, RD, RA, AD = 0x8000, 0x0100, 0x0080, 0x0020


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr(off):
    return struct.pack("!H", 0xc000 | off)


def header(flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", 0, flags, qd, an, ns, ar)


def rr(owner, rtype, rdata, ttl=300):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def rrsig(covered, signer="example."):
    return (struct.pack("!HBBIIIH", covered, 13, 2, 300, 0x70000000,
                        0x60000000, 4242) + name(signer) + b"\xde\xad" * 32)


def opt(do=True):
    return b"\0" + struct.pack("!HHIH", 41, 1232, 0x8000 if do else 0, 0)


def pointers_into_stripped():
    """The unit test's answer (tests/test_dnsmsg.c, strip_answer)."""
    m = header(QR | RD | RA | AD, an=3, ns=2, ar=2)
    m += name("www.example.") + struct.pack("!HH", CNAME, 1)
    sig = len(m)
    m += rr(name("sig.example."), RRSIG, rrsig(CNAME))
    m += rr(ptr(12), CNAME, ptr(sig))
    m += rr(ptr(sig), A, bytes([192, 0, 2, 1]), ttl=60)
    zzz = len(m) + 2 + 10               # the NSEC's next name
    m += rr(ptr(16), NSEC, name("zzz.example.") + b"\0\1\x22", ttl=900)
    soa = (ptr(zzz) + b"\nhostmaster" + ptr(zzz + 4) +
           struct.pack("!5I", 1, 2, 3, 4, 5))
    m += rr(ptr(16), SOA, soa, ttl=900)
    m += rr(ptr(zzz), MX, struct.pack("!H", 10) + ptr(12), ttl=60)
    return m + opt()


def ns_and_glue():
    """The unit test's answer (tests/test_dnsmsg.c, clean_answer): names
    after the NS set point into its RDATA."""
    m = header(QR | RD | RA | AD, an=2, ns=5, ar=2)
    m += name("www.example.") + struct.pack("!HH", A, 1)
    m += rr(ptr(12), A, bytes([1, 2, 3, 4]))
    m += rr(ptr(12), RRSIG, rrsig(A))
    ns = len(m) + 12
    m += rr(ptr(16), NS, name("ns.example."))
    m += rr(ptr(16), RRSIG, rrsig(NS))
    soa = (ptr(ns) + b"\nhostmaster" + ptr(16) +
           struct.pack("!5I", 1, 2, 3, 4, 5))
    m += rr(ptr(16), SOA, soa, ttl=900)
    m += rr(ptr(16), RRSIG, rrsig(SOA), ttl=900)
    m += rr(ptr(16), NSEC, name("zzz.example.") + b"\0\1\x22", ttl=900)
    m += rr(ptr(ns), A, bytes([6, 6, 6, 6]))
    return m + opt()


def nsec3_nxdomain():
    """NXDOMAIN for nx.example.: SOA, three NSEC3 and their RRSIGs."""
    m = header(QR | RD | RA | AD | 3, ns=8, ar=1)
    m += name("nx.example.") + struct.pack("!HH", A, 1)
    zone = 12 + 3
    soa = name("ns.example.") + ptr(zone) + struct.pack("!5I", 1, 2, 3, 4,
                                                        300)
    m += rr(ptr(zone), SOA, soa, ttl=300)
    m += rr(ptr(zone), RRSIG, rrsig(SOA), ttl=300)
    for h in ("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
              "35mthgpgcu1qg68fab165klnsnk3dpvl",
              "b4um86eghhds6nea196smvmlo4ors995"):
        owner = bytes([32]) + h.encode() + ptr(zone)
        nsec3 = (struct.pack("!BBHB", 1, 0, 0, 0) + bytes([20]) +
                 b"\x11" * 20 + b"\0\1\x62")
        m += rr(owner, NSEC3, nsec3, ttl=300)
        m += rr(owner, RRSIG, rrsig(NSEC3), ttl=300)
    m += opt()
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    for alg in (8, 10, 13, 14, 15, 16):
        with open(os.path.join(CORPUS, "dnssec", "msg_alg%d" % alg),
                  "rb") as f:
            msg = f.read()[1:]
        seeds["signed_alg%d_a" % alg] = struct.pack("!H", A) + msg
    seeds["signed_alg13_rrsig"] = struct.pack("!H", RRSIG) + \
        seeds["signed_alg13_a"][2:]
    seeds["signed_alg13_any"] = struct.pack("!H", ANY) + \
        seeds["signed_alg13_a"][2:]
    seeds["pointers_into_stripped"] = struct.pack("!H", CNAME) + \
        pointers_into_stripped()
    seeds["pointers_into_stripped_nsec"] = struct.pack("!H", NSEC) + \
        pointers_into_stripped()
    seeds["nsec3_nxdomain"] = struct.pack("!H", A) + nsec3_nxdomain()
    seeds["ns_and_glue"] = struct.pack("!H", A) + ns_and_glue()
    with open(os.path.join(CORPUS, "answer", "cname_chain"), "rb") as f:
        data = f.read()
    seeds["unsigned_cname_chain"] = struct.pack("!H", A) + \
        data[1 + data[0]:]
    for n, data in sorted(seeds.items()):
        with open(os.path.join(OUT, n), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
