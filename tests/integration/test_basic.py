#!/usr/bin/python3
"""dohstub in encrypted-only mode in front of unbound's DoH: answers,
truncation, IDs, EDNS, TCP pipelining, one multiplexed connection under a
burst, bad queries, real tools, GET."""

import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, make_query  # noqa: E402

U = None	# unbound (DoH)
D = None	# the daemon under test


def settings(**extra):
    s = {"mode": "encrypted-only", "upstream": U.url, "resolve": U.resolve,
         "ca-file": lab.certs().ca_pem}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def setup_module():
    global U, D
    U = lab.Unbound("unbound", plain=False).start()
    D = lab.Dohstub(settings(), name="dohstub").start()


def teardown_module():
    if D:
        D.kill()
    if U:
        U.stop()


def expect_answer(m, qid, values, rtype="A", rcode=0, what=""):
    check(m is not None, "%s: no answer" % what)
    check(m.qr, "%s: QR not set: %r" % (what, m))
    check(m.id == qid, "%s: id %d, want %d" % (what, m.id, qid))
    check(m.rcode == rcode, "%s: rcode %s, want %s: %r" % (
        what, m.rcode_name, lab.RCODES[rcode], m))
    check(not m.tc, "%s: TC set: %r" % (what, m))
    got = m.values(rtype)
    check(got == values, "%s: %s %r, want %r" % (what, rtype, got, values))


def test_a():
    q = make_query("www.lab.test", "A", qid=0x1234)
    m = lab.udp_exchange(D.port, q, timeout=3)
    expect_answer(m, 0x1234, [lab.WWW_A], what="A")
    check(m.question == [("www.lab.test.", 1, 1)], "question %r" %
          m.question)
    check(m.rd, "RD not copied")


def test_aaaa():
    m = D.udp("www.lab.test", "AAAA", qid=0x2345)
    expect_answer(m, 0x2345, [lab.WWW_AAAA], "AAAA", what="AAAA")


def test_nxdomain():
    m = D.udp("nope.lab.test", "A", qid=77)
    expect_answer(m, 77, [], rcode=3, what="NXDOMAIN")
    check([r.tname for r in m.authority] == ["SOA"],
          "no SOA in authority: %r" % m.authority)


def test_cname():
    m = D.udp("alias.lab.test", "A", qid=78)
    expect_answer(m, 78, [lab.WWW_A], what="CNAME")
    check(m.values("CNAME") == ["www.lab.test."], "no CNAME: %r" % m)
    check([r.tname for r in m.answer] == ["CNAME", "A"], "order %r" %
          m.answer)


def test_client_id_echoed():
    # the daemon forwards with ID 0 and must put the client's ID back
    for qid in (1, 0xFFFF, 0x8000, 0x00FF, 0):
        m = D.udp("www.lab.test", "A", qid=qid)
        expect_answer(m, qid, [lab.WWW_A], what="udp id %d" % qid)
        m = D.tcp("www.lab.test", "A", qid=qid)
        expect_answer(m, qid, [lab.WWW_A], what="tcp id %d" % qid)


def test_opt_iff_query_had_one():
    for transport in (D.udp, D.tcp):
        m = transport("www.lab.test", "A")
        check(m is not None, "no answer")
        check(m.opt is None, "%s: OPT in answer to a query without: %r" %
              (transport.__name__, m.additional))
        m = transport("www.lab.test", "A", edns=1232)
        check(m is not None and m.opt is not None, "%s: no OPT in answer to EDNS query" %
              transport.__name__)
        check(m.values("A") == [lab.WWW_A], repr(m))
        m = transport(lab.unique_name(), "A", edns=4096, do=True)
        check(m.opt is not None and m.values("A") == [lab.WILD_ADDR],
              "DO query: %r" % m)


def test_big_txt_udp_without_edns():
    m = D.udp("big.lab.test", "TXT", qid=500)
    check(m is not None and m.id == 500 and m.qr, "no answer: %r" % m)
    check(m.tc, "TC not set on a 4.5 KB answer over UDP: %r" % m)
    check(len(m.wire) <= 512, "%d bytes without EDNS" % len(m.wire))
    check(m.opt is None, "OPT in a truncated answer to a non-EDNS query")


def test_big_txt_udp_edns_1232():
    m = D.udp("big.lab.test", "TXT", qid=501, edns=1232)
    check(m is not None and m.id == 501, "no answer: %r" % m)
    check(m.tc, "TC not set: %r" % m)
    check(len(m.wire) <= 1232, "%d bytes with EDNS 1232" % len(m.wire))
    check(m.opt is not None, "no OPT in the answer to an EDNS query")


