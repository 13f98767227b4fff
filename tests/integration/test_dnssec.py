#!/usr/bin/python3
"""dohstub with dnssec validate against the signed lab (dnsseclab.py):
named serves every zone over DoH, the lab root's key is dohstub's
trust-anchor, and for every case of dnsseclab.CASES dig (with +dnssec,
and without) and kdig get the case's rcode (SERVFAIL for a bogus one),
AD only on a secure answer to a client that set DO or AD, and the
case's Extended DNS Error on a bogus answer and on an insecure one that
has one (1, 2).  A second pass asks upstream again (other cache keys)
and sends no DS or DNSKEY query: the chain is warm.  CD=1 gets a bogus
answer unchecked.  Against named itself (which adds the zone's signed
NS set to answers without RD), validated answers keep no record that
validation did not judge.  And the lab's unbound, whose zones are unsigned
under a static root, gives SERVFAIL and a log line saying the upstream
strips DNSSEC data when dohstub validates against the real root's
keys."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402
import dnsseclab  # noqa: E402
from dnsseclab import BOGUS, CASES, INSECURE, SECURE  # noqa: E402

L = None
R = None
D = None
MPORT = None


class Resolver:
    """unbound as a recursive resolver over DoH (no validation of its
    own: iterator only) forwarding to the lab's named, as a DoH provider
    is: named, authoritative, stops a CNAME chain at its
    zone's edge; a resolver follows it, and so must dohstub's upstream
    for the chains that cross zones (cname-cross, dname, ...)."""

    def __init__(self, auth_port):
        c = lab.certs()
        self.doh_port = lab.free_port()
        self.dir = os.path.join(lab.tmpdir(), "resolver")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.log = os.path.join(self.dir, "unbound.log")
        lab.write_file(self.conf, "\n".join([
            "server:",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % self.dir,
            "  use-syslog: no",
            '  logfile: ""',
            '  pidfile: ""',
            "  verbosity: 1",
            "  do-ip6: no",
            "  do-daemonize: no",
            "  interface: 127.0.0.1@%d" % self.doh_port,
            "  https-port: %d" % self.doh_port,
            '  tls-service-key: "%s"' % c.server_key,
            '  tls-service-pem: "%s"' % c.server_chain,
            '  http-endpoint: "/dns-query"',
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  do-not-query-localhost: no",
            "  qname-minimisation: no",
            '  local-zone: "test." nodefault',	# RFC 6761's, built in
            "  so-reuseport: no",
            "  num-threads: 1",
            # forwarded, not iterated: named has every zone, and the
            # lab's NS names have no address
            "forward-zone:",
            '  name: "."',
            "  forward-addr: 127.0.0.1@%d" % auth_port,
            "remote-control:",
            "  control-enable: no",
        ]) + "\n")
        self.proc = None

    url = property(lambda self: "https://doh.test:%d/dns-query" %
                   self.doh_port)
    resolve = property(lambda self: "doh.test:%d:127.0.0.1" %
                       self.doh_port)

    def start(self):
        self._logf = open(self.log, "ab")
        self.proc = lab.spawn(["unbound", "-d", "-c", self.conf],
                              stdout=self._logf, stderr=lab.subprocess.STDOUT,
                              stdin=lab.subprocess.DEVNULL)
        lab.wait_for(lambda: lab.kdig_doh(
            self.doh_port, "www.nsec.test", "A", None, "doh.test",
            "+short", "+time=1").stdout.split() == [dnsseclab.ADDR["nsec"]],
            10, what="the resolver")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
            self._logf.close()


def setup_module():
    global L, R, D, MPORT
    L = dnsseclab.DnssecLab().start()
    R = Resolver(L.plain_port).start()
    MPORT = lab.free_port(udp_too=False)
    D = lab.Dohstub({"mode": "encrypted-only", "upstream": R.url,
                     "resolve": R.resolve, "ca-file": lab.certs().ca_pem,
                     "dnssec": "validate", "trust-anchor": L.anchor_file,
                     "metrics": "127.0.0.1:%d" % MPORT,
                     "log-level": "debug"},
                    name="dohstub-dnssec", cache=True).start()


def teardown_module():
    if D:
        D.stop()
    if R:
        R.stop()
    if L:
        L.stop()


class Reply:
    """dig's or kdig's text: rcode, header flags, EDE code, answers."""

    def __init__(self, text):
        self.text = text
        m = re.search(r"status: (\w+)", text)
        self.rcode = m.group(1) if m else None
        m = re.search(r";; [Ff]lags: ([\w ]*);", text)
        self.flags = m.group(1).split() if m else []
        m = re.search(r"EDE: (\d+)", text)
        self.ede = int(m.group(1)) if m else None

    def ad(self):
        return "ad" in self.flags

    def __repr__(self):
        return "<%s %s ede %s>\n%s" % (self.rcode, self.flags, self.ede,
                                       self.text)


def dig(c, *flags):
    return Reply(lab.dig(D.port, c.qname, c.qtype, *flags).stdout)


def kdig(c, *flags):
    return Reply(lab.kdig(D.port, c.qname, c.qtype, *flags).stdout)


def want_rcode(c):
    return "SERVFAIL" if c.verdict == BOGUS else c.rcode


def check_reply(name, c, r, ad, how):
    """r is c's answer to a client that set DO or AD (ad) or neither."""
    check(r.rcode == want_rcode(c), "%s %s: rcode %s, not %s: %r" % (
        name, how, r.rcode, want_rcode(c), r))
    check(r.ad() == (ad and c.verdict == SECURE), "%s %s: AD %s: %r" % (
        name, how, r.ad(), r))
    if c.verdict == BOGUS or (c.verdict == INSECURE and c.ede):
        check(r.ede == c.ede, "%s %s: EDE %s, not %s: %r" % (
            name, how, r.ede, c.ede, r))
    else:
        check(r.ede is None, "%s %s: EDE %s: %r" % (name, how, r.ede, r))


