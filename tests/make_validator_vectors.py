#!/usr/bin/python3
"""Make tests/validator_vectors.h and the seeds of fuzz/corpus/validator/
from the signed lab (tests/integration/dnsseclab.py), run as root:

    /usr/bin/python3 tests/make_validator_vectors.py

The lab is built and bind9 started; every question is sent over TCP to
its plain-DNS port with RD, CD and EDNS DO set, as the daemon's chain
queries will be:
- each CASE's question.  bind, authoritative, stops a CNAME chain at its
  zone's edge, so each CNAME (or DNAME) target is asked too and the
  answers joined into the one message a recursive resolver would give:
  every hop's answer records, the last hop's authority and rcode;
- DS and DNSKEY for every name from the root to each case's name and
  its CNAME targets (more than a walk needs; the test asks only what the
  validator asks for, and fails on a need it lacks).
Also a "keytrap" DNSKEY answer (nsec.test.'s, its RRSIG repeated with
broken signatures) for the budget test.

Written: the lab's anchor (the root KSK's DS line and its DNSKEY line,
text for dnssec_anchor_parse), the time of the capture (inside every signature's
window but the expired and not-yet-valid cases' own), each answer keyed
by name and type, each case's expected verdict and EDE.  Public data only
(the keys die with the lab).  Each fuzz seed: the case's answer, then the
answers of its chain, each as a 2-byte length and the message.
"""
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "integration"))
import lab  # noqa: E402
import dnsseclab  # noqa: E402

HEADER = os.path.join(HERE, "validator_vectors.h")
CORPUS = os.path.join(TOP, "fuzz", "corpus", "validator")
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
         "AAAA": 28, "DNAME": 39, "DS": 43, "RRSIG": 46, "DNSKEY": 48}


def query(name, qtype):
    q = (struct.pack(">HHHHHH", 0, 0x0110, 1, 0, 0, 1) +
         lab.encode_name(name) + struct.pack(">HH", qtype, 1) +
         lab.opt_rr(4096, do=True))
    return q


def ask(port, name, qtype):
    m = lab.tcp_exchange(port, [query(name, qtype)], timeout=5)[0]
    return m


def name_wire_at(msg, off):
    """(uncompressed wire, offset after) of the name at off."""
    text, end = lab._read_name(msg, off)
    return lab.encode_name(text), end


NAMED_RDATA = {2: 1, 5: 1, 12: 1, 39: 1, 6: 2, 15: None}


def records(m, section):
    """Records of a section, uncompressed: (owner text, type, wire)."""
    w = m.wire
    off = 12
    for _ in range(m.qdcount):
        _, off = lab._read_name(w, off)
        off += 4
    out = []
    counts = [m.ancount, m.nscount, m.arcount]
    for si, cnt in enumerate(counts):
        for _ in range(cnt):
            owner, o = name_wire_at(w, off)
            t, c, ttl, rdlen = struct.unpack(">HHIH", w[o:o + 10])
            rs = o + 10
            rdata = w[rs:rs + rdlen]
            if t in (2, 5, 12, 39):
                rdata, _ = name_wire_at(w, rs)
            elif t == 6:
                a, e = name_wire_at(w, rs)
                b, e = name_wire_at(w, e)
                rdata = a + b + w[e:rs + rdlen]
            elif t == 15:
                a, _ = name_wire_at(w, rs + 2)
                rdata = w[rs:rs + 2] + a
            if si == section and t != 41:
                out.append((lab._read_name(w, off)[0].lower(), t,
                            owner + struct.pack(">HHIH", t, c, ttl,
                                                len(rdata)) + rdata))
            off = rs + rdlen
    return out


def joined(port, qname, qtype):
    """The case's answer, CNAME/DNAME targets followed (names asked along
    the way are returned too)."""
    first = ask(port, qname, qtype)
    an, names = [], [qname]
    m, name = first, qname.lower()
    for _ in range(8):
        recs = records(m, 0)
        an += [r for r in recs if r[2] not in [x[2] for x in an]]
        target = None
        cur = name
        for _ in range(8):
            cn = [r for r in recs if r[0] == cur and r[1] == 5]
            if not cn or qtype == 5:
                break
            rec = cn[0][2]
            t, _ = lab._read_name(rec, len(lab.encode_name(cur)) + 10)
            cur = t.lower()
        if cur != name and not [r for r in recs
                                if r[0] == cur and r[1] == qtype]:
            target = cur
        if target is None:
            break
        names.append(target)
        name = target
        m = ask(port, target, qtype)
    ns = records(m, 1)
    flags = (first.flags & ~0xf) | m.rcode
    q = lab.encode_name(qname) + struct.pack(">HH", qtype, 1)
    wire = (struct.pack(">HHHHHH", 0, flags, 1, len(an), len(ns), 1) + q +
            b"".join(r[2] for r in an) + b"".join(r[2] for r in ns) +
            lab.opt_rr(4096, do=True))
    return wire, names


def suffixes(name):
    labels = [x for x in name.rstrip(".").split(".") if x]
    return ["."] + [".".join(labels[i:]) + "." for i in
                    range(len(labels) - 1, -1, -1)]


