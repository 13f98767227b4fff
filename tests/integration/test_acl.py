#!/usr/bin/python3
"""Access control against the real daemon: a source it denies (127.0.0.2,
a second loopback address) gets REFUSED with EDE 18 as dig shows it and
causes nothing upstream; the host itself is still answered."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402


def _ask_from(src, port, name, qid):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.settimeout(2)
        s.sendto(lab.make_query(name, qid=qid, edns=1232), ("127.0.0.1",
                                                          port))
        return lab.parse(s.recv(4096))
    finally:
        s.close()


def test_denied_source_refused_nothing_upstream():
    u = lab.Unbound("unbound-acl", plain=False).start()
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": u.url,
                     "resolve": u.resolve, "ca-file": lab.certs().ca_pem,
                     "deny": "127.0.0.2/32"}, name="dohstub-acl").start()
    try:
        m = _ask_from("127.0.0.1", d.port, "www.lab.test", 11)
        check(m.rcode == 0 and m.values("A") == [lab.WWW_A],
              "127.0.0.1: %r" % m)
        before = d.stats_now()
        m = _ask_from("127.0.0.2", d.port, "www.lab.test", 12)
        check(m.id == 12 and m.rcode == 5, "127.0.0.2: want REFUSED: %r" % m)
        r = lab.run(["dig", "@127.0.0.1", "-p", str(d.port), "-b",
                     "127.0.0.2", "+time=2", "+tries=1", "www.lab.test"])
        check("status: REFUSED" in r.stdout and "EDE: 18" in r.stdout,
              "dig -b 127.0.0.2 shows no REFUSED with EDE 18: %s" %
              r.stdout)
        after = d.stats_now()
        check(after["answered_doh"] == before["answered_doh"] and
              after.get("refused_acl") == 2,
              "refused queries went upstream or were not counted: %r" %
              after)
    finally:
        d.stop()
        u.stop()


if __name__ == "__main__":
    lab.main(globals())
