#!/usr/bin/python3
"""dohq --validate against the signed lab (dnsseclab.py): bind9 serves
the hierarchy over DoH with the lab's certificate, and dohq, with the
lab's trust anchor, fetches the chain over that connection and judges
each case as dohstub's validator must.

For every dnsseclab.CASES entry: the verdict dohq prints (in delv's
words, read back with dnsseclab.delv_verdict) and the Extended DNS
Error it names are the case's; the JSON form says the same, and its
chain is the text's; the exit status is 1 for bogus, 0 otherwise; the
chain names the zones from the root down and the key tags the lab made
(the root's KSK, the zone's KSK as DS and as the key that signed the
DNSKEY set).  Also: the DS-only and DNSKEY-only forms of the anchor,
the trust anchor of a configuration file, the built-in root anchor
(which the lab's root does not match), and usage errors.

DOHQ_BIN names the binary (ctest sets it); default ../../build/dohq.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402
import dnsseclab  # noqa: E402
from dnsseclab import BOGUS, CASES  # noqa: E402

EX_USAGE, EX_NOINPUT, EX_BOGUS, EX_HTTP = 64, 66, 1, 76
T_DS, T_DNSKEY = 43, 48

L = None


def dohq_bin():
    b = os.environ.get("DOHQ_BIN") or os.path.join(lab.HERE, "..", "..",
                                                   "build", "dohq")
    return os.path.abspath(b)


def setup_module():
    global L
    if not os.access(dohq_bin(), os.X_OK):
        raise lab.LabError("no dohq at %s (set DOHQ_BIN)" % dohq_bin())
    L = dnsseclab.DnssecLab("named-dohq-validate").start()


def teardown_module():
    if L:
        L.stop()


def dohq(*args, anchor=True, timeout=30):
    """dohq --validate at the lab's DoH port, the lab CA checked."""
    argv = [dohq_bin(), "@" + L.url, "--resolve", L.resolve, "--ca-file",
            lab.certs().ca_pem, "--validate"]
    if anchor:
        argv += ["--trust-anchor", L.anchor_file]
    return lab.run(argv + [str(a) for a in args], timeout=timeout)


def chain_lines(text):
    """The lines under ";; CHAIN OF TRUST:", without their "; "."""
    m = re.search(r"^;; CHAIN OF TRUST:\n((?:; .*\n)*)", text, re.M)
    check(m, "no chain of trust in:\n" + text)
    return [l[2:] for l in m.group(1).splitlines()]


def printed_ede(text):
    """The EDE code on the verdict lines (the first two), or None."""
    m = re.search(r"EDE (\d+)", "\n".join(text.splitlines()[:2]))
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- the lab

def labels(name):
    return [x for x in name.lower().split(".") if x]


def zone_of(qname):
    """The lab zone holding qname: the one whose name is its longest
    suffix."""
    q = labels(qname)
    zones = [z for z in L.zones
             if labels(z.name) == q[len(q) - len(labels(z.name)):]]
    return max(zones, key=lambda z: len(labels(z.name)))


def ksk(z):
    """(tag, algorithm) of the zone's KSK, from dnssec-keygen's file
    name K<zone>+<alg>+<tag>."""
    p = os.path.basename(z.keys[0]).split("+")
    return int(p[2]), int(p[1])


def plain_ds(z):
    """The parent's DS is the zone's KSK's, of an algorithm and digest
    dohstub checks: the chain then reaches the zone's keys."""
    return (z.denial is not None and z.ds in ("sha256", "sha1") and
            z.tamper != "alg12" and z.alg != 5)


def check_chain(name, c, chain):
    """The zones from the root down and their key tags."""
    text = "\n".join(chain)
    what = "%s: chain:\n%s" % (name, text)
    # the anchor, and the root's keys proved by it
    check(". DS %d/13/2 trust anchor" % L.key_tag in text, what)
    check(". DNSKEY key %d/13 ok" % L.key_tag in chain, what)
    if c.qname == ".":
        return
    tld_tag, tld_alg = ksk(zone_of("test."))
    check("test. DS secure %d/%d/2 ttl 300" % (tld_tag, tld_alg) in chain,
          what)
    check("test. DNSKEY key %d/%d ok" % (tld_tag, tld_alg) in chain, what)
    z = zone_of(c.qname)
    if z.denial is None or not plain_ds(z) and z.ds != "nokey":
        # unsigned, or a DS of an algorithm or digest not checked
        check(any(l.startswith(z.name + " DS insecure") for l in chain),
              what)
        return
    tag, alg = ksk(z)
    check(any(l.startswith("%s DNSKEY fetched:" % z.name) and
              " %d/%d KSK" % (tag, alg) in l for l in chain), what)
    if z.ds == "nokey":
        check(any(l.startswith(z.name + " DNSKEY bogus") for l in chain),
              what)
        return
    digest = 1 if z.ds == "sha1" else 2
    check("%s DS secure %d/%d/%d ttl 300" % (z.name, tag, alg, digest) in
          chain, what)
    check("%s DNSKEY key %d/%d ok" % (z.name, tag, alg) in chain, what)