def test_edns_size_capped():
    # medium is ~2.3 KB: fits the client's 4096 but not the 1232 cap
    m = D.udp("medium.lab.test", "TXT", qid=502, edns=4096)
    check(m is not None and m.id == 502, "no answer")
    check(m.tc and len(m.wire) <= 1232,
          "client EDNS 4096 not capped at edns-udp-size 1232: TC=%s %d "
          "bytes" % (m.tc, len(m.wire)))
    # a small EDNS size is honoured too (but never below 512)
    m = D.udp("medium.lab.test", "TXT", qid=503, edns=600)
    check(m.tc and len(m.wire) <= 600, "EDNS 600: TC=%s %d bytes" %
          (m.tc, len(m.wire)))


def test_edns_udp_size_setting():
    d = lab.Dohstub(settings(edns_udp_size=4096), name="dohstub-edns4096")
    d.start()
    m = d.udp("medium.lab.test", "TXT", qid=504, edns=4096)
    check(m is not None and not m.tc and
          len(m.values("TXT")) == lab.MEDIUM_TXT_COUNT,
          "edns-udp-size 4096: %r" % m)
    m = d.udp("big.lab.test", "TXT", qid=505, edns=4096)
    check(m.tc and len(m.wire) <= 4096,
          "big with 4096: TC=%s %d bytes" % (m.tc, len(m.wire)))
    d.stop()


def test_big_txt_tcp():
    m = D.tcp("big.lab.test", "TXT", qid=506)
    check(m.id == 506 and m.rcode == 0 and not m.tc, "TCP: %r" % m)
    txt = sorted(v[0] for v in m.values("TXT"))
    want = sorted(lab.txt_string(i) for i in range(lab.BIG_TXT_COUNT))
    check(txt == want, "TCP: %d of %d TXT records" % (len(txt), len(want)))
    # and the same after a UDP truncation, as a resolver would retry
    m = D.udp("big.lab.test", "TXT", qid=507, edns=1232)
    check(m.tc, "UDP not truncated")
    m = D.tcp("big.lab.test", "TXT", qid=507, edns=1232)
    check(not m.tc and len(m.values("TXT")) == lab.BIG_TXT_COUNT,
          "TCP retry: %r" % m)


def test_tcp_pipelined():
    names = [("www.lab.test", "A", [lab.WWW_A]),
             ("www.lab.test", "AAAA", [lab.WWW_AAAA]),
             ("alias.lab.test", "A", [lab.WWW_A]),
             ("nope.lab.test", "A", [])]
    names += [(lab.unique_name("pipe"), "A", [lab.WILD_ADDR])
              for _ in range(6)]
    qs, want = [], {}
    for i, (n, t, v) in enumerate(names):
        qid = 3000 + i * 7
        qs.append(make_query(n, t, qid=qid))
        want[qid] = (n, t, v)
    ans = lab.tcp_exchange(D.port, qs, timeout=5)
    check(len(ans) == 10, "%d answers" % len(ans))
    check(sorted(a.id for a in ans) == sorted(want), "ids %r" %
          [a.id for a in ans])
    for a in ans:
        n, t, v = want[a.id]
        check(a.question and a.question[0][0] == n + ".",
              "id %d answers %r, asked %s" % (a.id, a.question, n))
        check(a.values(t) == v, "id %d: %r" % (a.id, a))


@lab.timeout(30)
def test_udp_burst_one_connection():
    qs, want = [], {}
    for i in range(200):
        qid = 10000 + i
        if i % 4 == 3:
            n, v = "www.lab.test", lab.WWW_A
        else:
            n, v = lab.unique_name("burst%d" % i), lab.WILD_ADDR
        qs.append(make_query(n, "A", qid=qid))
        want[qid] = (n, v)
    seen = []	# connection counts sampled while the burst runs
    done = threading.Event()

    def sample():
        while not done.is_set():
            seen.append(D.doh_connections(U.doh_port))
            time.sleep(0.01)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    try:
        got = lab.udp_burst(D.port, qs, timeout=10)
    finally:
        done.set()
        sampler.join()
    took = time.monotonic() - t0
    conns = max(seen + [D.doh_connections(U.doh_port)])
    lab.note("burst of 200 answered in %.3fs; connection samples %r" % (
        took, sorted(set(seen))))
    missing = sorted(set(want) - set(got))
    check(not missing, "%d of 200 unanswered (first ids %r)" % (
        len(missing), missing[:5]))
    bad = [(m.id, m.rcode_name, m.values("A")) for m in got.values()
           if m.rcode != 0 or m.values("A") != [want[m.id][1]] or
           m.question[0][0] != want[m.id][0] + "."]
    check(not bad, "%d wrong answers, e.g. %r" % (len(bad), bad[:3]))
    check(conns == 1, "daemon held up to %d connections to the DoH port, "
          "want 1 (burst took %.2fs, %d samples)" % (conns, took, len(seen)))


