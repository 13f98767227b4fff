#!/usr/bin/env python3
"""Write the seeds of fuzz/corpus/nsec/: the denial proofs of
tests/test_nsec.c on the example zones of RFC 4035 Appendix A (NSEC)
and RFC 5155 Appendix A (NSEC3), in the input format of
fuzz/fuzz_nsec.c: qtype (2 bytes), wildcard labels (1), iteration
limit (1, modulo 32), zone and name (length byte, wire form), then
records (owner: length byte, wire form; RDATA: 2-byte length).
Leaves crash_* alone.  Stdlib only:  python3 fuzz/make_nsec_corpus.py
"""
import base64
import hashlib
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                   "nsec")
TYPES = {"A": 1, "NS": 2, "SOA": 6, "CNAME": 5, "HINFO": 13, "MX": 15,
         "AAAA": 28, "DNAME": 39, "DS": 43, "RRSIG": 46, "NSEC": 47,
         "DNSKEY": 48, "NSEC3PARAM": 51}
B32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                      b"0123456789abcdefghijklmnopqrstuv")
SALT = bytes.fromhex("aabbccdd")


def dname(name):
    out = b""
    for label in [x for x in name.split(".") if x]:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def bitmap(types):
    wins = {}
    for t in (TYPES[x] for x in types.split()):
        w = wins.setdefault(t >> 8, bytearray(32))
        w[(t & 0xff) >> 3] |= 0x80 >> (t & 7)
    out = b""
    for win in sorted(wins):
        bm = bytes(wins[win]).rstrip(b"\0")
        out += bytes([win, len(bm)]) + bm
    return out