def chain_queries():
    return lab.metric(MPORT, "dohstub_dnssec_chain_queries_total")


@lab.timeout(120)
def test_cases():
    """Every case, three ways: dig +dnssec (DO, and AD: dig's default),
    then dig +noadflag without DO (another cache key: asked upstream
    again, the chain warm: no DS or DNSKEY query), then kdig +dnssec
    (DO, no AD flag: from the cache, its state kept)."""
    for name, c in sorted(CASES.items()):
        r = dig(c, "+dnssec")
        lab.note("%s: %s%s%s" % (name, r.rcode, " ad" if r.ad() else "",
                                 " EDE %d" % r.ede if r.ede is not None
                                 else ""))
        check_reply(name, c, r, True, "dig +dnssec")
        if c.verdict != BOGUS and c.sigs:
            check(re.search(r"^[^;].*\sIN\s+RRSIG\s", r.text, re.M),
                  "%s: no RRSIG with DO: %r" % (name, r))
    warm = chain_queries()
    check(warm > 0, "no chain query at all")
    for name, c in sorted(CASES.items()):
        r = dig(c, "+noadflag")
        check_reply(name, c, r, False, "dig")
        check(re.search(r"^[^;].*\sIN\s+(RRSIG|NSEC|NSEC3)\s", r.text,
                        re.M) is None,
              "%s: DNSSEC records without DO: %r" % (name, r))
        r = dig(c, "+adflag")
        check_reply(name, c, r, True, "dig +adflag")
    check(chain_queries() == warm, "the second pass asked %d chain "
          "queries" % (chain_queries() - warm))
    for name, c in sorted(CASES.items()):
        check_reply(name, c, kdig(c, "+dnssec"), True, "kdig +dnssec")
    check(chain_queries() == warm, "kdig asked chain queries")
    m = lab.metrics(MPORT)
    nb = sum(1 for c in CASES.values() if c.verdict == BOGUS)
    ns = sum(1 for c in CASES.values() if c.verdict == SECURE)
    check(m['dohstub_dnssec_answers_total{state="bogus"}'] == 4 * nb,
          "bogus answers %r" % m)
    check(m['dohstub_dnssec_answers_total{state="secure"}'] == 4 * ns,
          "secure answers %r" % m)
    check(m["dohstub_dnssec_signature_checks_total"] > 0, "no sig checks")


def sections(text):
    """dig's text: {"ANSWER": [(owner, type, covered), ...], "AUTHORITY":
    ..., "ADDITIONAL": ...}, covered the type an RRSIG covers."""
    out = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
    cur = None
    for line in text.splitlines():
        m = re.match(r";; (\w+) SECTION:", line)
        if m:
            cur = m.group(1) if m.group(1) in out else None
            continue
        if not line.strip():
            cur = None
            continue
        if cur is None or line.startswith(";"):
            continue
        f = line.split()
        out[cur].append((f[0].lower(), f[3],
                         f[4] if f[3] == "RRSIG" else None))
    return out


PROOF = ("SOA", "NSEC", "NSEC3")


