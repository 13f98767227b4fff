#!/usr/bin/python3
"""The DNSSEC lab itself (dnsseclab.py), checked against an independent
validator before dohstub's validator is checked against it: for every
case of dnsseclab.CASES, delv -a with the lab's trust anchor, asking
named's plain port, gives the case's verdict (fully validated, unsigned
answer, resolution failed) for the case's reason, and kdig over DoH
(the lab CA checked) gets the RRSIGs a signed answer carries.  A wrong
trust anchor makes every signed case fail, so the verdicts are the
anchor's, not delv's defaults.

test_dnssec.py asks the same table of dohstub with dnssec validate."""

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

# What delv says when it fails a bogus case: its own words for the
# reason, documenting each case (ds-no-key: no DNSKEY verifies under the
# DS, so the zone's keys are untrusted; forged-nxdomain: no NSEC covers
# the name, then the DS asked to prove the zone unsigned has no proof
# either).
DELV_SAYS = {
    "changed": "RRSIG failed to verify",
    "stripped": "insecurity proof failed",
    "expired": "RRSIG has expired",
    "not-yet-valid": "RRSIG validity period has not begun",
    "ds-no-key": "broken trust chain",
    "forged-nxdomain": "broken trust chain",
    "cname-to-bogus": "RRSIG failed to verify",
}

# The path delv took, from its +vtrace: what each case makes a validator
# do.
DELV_TRACE = {
    "nsec-nxdomain": "nonexistence proof(s) found",
    "nsec-wildcard": "nsec range ok",
    "nsec3-nxdomain": "NSEC3 proves name does not exist: '*.nsec3.test'",
    "nsec3-wildcard": "closest encloser from wildcard signature",
    "unsigned": "unsigned.test/DS: nonexistence proof(s) found",
    "optout-unsigned": "NSEC3 indicates optout",
    "unknown-alg": "no supported algorithm/digest (gost.test/DS)",
    "gost-ds": "no supported algorithm/digest (gostds.test/DS)",
    "stripped": "www.stripped.test/DS: nsec proves name exists",
    "expired": "RRSIG has expired",
    "ds-no-key": "badds.test/DNSKEY: no valid signature found (DS)",
    "forged-nxdomain": "zz.forged.test/A: nonexistence proof(s) not found",
}


def setup_module():
    global L
    t0 = time.monotonic()
    L = dnsseclab.DnssecLab().start()
    lab.note("built in %.1fs, named answering after %.1fs" % (
        L.build_seconds, time.monotonic() - t0))


def teardown_module():
    if L:
        L.stop()


def _delv_values(out, rtype):
    """The rdata of the rtype records delv printed as validated or
    unsigned (its vtrace lines start with ;)."""
    vals = []
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 5 and not line.startswith(";") and p[3] == rtype:
            vals.append(p[4])
    return vals


def _all_cases(f):
    """f(name, case) -> None or a complaint; all complaints at once."""
    bad = []
    for name, c in CASES.items():
        why = f(name, c)
        if why:
            bad.append("%s (%s %s): %s" % (name, c.qname, c.qtype, why))
    check(not bad, "%d of %d cases:\n%s" % (len(bad), len(CASES),
                                            "\n".join(bad)))


def test_table_is_whole():
    """Every verdict and every EDE the issue names has a case; bogus
    cases have an EDE and a delv reason; insecure ones name their EDE
    only for an unsupported algorithm or digest."""
    verdicts = {c.verdict for c in CASES.values()}
    check(verdicts == {SECURE, INSECURE, BOGUS}, "verdicts %r" % verdicts)
    edes = {c.ede for c in CASES.values() if c.ede is not None}
    want = {1, 2, 6, 7, 8, 9, 10, 12}
    check(edes == want, "EDE codes %r, want %r" % (sorted(edes),
                                                   sorted(want)))
    for name, c in CASES.items():
        check(c.qname.endswith("."), "%s: %r not absolute" % (name, c.qname))
        if c.verdict == BOGUS:
            check(c.ede and name in DELV_SAYS, "%s: bogus without EDE or "
                  "delv's reason" % name)
        elif c.ede is not None:
            check(c.verdict == INSECURE and c.ede in (1, 2),
                  "%s: EDE %d on a %s answer" % (name, c.ede, c.verdict))
        if c.qtype == "A" and c.rcode == "NOERROR":
            check(c.answer, "%s: a positive A case without addresses" %
                  name)
        else:
            check(not c.answer, "%s: addresses for %s %s" % (
                name, c.rcode, c.qtype))


def test_trust_anchor_files():
    """The anchor as zone-file lines (DS and DNSKEY of the root's KSK)
    and as delv's trust-anchors clause, all the same key; the DS as
    bind computes it equals the DS computed here from the DNSKEY line;
    the root serves that key, signed by itself."""
    with open(L.anchor_file) as f:
        lines = [l.split() for l in f.read().splitlines()]
    check([l[:4] for l in lines] == [[".", "3600", "IN", "DS"],
                                     [".", "3600", "IN", "DNSKEY"]],
          "anchor file %r" % lines)
    ds, key = lines[0][4:], lines[1][4:]
    check(key[:3] == ["257", "3", "13"] and len(key) == 4,
          "anchor DNSKEY %r: a KSK, ECDSA P-256, one base64 word" % key)
    mine = dnsseclab.ds_rdata_text(".", key, 2).split()
    check(mine == ds, "DS from dnssec-dsfromkey %r, computed %r" % (ds,
                                                                    mine))
    with open(L.anchor_ds_file) as f:
        check(f.read().split()[4:] == ds, "anchor.ds differs")
    with open(L.anchor_key_file) as f:
        check(f.read().split()[4:] == key, "anchor.key differs")
    with open(L.delv_anchor_file) as f:
        text = f.read()
    check('. static-key 257 3 13 "%s";' % key[3] in text,
          "delv anchor %r" % text)
    a = L.doh(".", "DNSKEY")
    keys = [r[3].split() for r in a.records("ANSWER", "DNSKEY")]
    check([k[3] for k in keys if k[0] == "257"] == [key[3]],
          "root serves KSKs %r" % keys)
    check(any(r[3].split()[6] == ds[0] for r in a.records("ANSWER",
                                                          "RRSIG")),
          "root DNSKEY set not signed by key %s: %r" % (ds[0], a))