def keytrap(m):
    """m's DNSKEY answer with its RRSIG records repeated, each broken."""
    an = records(m, 0)
    keys = [r[2] for r in an if r[1] == 48]
    # the KSK's signature: the one a DS leads to
    tags = set()
    for k in keys:
        rd = k[len(lab.encode_name("nsec.test.")) + 10:]
        if rd[1] & 1:
            tags.add(dnsseclab.key_tag(rd))
    sigs = [r[2] for r in an if r[1] == 46 and struct.unpack(
        ">H", r[2][len(lab.encode_name("nsec.test.")) + 10 + 16:][:2])[0]
        in tags]
    bad = []
    for i in range(8):
        s = bytearray(sigs[0])
        s[-1 - i] ^= 0x55
        bad.append(bytes(s))
    recs = keys + bad
    w = m.wire
    qend = 12 + len(lab.encode_name(m.question[0][0])) + 4
    return (struct.pack(">HHHHHH", 0, m.flags, 1, len(recs), 0, 1) +
            w[12:qend] + b"".join(recs) + lab.opt_rr(4096, do=True))


def cstring(text):
    """text as C string literals of at most 64 characters a line."""
    return "\n".join('\t"%s"' % text[i:i + 64].replace("\n", "\\n")
                     for i in range(0, len(text), 64))


def carray(name, data):
    out = ["static const uint8_t %s[%d] = {" % (name, len(data))]
    for i in range(0, len(data), 12):
        out.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    out.append("};")
    return "\n".join(out)


def main():
    L = dnsseclab.DnssecLab().start()
    try:
        now = int(time.time())
        port = L.plain_port
        cases, chain = [], {}
        for cid, c in dnsseclab.CASES.items():
            wire, names = joined(port, c.qname, TYPES[c.qtype])
            cases.append((cid, c, wire))
            for n in names:
                for s in suffixes(n):
                    for t in (43, 48):
                        if (s, t) not in chain and not (s == "." and
                                                       t == 43):
                            chain[(s, t)] = ask(port, s, t).wire
        trap = keytrap(ask(port, "nsec.test.", 48))
        anchor = open(L.anchor_ds_file).read().strip()
        anchor_key = open(L.anchor_key_file).read().strip()
    finally:
        L.stop()
    h = ["/*",
         " * Made by tests/make_validator_vectors.py from the signed lab",
         " * (tests/integration/dnsseclab.py): public keys, signatures and",
         " * answers only.  Do not edit; run the script again.",
         " */",
         "#ifndef DOHSTUB_VALIDATOR_VECTORS_H",
         "#define DOHSTUB_VALIDATOR_VECTORS_H",
         "",
         "#include <stddef.h>",
         "#include <stdint.h>",
         "",
         "/* The capture's time: inside the signatures' windows. */",
         "#define VV_NOW %du" % now,
         "",
         "/* The root KSK, as a DS and as a DNSKEY. */",
         "static const char vv_anchor[] =",
         cstring(anchor + "\n") + ";",
         "static const char vv_anchor_key[] =",
         cstring(anchor_key + "\n") + ";",
         "",
         "struct vv_answer {",
         "\tconst char\t*name;",
         "\tuint16_t\t type;",
         "\tconst uint8_t\t*msg;",
         "\tsize_t\t\t len;",
         "};",
         "",
         "struct vv_case {",
         "\tconst char\t*id;",
         "\tconst char\t*qname;",
         "\tuint16_t\t qtype;",
         "\tconst char\t*verdict;",
         "\tint\t\t ede;",
         "\tconst uint8_t\t*msg;",
         "\tsize_t\t\t len;",
         "};",
         ""]
    for i, (k, w) in enumerate(sorted(chain.items())):
        h.append(carray("vv_chain_%d" % i, w))
    for i, (cid, c, w) in enumerate(cases):
        h.append(carray("vv_case_%d" % i, w))
    h.append(carray("vv_keytrap", trap))
    h.append("")
    h.append("static const struct vv_answer vv_answers[] = {")
    for i, (k, w) in enumerate(sorted(chain.items())):
        h.append('\t{ "%s", %d, vv_chain_%d, sizeof(vv_chain_%d) },' % (
            k[0], k[1], i, i))
    h.append("};")
    h.append("")
    h.append("static const struct vv_case vv_cases[] = {")
    for i, (cid, c, w) in enumerate(cases):
        h.append('\t{ "%s", "%s", %d, "%s", %d,\n\t    vv_case_%d, '
                 'sizeof(vv_case_%d) },' % (
                     cid, c.qname, TYPES[c.qtype], c.verdict,
                     -1 if c.ede is None else c.ede, i, i))
    h.append("};")
    h.append("")
    h.append("#endif")
    with open(HEADER, "w") as f:
        f.write("\n".join(h) + "\n")
    os.makedirs(CORPUS, exist_ok=True)
    for cid, c, w in cases:
        seed = struct.pack(">H", len(w)) + w
        for k in sorted(chain):
            if k[0] in suffixes(c.qname) or cid.startswith(("cname", "dname")):
                seed += struct.pack(">H", len(chain[k])) + chain[k]
        with open(os.path.join(CORPUS, "case_" + cid), "wb") as f:
            f.write(seed)
    with open(os.path.join(CORPUS, "keytrap"), "wb") as f:
        f.write(struct.pack(">H", len(trap)) + trap)
    print("%d cases, %d chain answers, now %d" % (len(cases), len(chain),
                                                  now))


if __name__ == "__main__":
    main()