@lab.timeout(60)
def test_validated_clean():
    """A validated answer (secure or insecure) keeps in its authority
    section only SOA, NSEC, NSEC3 and the RRSIGs covering them, and in
    its additional section nothing (the OPT aside).  named itself as the
    upstream (its zones need no resolver) adds each zone's signed NS set
    to the authority section of an answer to a query without RD: +cd
    shows it, unchecked; validation did not judge it, so a validated
    answer has none of it.  The answer section stays whole, AD kept."""
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": L.url,
                     "resolve": L.resolve, "ca-file": lab.certs().ca_pem,
                     "dnssec": "validate", "trust-anchor": L.anchor_file},
                    name="dohstub-dnssec-clean", cache=True).start()
    added = 0
    try:
        for name in ("nsec", "nsec3", "nsec-nodata", "nsec-nxdomain",
                     "unsigned"):
            c = CASES[name]
            raw = sections(lab.dig(d.port, c.qname, c.qtype, "+norec",
                                   "+dnssec", "+cd").stdout)
            added += sum(1 for rr in raw["AUTHORITY"]
                         if rr[1] not in PROOF and rr[2] not in PROOF)
            added += len(raw["ADDITIONAL"])
            for flags in (("+dnssec",), ("+nodnssec", "+adflag")):
                r = Reply(lab.dig(d.port, c.qname, c.qtype, "+norec",
                                  *flags).stdout)
                s = sections(r.text)
                check_reply(name, c, r, True, " ".join(flags))
                check(all(rr[1] in PROOF or rr[2] in PROOF
                          for rr in s["AUTHORITY"]) and
                      not s["ADDITIONAL"],
                      "%s %s: unvalidated records: %r" % (name, flags, r))
                check(len(s["ANSWER"]) == len(raw["ANSWER"]) or
                      "+nodnssec" in flags,
                      "%s: answer section changed: %r" % (name, r))
                for a in c.answer:
                    check(a in r.text, "%s: no %s: %r" % (name, a, r))
    finally:
        d.stop()
    lab.note("the upstream added %d NS or glue records" % added)
    check(added > 0, "the upstream added no NS set or glue: the test "
          "shows nothing")


@lab.timeout(30)
def test_cd_unchecked():
    """CD=1: the bogus answer as named gives it, unchecked, no AD."""
    for name in ("changed", "expired", "forged-nxdomain"):
        c = CASES[name]
        before = lab.metric(MPORT, "dohstub_dnssec_answers_total",
                            '{state="unchecked"}')
        r = dig(c, "+dnssec", "+cd")
        check(r.rcode == c.rcode and not r.ad() and r.ede is None,
              "%s +cd: %r" % (name, r))
        if c.answer:
            check(any(a in r.text for a in c.answer), "%s +cd: no "
                  "answer: %r" % (name, r))
        check(lab.metric(MPORT, "dohstub_dnssec_answers_total",
                         '{state="unchecked"}') == before + 1,
              "%s: not counted unchecked" % name)


@lab.timeout(30)
def test_bogus_cached():
    """A bogus answer is kept: asked again, nothing goes upstream."""
    c = CASES["cname-to-bogus"]
    r = dig(c, "+dnssec", "+nocookie")
    check(r.rcode == "SERVFAIL" and r.ede == c.ede, "first: %r" % r)
    before = lab.metric(MPORT, "dohstub_answers_total", '{path="doh"}')
    for i in range(3):
        r = dig(c, "+dnssec", "+nocookie")
        check(r.rcode == "SERVFAIL" and r.ede == c.ede, "again: %r" % r)
    check(lab.metric(MPORT, "dohstub_answers_total", '{path="doh"}') ==
          before, "a cached bogus answer went upstream")