@lab.timeout(60)
def test_delv_verdicts():
    """delv -a ANCHOR @127.0.0.1 -p PLAIN +vtrace NAME TYPE: the case's
    verdict (delv's own where it supports what dohstub does not), the
    case's reason for a bogus one, the proof it took, the case's
    addresses for a positive one."""
    def one(name, c):
        verdict, out = L.delv(c.qname, c.qtype)
        want = c.delv or c.verdict
        if verdict != want:
            return "delv says %s, want %s:\n%s" % (verdict, want, out)
        if name in DELV_TRACE and DELV_TRACE[name] not in out:
            return "delv's trace lacks %r:\n%s" % (DELV_TRACE[name], out)
        if c.verdict == BOGUS:
            m = re.search(r"^;; resolution failed: (.*)", out, re.M)
            if DELV_SAYS[name] not in m.group(1):
                return "delv's reason %r, want %r" % (m.group(1),
                                                      DELV_SAYS[name])
            return None
        if c.qtype == "A":
            got = _delv_values(out, "A")
            if sorted(got) != sorted(c.answer):
                return "delv's A records %r, want %r" % (got, c.answer)
        return None
    _all_cases(one)


@lab.timeout(60)
def test_doh_answers_carry_rrsigs():
    """kdig +https +dnssec to named's DoH port: the case's rcode, and
    RRSIGs covering the case's types (the answer's, the SOA and the
    NSEC/NSEC3 of a denial); none at all from an unsigned zone, none
    over the stripped record.  named answers a CNAME whose target is in
    another zone with the CNAME alone."""
    def one(name, c):
        a = L.doh(c.qname, c.qtype)
        if a.rcode != c.rcode:
            return "rcode %s, want %s:\n%s" % (a.rcode, c.rcode, a.text)
        got = a.covered()
        if not set(c.sigs) <= set(got) or (not c.sigs and got):
            return "RRSIGs cover %r, want %r:\n%s" % (got, list(c.sigs),
                                                     a.text)
        if c.qtype == "A" and not a.values("CNAME") and \
                a.values("A") != list(c.answer):
            return "A records %r, want %r" % (a.values("A"), c.answer)
        return None
    _all_cases(one)


@lab.timeout(60)
def test_wrong_anchor_fails_signed_cases():
    """The same questions with another key as the anchor: every case
    delv found secure is now bogus, so the verdicts above are the
    lab's root key's.  Without -a (delv's built-in root key) too."""
    d = os.path.join(L.dir, "other-anchor")
    os.makedirs(d, exist_ok=True)
    r = lab.run(["dnssec-keygen", "-q", "-K", d, "-a", "ECDSAP256SHA256",
                 "-f", "KSK", "."])
    check(r.returncode == 0, "dnssec-keygen: %s" % r.stderr)
    key = dnsseclab.key_record(os.path.join(d, r.stdout.strip() +
                                              ".key"))
    wrong = lab.write_file(os.path.join(d, "anchor.delv"),
                           'trust-anchors { . static-key %s %s %s "%s"; };'
                           "\n" % (key[0], key[1], key[2],
                                   "".join(key[3:])))
    secure = [n for n, c in CASES.items() if (c.delv or c.verdict) ==
              SECURE]
    check(len(secure) >= 10, "only %d secure cases" % len(secure))
    for n in secure:
        c = CASES[n]
        for anchor in (["-a", wrong], []):
            r = lab.run(["delv"] + anchor + ["@127.0.0.1", "-p",
                                             str(L.plain_port), c.qname,
                                             c.qtype], timeout=20)
            v = dnsseclab.delv_verdict(r.stdout + r.stderr)
            check(v == BOGUS, "%s with anchor %r: %s\n%s" % (
                n, anchor, v, r.stdout + r.stderr))


def test_ds_anchor_validates_too():
    """The DS form of the anchor (delv's static-ds) gives the same
    verdicts as the DNSKEY form for one case of each verdict."""
    ds = open(L.anchor_ds_file).read().split()[4:]
    f = lab.write_file(os.path.join(L.dir, "anchor-ds.delv"),
                       'trust-anchors { . static-ds %s %s %s "%s"; };\n'
                       % tuple(ds))
    for n in ("nsec", "nsec3-nxdomain", "unsigned", "changed"):
        c = CASES[n]
        r = lab.run(["delv", "-a", f, "@127.0.0.1", "-p", str(L.plain_port),
                     c.qname, c.qtype], timeout=20)
        v = dnsseclab.delv_verdict(r.stdout + r.stderr)
        check(v == c.verdict, "%s with the DS anchor: %s, want %s\n%s" % (
            n, v, c.verdict, r.stdout + r.stderr))


if __name__ == "__main__":
    lab.main(globals())
