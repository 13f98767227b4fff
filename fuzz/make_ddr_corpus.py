#!/usr/bin/env python3
"""Write the hand-built seeds of fuzz/corpus/ddr/: answers to the DDR
query (_dns.resolver.arpa SVCB), one per case of tests/test_ddr.c.
Leaves unbound_* (captured from a real server) and crash_* alone.
Stdlib only:  python3 fuzz/make_ddr_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ddr")
SVCB, A, CNAME, HTTPS = 64, 1, 5, 65


def dname(name):
    out = b""
    for label in name.split(".") if name else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(flags=0x8180, an=0, ar=0):
    return struct.pack(">HHHHHH", 0x1234, flags, 1, an, 0, ar) + \
        dname("_dns.resolver.arpa") + struct.pack(">HH", SVCB, 1)


def rr(rtype, rdata, owner=None, ttl=300):
    o = b"\xc0\x0c" if owner is None else dname(owner)
    return o + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def param(key, value):
    return struct.pack(">HH", key, len(value)) + value


def alpn(*ids):
    return param(1, b"".join(bytes([len(i)]) + i.encode() for i in ids))


def port(p):
    return param(3, struct.pack(">H", p))


def v4(*addrs):
    return param(4, b"".join(bytes(int(x) for x in a.split(".")) for a in addrs))


def v6(n):
    return param(6, b"".join(b"\x20\x01\x0d\xb8" + b"\0" * 11 + bytes([i + 1])
                             for i in range(n)))


def path(p):
    return param(7, p.encode())


def svcb(prio, target, *params, owner=None, ttl=300):
    return rr(SVCB, struct.pack(">H", prio) + dname(target) + b"".join(params),
              owner, ttl)


def msg(*records, flags=0x8180):
    return header(flags, len(records)) + b"".join(records)


DOH = (alpn("h2"), path("/dns-query{?dns}"))

SEEDS = {
    "doh_verified": msg(svcb(1, "doh.example", alpn("h2"), port(8443),
                             v4("192.0.2.1"), path("/dns-query{?dns}"))),
    "dot_only": msg(svcb(1, "doh.example", alpn("dot"), path("/q{?dns}"))),
    "no_alpn": msg(svcb(1, "doh.example", port(853))),
    "h3_only": msg(svcb(1, "doh.example", alpn("h3"), param(2, b""),
                        path("/dns-query{?dns}"))),
    "no_dohpath": msg(svcb(1, "doh.example", alpn("h2"))),
    "dohpath_no_dns": msg(svcb(1, "doh.example", alpn("h2"),
                               path("/dns-query"))),
    "dohpath_amp": msg(svcb(1, "doh.example", alpn("h3", "h2"),
                            path("/q?ct=1{&dns}"))),
    "mandatory_unknown": msg(
        svcb(1, "new.example", param(0, b"\xfd\xe8"), *DOH,
             param(65000, b"\x01x\"")),
        svcb(2, "doh.example", *DOH)),
    "mandatory_ech": msg(svcb(1, "new.example", param(0, b"\0\5"),
                              alpn("h2"), param(5, b"\1\2\3\4"),
                              path("/dns-query{?dns}"))),
    "mandatory_absent": msg(svcb(1, "doh.example", param(0, b"\0\3"), *DOH)),
    "keys_out_of_order": msg(svcb(1, "doh.example", port(443), alpn("h2"))),
    "key_twice": msg(svcb(1, "doh.example", alpn("h2"), alpn("h3"))),
    "priority_order": msg(svcb(3, "three.example", *DOH),
                          svcb(1, "one.example", *DOH),
                          svcb(2, "two.example", *DOH)),
    "ten_records": msg(*[svcb(i, "n.example", *DOH)
                         for i in range(10, 0, -1)]),
    "opportunistic_root": msg(svcb(1, "", alpn("h2"), v4("192.168.1.1"),
                                   path("/dns-query{?dns}"))),
    "root_and_named": msg(svcb(1, "", *DOH), svcb(1, "doh.lan", *DOH)),
    "others": msg(rr(A, b"\xc0\0\2\1"), svcb(1, "doh.example", *DOH),
                  rr(HTTPS, b"\0\1\0")),
    "alias": msg(svcb(1, "doh.example", *DOH), svcb(0, "alias.example")),
    "ttl_low": msg(svcb(1, "doh.example", *DOH, ttl=5)),
    "hints_many": msg(svcb(1, "doh.example", alpn("h2"), port(4443),
                           v4(*["192.0.2.%d" % i for i in range(1, 7)]),
                           v6(4), path("/dns-query{?dns}"))),
    "target_pointer": msg(rr(SVCB, b"\0\1\3doh\xc0\x0c" + b"".join(DOH))),
    "rdata_cut": msg(svcb(1, "doh.example", alpn("h2")))[:-2],
    "param_past_rdata": msg(rr(SVCB, b"\0\1" + dname("doh.example") +
                               alpn("h2") + b"\0\7\0\x14/dns-query")),
    "wrong_owner": msg(svcb(1, "doh.example", *DOH,
                            owner="_dns.doh.example")),
    "owner_case": msg(svcb(1, "doh.example", *DOH,
                           owner="_DNS.Resolver.ARPA")),
    "cname": msg(rr(CNAME, dname("ddr.example")),
                 svcb(1, "doh.example", *DOH, owner="ddr.example")),
    "nxdomain": header(0x8183),
    "servfail": header(0x8182),
    "truncated_tc": msg(svcb(1, "doh.example", *DOH), flags=0x8380),
    "target_escaped": msg(svcb(1, "doh example.test", alpn("h2", "a\\b,c"),
                               param(2, b""), path("/dns-query{?dns}"))),
    "port_zero": msg(svcb(1, "doh.example", alpn("h2"), port(0),
                          path("/dns-query{?dns}"))),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