@lab.timeout(60)
def test_query_log_and_lookup():
    """The query log and dohstub-control lookup say what validation
    said: secure, insecure, bogus (live and cached), unchecked (CD)."""
    dirn = os.path.join(lab.tmpdir(), "qlog-dnssec")
    os.makedirs(dirn, exist_ok=True)
    os.chmod(dirn, 0o1777)	# the writer runs as the dropped account
    path = os.path.join(dirn, "query.log")
    sock = os.path.join(dirn, "control")
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": R.url,
                     "resolve": R.resolve, "ca-file": lab.certs().ca_pem,
                     "dnssec": "validate", "trust-anchor": L.anchor_file,
                     "query-log": path, "control-socket": sock},
                    name="dohstub-dnssec-qlog", cache=True).start()
    try:
        asked = [("nsec", ()), ("unsigned", ()), ("changed", ()),
                 ("changed", ("+cd",)), ("nsec", ()), ("changed", ())]
        for name, flags in asked:
            lab.dig(d.port, CASES[name].qname, CASES[name].qtype,
                    "+dnssec", *flags)
        want = [("doh", "secure"), ("doh", "insecure"),
                ("error", "bogus"), ("doh", "unchecked"),
                ("cache", "secure"), ("cache", "bogus")]
        lab.wait_for(lambda: len(_lines(path)) >= len(want),
                     5 * lab.SLOW, what="%d lines in %s" % (len(want),
                                                            path))
        got = []
        for line in _lines(path):
            f = line.split()
            v = [x[len("dnssec="):] for x in f if x.startswith("dnssec=")]
            got.append((f[4], v[0] if v else None))
        check(got == want, "query log %r, not %r:\n%s" % (
            got, want, "\n".join(_lines(path))))
        check(" ede=%d dnssec=bogus" % CASES["changed"].ede in
              _lines(path)[2], "bogus line %r" % _lines(path)[2])
        ctlbin = os.environ.get("DOHSTUB_CONTROL_BIN") or os.path.join(
            os.path.dirname(lab.daemon_bin()), "dohstub-control")
        r = lab.run([ctlbin, "-s", sock, "lookup", CASES["nsec"].qname])
        check(r.returncode == 0 and "\ndnssec secure\n" in r.stdout,
              "lookup %s: %s%s" % (CASES["nsec"].qname, r.stdout, r.stderr))
    finally:
        d.stop()


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@lab.timeout(60)
def test_unsigned_upstream():
    """The lab's unbound (unsigned zones under a static root) with the
    real root's keys: every answer is bogus, the root's keys cannot be
    had, and the log says the upstream strips DNSSEC data, once."""
    with lab.Unbound() as u:
        d = lab.Dohstub({"mode": "encrypted-only", "upstream": u.url,
                         "resolve": u.resolve,
                         "ca-file": lab.certs().ca_pem,
                         "dnssec": "validate"},
                        name="dohstub-unsigned").start()
        try:
            for i in range(2):
                r = Reply(lab.dig(d.port, "www.lab.test", "A").stdout)
                check(r.rcode == "SERVFAIL" and r.ede in (9, 10),
                      "unsigned upstream: %r" % r)
            lab.wait_for(lambda: d.log_lines("strips DNSSEC data"), 5,
                         what="the strips line")
            lines = d.log_lines("strips DNSSEC data")
            check(len(lines) == 1 and u.url in lines[0], "%r" % lines)
            # process: the same upstream answers.
            r = Reply(lab.dig(d.port, "www.lab.test", "A",
                              "+cd").stdout)
            check(r.rcode == "NOERROR" and lab.WWW_A in r.text,
                  "+cd: %r" % r)
        finally:
            d.stop()


BEHIND = 1546300800 - int(time.time())	# 2019: the lab signs from 2020


@lab.timeout(60)
def test_clock_behind():
    """A machine without a real-time clock, its clock years behind (the
    shim sets it before 2020, when the lab's signatures begin), as it is
    until NTP sets it, and NTP needs names.  The DoH server's
    certificate looks not yet valid too, so under encrypted-preferred
    the fallback (named, plain DNS) answers.  The lab root's zone signed
    after the clock, which is proof enough: the clock is taken as
    behind, once, the log and the gauge say so, and the answers are
    secure, AD for dig and kdig.  A changed record stays bogus.  (The
    expired and not-yet-valid cases are not asked: from that far
    behind, the root's signature of 2020 is the latest time known, and
    both of their windows begin after it.)"""
    mport = lab.free_port(udp_too=False)
    d = lab.Dohstub({"mode": "encrypted-preferred", "upstream": L.url,
                     "resolve": L.resolve, "ca-file": lab.certs().ca_pem,
                     "fallback": "127.0.0.1:%d" % L.plain_port,
                     "dnssec": "validate", "trust-anchor": L.anchor_file,
                     "metrics": "127.0.0.1:%d" % mport},
                    name="dohstub-dnssec-behind",
                    env=lab.shim_env(SLEEPSHIM_WALL=BEHIND)).start()
    try:
        for name in ("nsec", "nsec3", "nsec-nxdomain", "changed"):
            c = CASES[name]
            for tool in (lab.dig, lab.kdig):
                r = Reply(tool(d.port, c.qname, c.qtype, "+dnssec").stdout)
                # EDE 0 says the answer came over plain DNS
                check(r.rcode == want_rcode(c) and
                      r.ad() == (c.verdict == SECURE) and
                      r.ede == (c.ede if c.verdict == BOGUS else 0),
                      "%s, clock behind: %r" % (name, r))
        check(lab.metric(mport, "dohstub_dnssec_clock_behind") == 1,
              "the gauge: %r" % lab.metric(mport,
                                            "dohstub_dnssec_clock_behind"))
        check(lab.metric(mport, "dohstub_dnssec_early_signatures_total") >
              0, "no early signature counted")
        check(lab.metric(mport, "dohstub_answers_total",
                         '{path="fallback"}') > 0,
              "DoH answered with a clock years behind its certificate")
        lines = d.log_lines("is taken as behind")
        check(len(lines) == 1 and "zone signed at 2020-01-01T00:00:00Z" in
              lines[0], "%r" % lines)
        lab.note(lines[0].strip())
    finally:
        d.stop()


if __name__ == "__main__":
    lab.main(globals())