def _no_reply(wire, what):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.connect(("127.0.0.1", D.port))
        s.send(wire)
        try:
            data = s.recv(65535)
        except socket.timeout:
            return
        check(False, "%s: got a %d-byte reply, want none" % (what,
                                                              len(data)))
    finally:
        s.close()


def _rcode(wire, rcode, what):
    qid = struct.unpack(">H", wire[:2])[0]
    m = lab.udp_exchange(D.port, wire, timeout=2)
    check(m is not None, "%s: no reply" % what)
    check(m.qr and m.id == qid, "%s: id %d qr %s" % (what, m.id, m.qr))
    check(m.rcode == rcode, "%s: %s, want %s" % (what, m.rcode_name,
                                                 lab.RCODES[rcode]))
    check(not m.answer, "%s: has answers" % what)


def test_bad_queries():
    good = make_query("www.lab.test", "A", qid=600)
    _no_reply(good[:11], "11-byte datagram")
    _no_reply(make_query("www.lab.test", "A", qid=601, qr=True), "QR set")
    _rcode(make_query("www.lab.test", "A", qid=602, opcode=5), 4,
           "opcode 5 (UPDATE)")
    _rcode(make_query("www.lab.test", "A", qid=603, qdcount=0), 1,
           "QDCOUNT 0")
    two_q = make_query("www.lab.test", "A", qid=604)
    two_q = two_q[:4] + struct.pack(">H", 2) + two_q[6:] + \
        lab.encode_name("x.lab.test") + struct.pack(">HH", 1, 1)
    _rcode(two_q, 1, "QDCOUNT 2")
    _rcode(make_query("www.lab.test", "A", qid=605, edns=1232,
                      extra_ar=lab.opt_rr(1232), extra_arcount=1), 1,
           "two OPT records")
    long_name = ".".join(["a" * 63] * 5)	# 321 bytes on the wire
    _rcode(make_query(long_name, "A", qid=606), 1, "name over 255 bytes")
    m = lab.udp_exchange(D.port, good, timeout=2)
    expect_answer(m, 600, [lab.WWW_A], what="valid query afterwards")


def test_kdig_and_dig():
    k = lab.kdig(D.port, "www.lab.test", "A", "+short")
    d = lab.dig(D.port, "www.lab.test", "A", "+short")
    check(k.returncode == 0 and k.stdout.split() == [lab.WWW_A],
          "kdig: %r %r" % (k.stdout, k.stderr))
    check(d.returncode == 0 and d.stdout.split() == [lab.WWW_A],
          "dig: %r %r" % (d.stdout, d.stderr))
    k = lab.kdig(D.port, "+tcp", "alias.lab.test", "A", "+short")
    check(k.stdout.split() == ["www.lab.test.", lab.WWW_A],
          "kdig +tcp CNAME: %r" % k.stdout)
    # dig retries over TCP after TC=1
    d = lab.dig(D.port, "big.lab.test", "TXT", "+noall", "+answer")
    n = len([l for l in d.stdout.splitlines() if "TXT" in l])
    check(n == lab.BIG_TXT_COUNT, "dig big TXT: %d records" % n)


def test_method_get():
    d = lab.Dohstub(settings(method="get"), name="dohstub-get").start()
    expect_answer(d.udp("www.lab.test", "A", qid=700), 700, [lab.WWW_A],
                  what="GET A")
    m = d.udp("alias.lab.test", "A", qid=701, edns=1232)
    expect_answer(m, 701, [lab.WWW_A], what="GET CNAME")
    m = d.tcp("big.lab.test", "TXT", qid=702)
    check(len(m.values("TXT")) == lab.BIG_TXT_COUNT, "GET big: %r" % m)
    expect_answer(d.udp("nope.lab.test", "A", qid=703), 703, [], rcode=3,
                  what="GET NXDOMAIN")
    st = d.stop()
    check(st.get("answered_doh", 0) >= 3 and st.get("servfail", -1) == 0,
          "GET stats %r" % st)


def test_ipv6_and_second_listener():
    lab.need_ipv6_loopback()
    port6 = lab.free_port()
    d = lab.Dohstub(settings(listen=["127.0.0.1:%d" % lab.free_port(),
                                     "[::1]:%d" % port6]),
                    name="dohstub-v6")
    d.port = port6	# wait for (and query) the IPv6 one
    d.start()
    m = lab.udp_exchange(port6, make_query("www.lab.test", "AAAA", qid=31),
                         host="::1")
    expect_answer(m, 31, [lab.WWW_AAAA], "AAAA", what="over ::1 UDP")
    m = lab.tcp_exchange(port6, [make_query("alias.lab.test", qid=32)],
                         host="::1")[0]
    expect_answer(m, 32, [lab.WWW_A], what="over ::1 TCP")
    port4 = int(d.settings["listen"][0].rsplit(":", 1)[1])
    m = lab.udp_exchange(port4, make_query("www.lab.test", qid=33))
    expect_answer(m, 33, [lab.WWW_A], what="over the first listener")
    d.stop()