# ---------------------------------------------------------------- tests

def test_cases():
    """Every case: verdict and EDE as the case says, in text and JSON,
    exit 1 for bogus only, the chain of trust named."""
    for name, c in CASES.items():
        r = dohq(c.qname, c.qtype)
        out = r.stdout
        what = "%s (%s %s): exit %d\n%s%s" % (name, c.qname, c.qtype,
                                              r.returncode, out, r.stderr)
        check(r.returncode == (EX_BOGUS if c.verdict == BOGUS else 0),
              what)
        check(dnsseclab.delv_verdict(out) == c.verdict, "verdict: " + what)
        check(printed_ede(out) == c.ede, "EDE: " + what)
        if c.verdict == BOGUS:
            check(out.startswith(";; resolution failed: EDE %d (" % c.ede),
                  what)
        elif c.rcode == "NXDOMAIN":
            check(out.startswith("; negative response, "), what)
        chain = chain_lines(out)
        check_chain(name, c, chain)
        # the addresses at the end of the chain are the case's
        for a in c.answer:
            check(re.search(r"\tIN\tA\t%s$" % re.escape(a), out, re.M),
                  "%s: no A %s in:\n%s" % (name, a, out))
        # RRSIGs printed with the records they cover
        for t in c.sigs:
            check(re.search(r"\tIN\tRRSIG\t%s " % t, out),
                  "%s: no RRSIG %s in:\n%s" % (name, t, out))

        j = dohq(c.qname, c.qtype, "--json")
        check(j.returncode == r.returncode, "%s --json: exit %d" % (
            name, j.returncode))
        o = json.loads(j.stdout)
        check(o["verdict"] == c.verdict and o["ede"] == c.ede,
              "%s --json: verdict %s ede %s" % (name, o["verdict"],
                                                o["ede"]))
        check(o["chain"] == chain, "%s --json: chain %r, text %r" % (
            name, o["chain"], chain))
        check(o["status"] == c.rcode, "%s --json: status %s" % (
            name, o["status"]))
        # asked with CD and DO, which the server echoes
        check("cd" in o["flags"] and o["edns"]["flags"] == ["do"],
              "%s --json: flags %r, edns %r" % (name, o["flags"],
                                                o.get("edns")))
        check(isinstance(o["why"], str) and o["chain_queries"] > 0,
              "%s --json: %r" % (name, o))
        if c.ede is not None:
            check(o["ede_name"], "%s --json: no ede_name" % name)
        lab.note("%s: %s ede %s, %d chain queries" % (
            name, o["verdict"], o["ede"], o["chain_queries"]))


test_cases.timeout = 240


def test_anchor_forms():
    """The anchor as a DS alone or a DNSKEY alone proves the same."""
    for f in (L.anchor_ds_file, L.anchor_key_file):
        for n in ("nsec", "unsigned", "changed"):
            c = CASES[n]
            r = lab.run([dohq_bin(), "@" + L.url, "--resolve", L.resolve,
                         "--ca-file", lab.certs().ca_pem, "--validate",
                         "--trust-anchor", f, c.qname, c.qtype], timeout=30)
            check(dnsseclab.delv_verdict(r.stdout) == c.verdict,
                  "%s with %s:\n%s%s" % (n, f, r.stdout, r.stderr))
            check(" trust anchor (%s)" % f in r.stdout, r.stdout)


def test_config_anchor():
    """Without @URL, the configuration's server and trust-anchor."""
    conf = lab.write_file(os.path.join(L.dir, "dohq-validate.conf"),
                          "upstream %s\nresolve %s\nca-file %s\n"
                          "trust-anchor %s\n" % (
                              L.url, L.resolve, lab.certs().ca_pem,
                              L.anchor_key_file))
    r = lab.run([dohq_bin(), "-c", conf, "--validate", "www.nsec3.test"],
                timeout=30)
    check(r.returncode == 0 and r.stdout.startswith("; fully validated\n"),
          r.stdout + r.stderr)
    check(". DNSKEY %d/13 KSK trust anchor (%s)" % (
        L.key_tag, L.anchor_key_file) in chain_lines(r.stdout), r.stdout)
    # the flag wins over the file, as for the daemon
    r = lab.run([dohq_bin(), "-c", conf, "--validate", "--trust-anchor",
                 L.anchor_ds_file, "www.nsec3.test"], timeout=30)
    check(" trust anchor (%s)" % L.anchor_ds_file in r.stdout, r.stdout)


