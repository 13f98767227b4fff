#!/usr/bin/env python3
"""Write the seed corpora for the dnsmsg fuzz targets (query, answer,
tcpframe, name), the cache's (cache) and local's (local).

Usage: fuzz/make_corpus.py [corpus-dir]   (default: fuzz/corpus beside this)

Seeds are real-looking queries and answers plus every malformed case the
unit tests cover.  Files are rewritten in place; crash regressions copied
into the corpus by hand have other names and are left alone.
"""

import os
import struct
import sys

QR, TC, RD, RA, CD = 0x8000, 0x0200, 0x0100, 0x0080, 0x0010
A, NS, CNAME, SOA, TXT, AAAA, OPT, IXFR = 1, 2, 5, 6, 16, 28, 41, 251
IN = 1


def header(id_, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", id_, flags, qd, an, ns, ar)


def name(s):
    out = b""
    for label in s.rstrip(".").split(".") if s not in (".", "") else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr(off):
    return struct.pack("!H", 0xC000 | off)


def question(qname, qtype=A, qclass=IN):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def rr(owner, rtype, rdata, ttl=300, rclass=IN):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt(size=1232, do=False, version=0, rdata=b""):
    ttl = (version << 16) | (0x8000 if do else 0)
    return rr(b"\0", OPT, rdata, ttl=ttl, rclass=size)


def query(qname, qtype=A, edns=None, do=False, id_=0x1234, flags=RD):
    msg = header(id_, flags, ar=1 if edns else 0) + question(qname, qtype)
    if edns:
        msg += opt(edns, do)
    return msg


# Offset of the question name in every message: right after the header.
QNAME = 12


def queries():
    www = "www.example.com."
    q = {}
    q["a_plain"] = query(www)
    q["aaaa_edns_do"] = query(www, AAAA, edns=1232, do=True)
    q["txt_edns4096"] = query("example.org.", TXT, edns=4096)
    q["ns_root"] = query(".", NS, edns=512)
    q["a_mixed_case"] = query("WwW.ExAmPlE.CoM.", id_=0)
    q["a_trailing_bytes"] = query(www) + b"\xde\xad\xbe\xef"
    q["a_tc_set"] = query(www, flags=RD | TC)
    q["a_cd_set"] = query(www, flags=RD | CD, edns=1232, do=True)
    q["edns_cookie"] = (header(1, RD, ar=1) + question(www) +
                        opt(1232, rdata=struct.pack("!HH", 10, 8) + b"c" * 8))
    q["edns_version1"] = (header(1, RD, ar=1) + question(www) +
                          opt(1232, version=1))
    # BADVERS (RFC 6891 6.1.3), or what goes before it.
    q["edns_version1_do_cookie"] = (
        header(1, RD | CD, ar=1) + question(www, AAAA) +
        opt(4096, do=True, version=1,
            rdata=struct.pack("!HH", 10, 8) + b"c" * 8))
    q["edns_version255"] = (header(1, RD, ar=1) + question(www) +
                            opt(512, version=255))
    q["notify_edns_version1"] = (header(2, 4 << 11, ar=1) +
                                 question("example.com.", SOA) +
                                 opt(1232, version=1))
    q["bad_edns_version1_two_opt"] = (header(1, RD, ar=2) + question(www) +
                                      opt(1232, version=1) + opt())
    q["edns_size1"] = query(www, edns=1)
    q["edns_size65535"] = query(www, edns=65535)
    q["additional_compressed"] = (header(1, RD, ar=2) + question(www) +
                                  opt() + rr(ptr(QNAME), A, b"\x7f\0\0\1"))
    q["name_255"] = (header(1, 0) + b"\x3f" + b"x" * 63 + b"\x3f" +
                     b"x" * 63 + b"\x3f" + b"x" * 63 + b"\x3d" + b"y" * 61 +
                     b"\0" + struct.pack("!HH", A, IN))
    q["escapes_in_name"] = (header(1, 0) + b"\4a.b\\\3\x01 \x7f\1\xff\0" +
                            struct.pack("!HH", A, IN))
    q["notify_with_answer"] = (header(2, 4 << 11, an=1) +
                               question("example.com.", SOA) +
                               rr(ptr(QNAME), SOA, b"\0" * 22))
    q["update_opcode5"] = query(www, edns=1232, do=True, flags=5 << 11)
    # IXFR (RFC 1995) carries the client's SOA in the authority section.
    soa = name("ns.example.com.") + name("admin.example.com.") + \
        struct.pack("!5I", 2026120101, 3600, 600, 86400, 300)
    q["ixfr_soa"] = (header(1, 0, ns=1) + question("example.com.", IXFR) +
                     rr(ptr(QNAME), SOA, soa))
    q["ixfr_soa_compressed_edns"] = (
        header(1, 0, ns=1, ar=1) + question("example.com.", IXFR) +
        rr(ptr(QNAME), SOA, ptr(QNAME) + ptr(QNAME) + soa[-20:]) + opt())
    q["bad_ixfr_soa_other_owner"] = (
        header(1, 0, ns=1) + question("example.com.", IXFR) +
        rr(name("example.org."), SOA, soa))
    q["bad_ixfr_soa_rdata_long"] = (
        header(1, 0, ns=1) + question("example.com.", IXFR) +
        rr(ptr(QNAME), SOA, soa + b"\0"))
    q["bad_ixfr_two_soa"] = (
        header(1, 0, ns=2) + question("example.com.", IXFR) +
        rr(ptr(QNAME), SOA, soa) + rr(ptr(QNAME), SOA, soa))
    q["bad_a_with_soa"] = (header(1, 0, ns=1) + question("example.com.") +
                           rr(ptr(QNAME), SOA, soa))
    # Bad inputs.
    q["bad_empty"] = b""
    q["bad_1byte"] = b"\x12"
    q["bad_11bytes"] = query(www)[:11]
    q["bad_qr_set"] = query(www, flags=QR | RD)
    q["bad_qdcount0"] = header(1, RD, qd=0)
    q["bad_qdcount2"] = header(1, RD, qd=2) + question("a.") + question("b.")
    q["bad_ancount1"] = (header(1, RD, an=1) + question("a.") +
                         rr(ptr(QNAME), A, b"\1\2\3\4"))
    q["bad_nscount1"] = (header(1, RD, ns=1) + question("a.") +
                         rr(ptr(QNAME), A, b"\1\2\3\4"))
    q["bad_label64"] = (header(1, 0) + b"\x40" + b"a" * 64 + b"\0" +
                        struct.pack("!HH", A, IN))
    q["bad_name256"] = (header(1, 0) + (b"\x3f" + b"x" * 63) * 3 +
                        b"\x3e" + b"y" * 62 + b"\0" +
                        struct.pack("!HH", A, IN))
    q["bad_ptr_loop"] = (header(1, 0) + b"\1a" + ptr(QNAME) +
                         struct.pack("!HH", A, IN))
    q["bad_ptr_forward"] = (header(1, 0) + ptr(18) +
                            struct.pack("!HH", A, IN) + name("a."))
    q["bad_ptr_past_end"] = header(1, 0) + ptr(400) + struct.pack("!HH", A, IN)
    q["bad_ptr_into_header"] = header(1, 0) + ptr(4) + struct.pack("!HH", A, IN)
    q["bad_ptr_half"] = header(1, 0) + b"\xc0"
    q["bad_label_0x40"] = header(1, 0) + b"\x41a\0" + struct.pack("!HH", A, IN)
    q["bad_label_0x80"] = header(1, 0) + b"\x81a\0" + struct.pack("!HH", A, IN)
    q["bad_trunc_label"] = query(www)[:18]
    q["bad_trunc_noroot"] = query(www)[:28]
    q["bad_trunc_class"] = query(www)[:-1]
    q["bad_two_opt"] = (header(1, RD, ar=2) + question(www) + opt() + opt())
    q["bad_opt_rdlen"] = (header(1, RD, ar=1) + question(www) +
                          b"\0" + struct.pack("!HHIH", OPT, 1232, 0, 8) +
                          b"\0\x0a\0\4")
    q["bad_opt_nonroot"] = (header(1, RD, ar=1) + question(www) +
                            rr(name("a."), OPT, b"", ttl=0, rclass=1232))
    q["bad_additional_cut"] = (header(1, RD, ar=1) + question(www) +
                               rr(ptr(QNAME), A, b"\1\2\3\4")[:-1])
    q["bad_counts65535"] = (struct.pack("!6H", 1, 0, 65535, 65535, 65535,
                                        65535) + question("."))
    q["bad_arcount65535"] = header(1, 0, ar=65535) + question(".")
    q["bad_notimp_counts65535"] = (header(1, 2 << 11, an=65535, ns=65535,
                                          ar=65535) + question("."))
    return q


def answer_to(qmsg, body):
    """An answer_corpus input: query length, query, answer."""
    assert len(qmsg) < 256
    return bytes([len(qmsg)]) + qmsg + body


def answers():
    www = "www.example.com."
    qa = query(www, edns=1232)
    qaaaa = query(www, AAAA, edns=1232, do=True)
    a = {}
    # www.example.com CNAME web.example.net, which CNAMEs to cdn; A records.
    cname1 = b"\3web\7example\3net\0"
    web = QNAME + 17 + 4 + 12            # offset of cname1 in the answer
    cdn = web + len(cname1) + 12         # offset of the second target
    chain = (header(0, QR | RD | RA, an=4, ar=1) + question(www) +
             rr(ptr(QNAME), CNAME, cname1) +
             rr(ptr(web), CNAME, b"\3cdn" + ptr(web + 4)) +
             rr(ptr(cdn), A, b"\xc0\0\2\1") +
             rr(ptr(cdn), A, b"\xc0\0\2\2") + opt())
    a["cname_chain"] = answer_to(qa, chain)
    a["aaaa_edns_do"] = answer_to(qaaaa, header(0, QR | RD | RA, an=1, ar=1) +
                                  question(www, AAAA) +
                                  rr(ptr(QNAME), AAAA, b"\x20\x01\x0d\xb8" +
                                     b"\0" * 11 + b"\1") + opt(do=True))
    txt = b"\x0bhello world\x05v=spf"
    a["txt"] = answer_to(query("example.org.", TXT),
                         header(0, QR | RD | RA, an=1) +
                         question("example.org.", TXT) +
                         rr(ptr(QNAME), TXT, txt))
    soa = (b"\2ns" + ptr(QNAME + 4) + b"\nhostmaster" + ptr(QNAME + 4) +
           struct.pack("!5I", 2024010101, 7200, 3600, 1209600, 300))
    a["nxdomain_soa"] = answer_to(query("nx.example.com.", edns=1232),
                                  header(0, QR | RD | RA | 3, ns=1, ar=1) +
                                  question("nx.example.com.") +
                                  rr(ptr(QNAME + 3), SOA, soa) + opt())
    a["servfail_no_question"] = answer_to(qa, header(0, QR | RA | 2, qd=0))
    records = b"".join(rr(ptr(QNAME), A, struct.pack("!I", i))
                       for i in range(180))
    a["big_3000"] = answer_to(qa, header(0, QR | RD | RA, an=180, ar=1) +
                              question(www) + records + opt())
    a["big_no_edns"] = answer_to(query(www), header(0, QR | RD | RA, an=180) +
                                 question(www) + records)
    a["case_different"] = answer_to(qa, header(0, QR | RD | RA, an=1) +
                                    question("WWW.EXAMPLE.COM.") +
                                    rr(ptr(QNAME), A, b"\1\2\3\4"))
    ok = header(0, QR | RD | RA, an=1) + question(www) + rr(ptr(QNAME), A,
                                                            b"\1\2\3\4")
    a["bad_qr0"] = answer_to(qa, header(0, RD, an=1) + ok[12:])
    a["bad_opcode"] = answer_to(qa, header(0, QR | 2 << 11, an=1) + ok[12:])
    a["bad_qdcount2"] = answer_to(qa, header(0, QR, qd=2, an=1) + ok[12:])
    a["bad_other_name"] = answer_to(query("www.example.org."), ok)
    a["bad_other_type"] = answer_to(query(www, AAAA), ok)
    a["bad_cut_short"] = answer_to(qa, ok[:-1])
    a["bad_cut_header"] = answer_to(qa, ok[:11])
    a["bad_compressed_question"] = answer_to(
        qa, header(0, QR) + ptr(18) + struct.pack("!HH", A, IN) + name(www))
    a["bad_owner_loop"] = answer_to(qa, header(0, QR, an=1) + question(www) +
                                    rr(ptr(QNAME + 21), A, b"\1\2\3\4"))
    a["bad_counts65535"] = answer_to(qa, header(0, QR, an=65535, ns=65535,
                                                ar=65535) + question(www))
    a["no_query"] = answer_to(b"", ok)
    return a


def frame(msg):
    return struct.pack("!H", len(msg)) + msg


def tcpframes():
    q1 = query("www.example.com.")
    q2 = query("example.org.", TXT, edns=1232, do=True)
    t = {}
    t["one"] = frame(q1)
    t["two_back_to_back"] = frame(q1) + frame(q2)
    t["partial_prefix"] = b"\0"
    t["partial_body"] = frame(q1)[:-3]
    t["complete_then_partial"] = frame(q1) + frame(q2)[:5]
    t["zero_prefix"] = b"\0\0" + q1
    t["complete_then_zero"] = frame(q1) + b"\0\0"
    t["max_prefix"] = b"\xff\xff" + q1
    t["bad_query_framed"] = frame(b"\x12\x34\x80") + frame(q1)
    return t


def names():
    """Names in text form, type and class names, and names in wire form."""
    t = {}
    t["www"] = b"www.example."
    t["root"] = b"."
    t["no_final_dot"] = b"www.example"
    t["escaped"] = b"a\\.b\\032c\\\\.example."
    t["zone_specials"] = b'a\\"\\(\\)\\;\\@\\$.'
    t["long"] = b"a." * 127
    t["label_63"] = b"a" * 63 + b".x."
    t["bad_label_64"] = b"a" * 64 + b"."
    t["bad_empty_label"] = b"a..b"
    t["bad_escape_short"] = b"a\\25"
    t["bad_escape_256"] = b"a\\256"
    t["bad_trailing_backslash"] = b"a\\"
    t["type_aaaa"] = b"aaaa"
    t["type_generic"] = b"TYPE65280"
    t["class_generic"] = b"CLASS7"
    t["wire_www"] = name("www.example.")
    t["wire_odd"] = b"\x04a.b\\\x03\x01 \x7f\x02\xffA\x00"
    t["wire_pointer"] = b"\xc0\x0c"
    t["wire_trailing"] = name("a.") + b"\x00"
    return t


def caches():
    """cache inputs: a control byte (fuzz_cache.c), then an answer."""
    EDNS, DO, CDBIT, PLAIN, CLAMP = 1, 2, 4, 8, 16
    www = "www.example.com."
    body = {k: v[1 + v[0]:] for k, v in answers().items()
            if not k.startswith("bad_") and k != "no_query"}
    c = {}
    c["a_cname_chain"] = bytes([0]) + body["cname_chain"]
    c["aaaa_edns_do"] = bytes([EDNS | DO]) + body["aaaa_edns_do"]
    c["txt_cd_clamp"] = bytes([EDNS | CDBIT | CLAMP]) + body["txt"]
    # The answer corpus's SOA has a broken RNAME pointer: no SOA to us.
    c["nxdomain_bad_soa"] = bytes([EDNS]) + body["nxdomain_soa"]
    nx = "nx.example.com."
    soa = (b"\2ns" + ptr(QNAME + 3) + b"\nhostmaster" + ptr(QNAME + 3) +
           struct.pack("!5I", 2024010101, 7200, 3600, 1209600, 300))
    nxdomain = (header(0, QR | RD | RA | 3, ns=1, ar=1) + question(nx) +
                rr(ptr(QNAME + 3), SOA, soa, ttl=3600) + opt())
    c["nxdomain_soa"] = bytes([EDNS]) + nxdomain
    c["nxdomain_soa_plain"] = bytes([PLAIN]) + nxdomain
    c["case_different"] = bytes([EDNS]) + body["case_different"]
    c["big_3000"] = bytes([EDNS]) + body["big_3000"]
    soa = (ptr(QNAME) + ptr(QNAME) +
           struct.pack("!5I", 2024010101, 7200, 3600, 1209600, 60))
    c["nodata_soa"] = bytes([EDNS | DO]) + (
        header(0, QR | RD | RA, ns=1) + question(www, AAAA) +
        rr(ptr(QNAME), SOA, soa, ttl=900))
    c["servfail"] = bytes([0]) + header(0, QR | RD | RA | 2) + question(www)
    META = 64   # stored as DNSSEC validation does: state, cap, no stale
    c["meta_aaaa_do"] = bytes([EDNS | DO | META]) + body["aaaa_edns_do"]
    c["meta_servfail"] = bytes([EDNS | DO | CDBIT | META]) + (
        header(0, QR | RD | RA | 2) + question(www))
    c["tc_set"] = bytes([EDNS]) + (header(0, QR | TC | RD | RA, an=1) +
                                   question(www) +
                                   rr(ptr(QNAME), A, b"\1\2\3\4"))
    c["opt_not_last"] = bytes([EDNS]) + (
        header(0, QR | RD | RA, an=1, ar=3) + question(www) +
        rr(ptr(QNAME), A, b"\1\2\3\4") + rr(ptr(QNAME), A, b"\5\6\7\10") +
        opt() + rr(ptr(QNAME), A, b"\11\12\13\14"))
    c["ttl_zero"] = bytes([0]) + (header(0, QR | RD | RA, an=1) +
                                  question(www) +
                                  rr(ptr(QNAME), A, b"\1\2\3\4", ttl=0))
    return c


def locals_():
    """Seeds for fuzz_local: names answered on the host, policy cases."""
    v6 = "1." + "0." * 31 + "ip6.arpa."
    q = {}
    q["localhost_a"] = query("localhost.")
    q["localhost_aaaa_edns"] = query("Foo.LocalHost.", AAAA, edns=1232,
                                     do=True)
    q["localhost_any"] = query("localhost.", 255)
    q["localhost_soa"] = query("localhost.", 6)
    q["ptr_v4_loopback"] = query("1.0.0.127.in-addr.arpa.", 12)
    q["ptr_v4_ent"] = query("0.0.127.in-addr.arpa.", 12, edns=512)
    q["ptr_v6_loopback"] = query(v6, 12)
    q["ptr_rfc1918"] = query("1.1.168.192.in-addr.arpa.", 12)
    q["ptr_172_31"] = query("9.9.31.172.in-addr.arpa.", 12)
    q["ptr_ula"] = query("1.0.0.d.f.ip6.arpa.", 12)
    q["ptr_linklocal"] = query("0.b.e.f.ip6.arpa.", 12)
    q["local_a"] = query("printer.local.")
    q["local_exempt"] = query("nas.LAB.local.")
    q["onion"] = query("x.onion.", edns=1232)
    q["invalid_apex_ns"] = query("invalid.", 2)
    q["home_arpa"] = query("router.home.arpa.")
    q["resolver_arpa_svcb"] = query("_dns.resolver.arpa.", 64)
    q["notlocalhost"] = query("notlocalhost.")
    q["xlocal"] = query("xlocal.")
    q["axfr"] = query("example.com.", 252)
    q["ixfr"] = query("example.com.", 251)
    q["ixfr_soa"] = queries()["ixfr_soa"]
    q["tsig"] = query("example.com.", 250, edns=1232)
    q["meta_128"] = query("example.com.", 128)
    q["chaos_txt"] = header(0x4242, RD) + question("version.bind.", TXT, 3)
    q["class_none"] = header(0x4343, RD) + question("localhost.", A, 254)
    q["class_any"] = header(0x4444, RD) + question("localhost.", A, 255)
    q["long_name_localhost"] = query(("a" * 63 + ".") * 3 + "a" * 51 +
                                     ".localhost.", A, edns=4096)
    return q


def rewrites():
    """The answer seeds, plus clients with options and padded answers."""
    www = "www.example.com."
    r = dict(answers())
    ecs = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + b"\xc0\0\2"
    cookie = struct.pack("!HH", 10, 8) + b"c" * 8
    qopts = (header(0x4242, RD | CD | 0x20, ar=1) + question("WwW.example.COM.") +
             opt(4096, do=True, rdata=ecs + cookie))
    pad = struct.pack("!HH", 12, 40) + b"\0" * 40
    body = (header(0, QR | RD | RA | CD, an=1, ar=2) + question(www) +
            rr(ptr(QNAME), A, b"\xc0\0\2\1") + opt(1232, rdata=pad) +
            rr(b"\0", 250, b"", ttl=0, rclass=255))
    r["options_padded"] = answer_to(qopts, body)
    r["no_edns_padded"] = answer_to(query(www), body)
    r["badvers"] = answer_to(qopts, header(0, QR | RA, ar=1) + question(www) +
                             rr(b"\0", OPT, b"", ttl=1 << 24, rclass=1232))
    return r


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for fname, data in seeds.items():
        with open(os.path.join(dirname, fname), "wb") as f:
            f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    write(os.path.join(top, "query"), queries())
    write(os.path.join(top, "answer"), answers())
    write(os.path.join(top, "rewrite"), rewrites())
    write(os.path.join(top, "tcpframe"), tcpframes())
    write(os.path.join(top, "name"), names())
    write(os.path.join(top, "cache"), caches())
    write(os.path.join(top, "local"), locals_())


if __name__ == "__main__":
    main()