def test_tcp_idle_timeout():
    d = lab.Dohstub(settings(tcp_idle_timeout="500ms"),
                    name="dohstub-idle").start()
    s = socket.create_connection(("127.0.0.1", d.port), 2 * lab.SLOW)
    try:
        q = make_query("www.lab.test", qid=41)
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", lab._recv_exact(s, 2))[0]
        expect_answer(lab.parse(lab._recv_exact(s, n)), 41, [lab.WWW_A],
                      what="TCP")
        t0 = time.monotonic()
        s.settimeout(3 * lab.SLOW)
        try:
            data = s.recv(100)
        except socket.timeout:
            check(False, "idle TCP connection still open after 3 s with "
                  "tcp-idle-timeout 500ms")
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - t0
        check(data == b"", "unexpected data %r" % data)
        check(0.3 <= took <= 1.5 * lab.SLOW, "closed after %.2fs with "
              "tcp-idle-timeout 500ms" % took)
    finally:
        s.close()
    d.stop()


def _udp_rcvbuf(port):
    """The kernel's receive buffer of the UDP socket on port (ss -m)."""
    out = lab.run(["ss", "-uanm", "sport = :%d" % port]).stdout
    m = re.search(r"\brb(\d+)", out)
    check(m, "no UDP socket on port %d in ss output: %r" % (port, out))
    return int(m.group(1))


def test_udp_rcvbuf():
    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    for size, want in ((192 * 1024, 192 * 1024), (3 * 1024 * 1024,
                                                  3 * 1024 * 1024)):
        d = lab.Dohstub(settings(**{"udp-rcvbuf": str(size)}),
                        name="dohstub-rcvbuf").start()
        got = _udp_rcvbuf(d.port)
        # Linux doubles what it was given; without CAP_NET_ADMIN it
        # caps the request at rmem_max.
        if os.geteuid() != 0:
            want = min(want, rmem_max)
        check(got == 2 * want, "udp-rcvbuf %d: the socket has rb%d, want "
              "rb%d" % (size, got, 2 * want))
        check(d.udp("www.lab.test").values("A") == [lab.WWW_A],
              "no answer with udp-rcvbuf %d" % size)
        d.stop()


STAT_KEYS = ("answered_doh", "answered_fallback", "servfail", "over_limit",
             "truncated", "fallback_activations", "formerr", "notimp",
             "dropped")


def test_sigusr1_stats():
    st = D.stats_now()
    missing = [k for k in STAT_KEYS if k not in st]
    check(not missing, "stats line lacks %r: %r" % (missing,
                                                    D.stats_lines()[-1]))
    check(D.running(), "daemon died on SIGUSR1")
    m = D.udp("www.lab.test", "A")
    check(m is not None and m.values("A") == [lab.WWW_A],
          "no answer after SIGUSR1")


def test_sigint_stops():
    d = lab.Dohstub(settings(), name="dohstub-sigint").start()
    check(d.udp("www.lab.test").values("A") == [lab.WWW_A], "no answer")
    t0 = time.monotonic()
    d.proc.send_signal(lab.signal.SIGINT)
    try:
        # more time under a sanitizer: LeakSanitizer scans at exit
        rc = d.proc.wait(1.0 * lab.SLOW * (3 if lab.under_asan() else 1))
    except lab.subprocess.TimeoutExpired:
        check(False, "still running %.1fs after SIGINT" % (
            time.monotonic() - t0))
    check(rc == 0, "SIGINT: exit status %d after %.2fs" % (
        rc, time.monotonic() - t0))
    check(d.stats_lines(), "no stats line at exit")


def test_shutdown_and_final_stats():
    st = D.stop()	# SIGTERM: exit 0 within 1 s
    want = {"answered_fallback": 0, "fallback_activations": 0,
            "servfail": 0, "over_limit": 0}
    wrong = {k: st.get(k) for k, v in want.items() if st.get(k) != v}
    check(not wrong, "want %r, got %r" % (want, wrong))
    low = {"answered_doh": 150, "truncated": 4, "formerr": 4, "notimp": 1,
           "dropped": 2}
    wrong = {k: st.get(k) for k, v in low.items() if st.get(k, -1) < v}
    check(not wrong, "counters below %r: %r" % (low, wrong))


if __name__ == "__main__":
    lab.main(globals())