def test_default_anchor_is_the_roots():
    """No trust-anchor: the real root's (Debian's file, else built in),
    which the lab's root key does not match: bogus, DNSKEY missing."""
    r = dohq("www.nsec.test", anchor=False)
    check(r.returncode == EX_BOGUS, "exit %d: %s" % (r.returncode,
                                                      r.stdout))
    check(r.stdout.startswith(";; resolution failed: EDE 9 ("), r.stdout)
    chain = chain_lines(r.stdout)
    src = ("/usr/share/dns/root.ds" if os.path.exists(
        "/usr/share/dns/root.ds") else "built in")
    check(". DS 20326/8/2 trust anchor (%s)" % src in chain, chain)
    check(any(l.startswith(". DNSKEY bogus") for l in chain), chain)


def test_negative_trust_anchor():
    """--dnssec-insecure (RFC 7646): a signed zone taken as insecure,
    even a bogus answer in it, and the chain says why."""
    for qname in ("www.nsec.test", "www.changed.test"):
        zone = qname[4:]
        r = dohq("--dnssec-insecure", zone, qname)
        check(r.returncode == 0 and
              dnsseclab.delv_verdict(r.stdout) == dnsseclab.INSECURE,
              "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        check("%s.: below the negative trust anchor %s. (dnssec-insecure)"
              % (qname, zone) in chain_lines(r.stdout), r.stdout)


def test_chain_query_fails():
    """A chain query the server fails (HTTP 503 for nsec.test.'s DS):
    bogus, EDE 22, the HTTP failure's exit status and one line on stderr
    naming that query.  Every query on the wire, the chain's too, has
    DO, CD and RD set."""
    from test_dohq import MiniDoH

    def relay(query):
        q = lab.Message(query)
        if q.question[0][:2] == ("nsec.test.", T_DS):
            return 503, "text/plain", b"unavailable"
        return 200, "application/dns-message", lab.tcp_exchange(
            L.plain_port, [query])[0].wire

    srv = MiniDoH(relay)
    try:
        r = lab.run([dohq_bin(), "@" + srv.url, "--resolve", srv.resolve,
                     "--ca-file", lab.certs().ca_pem, "--validate",
                     "--trust-anchor", L.anchor_file, "www.nsec.test"],
                    timeout=30)
        what = "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
        check(r.returncode == EX_HTTP, what)
        check(r.stdout.startswith(";; resolution failed: EDE 22 ("), what)
        check("nsec.test. DS fetched: nothing: HTTP status 503" in
              chain_lines(r.stdout), what)
        check(r.stderr == "dohq: www.nsec.test A: nsec.test. DS (a chain "
              "query): HTTP status 503\n", what)
        asked = []
        for w in srv.queries:
            m = lab.Message(w)
            check(m.rd and m.flags & 0x0010 and m.opt is not None and
                  m.opt.ttl & 0x8000, "not RD, CD and DO: %r" % m)
            asked.append(m.question[0][:2])
        check(asked == [("www.nsec.test.", 1), (".", T_DNSKEY),
                        ("test.", T_DS), ("test.", T_DNSKEY),
                        ("nsec.test.", T_DS)], "asked %r" % asked)
    finally:
        srv.close()


def test_usage():
    for args, status, pattern in (
            (("a.test", "b.test"), EX_USAGE, "one NAME"),
            (("--edns-size", "0", "a.test"), EX_USAGE, "needs EDNS"),
            (("--repeat", "3", "a.test"), EX_USAGE, "one NAME"),
            (("--trust-anchor", "/nonexistent/anchor", "a.test"),
             EX_NOINPUT, "trust-anchor: /nonexistent/anchor"),
            (("--trust-anchor", L.conf, "a.test"), EX_USAGE,
             r"trust-anchor: .*named\.conf: line 1")):
        r = dohq(*args, anchor=False)
        check(r.returncode == status and re.search(pattern, r.stderr),
              "%r: exit %d, %r" % (args, r.returncode, r.stderr))
        check(r.stdout == "", "%r: printed %r" % (args, r.stdout))


if __name__ == "__main__":
    lab.main(globals())