def b32hex_decode(s):
    s = s.upper().translate(bytes.maketrans(
        b"0123456789ABCDEFGHIJKLMNOPQRSTUV",
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
    return base64.b32decode(s + "=" * (-len(s) % 8))


def nsec3_hash(name, iterations=12, salt=SALT):
    h = hashlib.sha1(dname(name.lower()) + salt).digest()
    for _ in range(iterations):
        h = hashlib.sha1(h + salt).digest()
    return base64.b32encode(h).translate(B32).decode().lower()


def nsec(owner, nxt, types):
    return dname(owner), dname(nxt) + bitmap(types)


def nsec3(owner, flags, nxt, types, alg=1, iterations=12, salt=SALT):
    rd = struct.pack(">BBHB", alg, flags, iterations, len(salt)) + salt
    h = b32hex_decode(nxt)
    rd += bytes([len(h)]) + h + bitmap(types)
    return dname(owner + ".example"), rd


CHAIN4035 = {
    "example": ("a.example", "NS SOA MX RRSIG NSEC DNSKEY"),
    "a.example": ("ai.example", "NS DS RRSIG NSEC"),
    "ai.example": ("b.example", "A HINFO AAAA RRSIG NSEC"),
    "b.example": ("ns1.example", "NS RRSIG NSEC"),
    "ns1.example": ("ns2.example", "A RRSIG NSEC"),
    "ns2.example": ("*.w.example", "A RRSIG NSEC"),
    "*.w.example": ("x.w.example", "MX RRSIG NSEC"),
    "x.w.example": ("x.y.w.example", "MX RRSIG NSEC"),
    "x.y.w.example": ("xx.example", "MX RRSIG NSEC"),
    "xx.example": ("example", "A HINFO AAAA RRSIG NSEC"),
}

CHAIN5155 = [
    ("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
     "MX DNSKEY NS SOA NSEC3PARAM RRSIG"),
    ("2t7b4g4vsa5smi47k61mv5bv1a22bojr", "2vptu5timamqttgl4luu9kg21e0aor3s",
     "A RRSIG"),
    ("2vptu5timamqttgl4luu9kg21e0aor3s", "35mthgpgcu1qg68fab165klnsnk3dpvl",
     "MX RRSIG"),
    ("35mthgpgcu1qg68fab165klnsnk3dpvl", "b4um86eghhds6nea196smvmlo4ors995",
     "NS DS RRSIG"),
    ("b4um86eghhds6nea196smvmlo4ors995", "gjeqe526plbf1g8mklp59enfd789njgi",
     "MX RRSIG"),
    ("gjeqe526plbf1g8mklp59enfd789njgi", "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
     "HINFO A AAAA RRSIG"),
    ("ji6neoaepv8b5o6k4ev33abha8ht9fgc", "k8udemvp1j2f7eg6jebps17vp3n8i58h",
     ""),
    ("k8udemvp1j2f7eg6jebps17vp3n8i58h", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
     ""),
    ("kohar7mbb8dc2ce8a9qvl8hon4k53uhi", "q04jkcevqvmu85r014c7dkba38o0ji5r",
     "A RRSIG"),
    ("q04jkcevqvmu85r014c7dkba38o0ji5r", "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
     "A RRSIG"),
    ("r53bq7cc2uvmubfu5ocmm6pers9tk9en", "t644ebqk9bibcna874givr6joj62mlhv",
     "MX RRSIG"),
    ("t644ebqk9bibcna874givr6joj62mlhv", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
     "A HINFO AAAA RRSIG"),
]


def n4(*owners):
    return [nsec(o, *CHAIN4035[o]) for o in owners]


def n5(flags, *prefixes):
    out = []
    for p in prefixes:
        for owner, nxt, types in CHAIN5155:
            if owner.startswith(p):
                out.append(nsec3(owner, flags, nxt, types))
    return out


def seed(qtype, labels, max_iter, qname, records, zone="example"):
    out = struct.pack(">HBB", TYPES.get(qtype, 0), labels, max_iter)
    for name in (zone, qname):
        w = dname(name)
        out += bytes([len(w)]) + w
    for owner, rd in records:
        out += bytes([len(owner)]) + owner + struct.pack(">H", len(rd)) + rd
    return out


def main():
    # The hashes the RFC gives, as a check on this script.
    assert nsec3_hash("example") == "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
    assert nsec3_hash("*.w.example") == "r53bq7cc2uvmubfu5ocmm6pers9tk9en"
    c_example = nsec3_hash("c.example")
    seeds = {
        "nsec_nxdomain_ml": seed("MX", 0, 0, "ml.example",
                                 n4("b.example", "example")),
        "nsec_nxdomain_gap": seed("MX", 0, 0, "ml.example",
                                  n4("b.example")),
        "nsec_nxdomain_wrap": seed("A", 0, 0, "zz.example",
                                   n4("xx.example", "example")),
        "nsec_nxdomain_below_cut": seed("A", 0, 0, "mc.b.example",
                                        n4("b.example", "example")),
        "nsec_nodata_ns1_mx": seed("MX", 0, 0, "ns1.example",
                                   n4("ns1.example")),
        "nsec_nodata_ent": seed("A", 0, 0, "y.w.example",
                                n4("x.w.example")),
        "nsec_nodata_wildcard": seed("AAAA", 2, 0, "a.z.w.example",
                                     n4("x.y.w.example", "*.w.example")),
        "nsec_wildcard_answer": seed("MX", 2, 0, "a.z.w.example",
                                     n4("x.y.w.example")),
        "nsec_delegation_b": seed("DS", 0, 0, "b.example",
                                  n4("b.example")),
        "nsec_root_ds": seed("DS", 0, 0, "", [nsec("", "aaa",
                             "NS SOA RRSIG NSEC DNSKEY")], zone=""),
        "nsec_whole_chain": seed("A", 2, 0, "a.z.w.example",
                                 n4(*CHAIN4035)),
        "nsec3_b1_nxdomain": seed("A", 0, 12, "a.c.x.w.example",
                                  n5(0, "0p9m", "b4um", "35mt")),
        "nsec3_b1_optout": seed("A", 0, 12, "a.c.x.w.example",
                                n5(1, "0p9m", "b4um", "35mt")),
        "nsec3_b1_gap": seed("A", 0, 12, "a.c.x.w.example",
                             n5(0, "0p9m", "b4um")),
        "nsec3_b2_nodata": seed("MX", 0, 12, "ns1.example", n5(1, "2t7b")),
        "nsec3_b21_ent": seed("A", 0, 12, "y.w.example", n5(1, "ji6n")),
        "nsec3_b3_optout": seed("DS", 0, 12, "c.example",
                                n5(1, "35mt", "0p9m")),
        "nsec3_b4_wildcard": seed("MX", 2, 12, "a.z.w.example",
                                  n5(0, "q04j")),
        "nsec3_b5_wildcard_nodata": seed("AAAA", 2, 12, "a.z.w.example",
                                         n5(1, "k8ud", "q04j", "r53b")),
        "nsec3_b6_apex_ds": seed("DS", 0, 12, "example", n5(1, "0p9m")),
        "nsec3_delegation_match": seed("DS", 0, 12, "c.example", [
            nsec3(c_example, 0, "b4um86eghhds6nea196smvmlo4ors995",
                  "NS RRSIG")]),
        "nsec3_iterations_over": seed("A", 0, 11, "a.c.x.w.example",
                                      n5(0, "0p9m", "b4um", "35mt")),
        "nsec3_unknown_alg": seed("A", 0, 12, "a.c.x.w.example", [
            nsec3(CHAIN5155[0][0], 0, CHAIN5155[0][1], "A", alg=2)]),
        "nsec3_whole_chain": seed("AAAA", 2, 12, "a.z.w.example",
                                  n5(1, *(c[0][:4] for c in CHAIN5155))),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
