"""
dnsseclab: a signed DNS hierarchy for the DNSSEC tests, made at test time.

A lab root zone "." (its KSK is the tests' trust anchor), a TLD "test."
and zones below it, signed with bind9-utils' dnssec-keygen and
dnssec-signzone in the lab's temporary directory, some of them tampered
with after signing.  One bind9 named serves every zone as primary
(recursion no) over DoH on 127.0.0.1 with the lab's certificate (lab.py:
doh.test, the lab CA) and over plain DNS on another port, so a stub that
asks it alone sees the whole chain: each DS at its parent, each DNSKEY at
its zone.  Nothing generated is kept: keys and zones die with the
temporary directory.

CASES names what each name shows and the verdict a validator must give:

    for name, c in dnsseclab.CASES.items():
        c.qname, c.qtype      what to ask ("www.nsec.test.", "A")
        c.verdict             SECURE, INSECURE or BOGUS for dohstub
        c.ede                 the Extended DNS Error (RFC 8914) dohstub's
                              answer carries, or None
        c.rcode               the rcode the server answers with (what a
                              validator passes on unless BOGUS, which
                              becomes SERVFAIL)
        c.answer              the A records at the end of the chain, as
                              a resolver that follows it sees them; ()
                              for a negative answer or another type
        c.sigs                the types the RRSIGs in named's answer to
                              a DO query cover (answer and authority).
                              named, authoritative, ends a CNAME chain
                              at its zone's edge: the answer to
                              cname.nsec.test is the CNAME alone
        c.delv                delv's verdict where it differs from
                              dohstub's (algorithms and digests delv
                              supports and dohstub does not), else None
        c.why                 one line: what the case is

The lab itself:

    L = dnsseclab.DnssecLab().start()   # builds (~2 s), then runs named
    L.doh_port, L.plain_port, L.url, L.resolve
    L.settings()          {"upstream", "resolve", "ca-file"} for Dohstub
    L.dir                 where the zones, keys and named.log are
    L.anchor_file         ". IN DS ..." and ". IN DNSKEY 257 ..." lines
    L.anchor_ds_file, L.anchor_key_file    each form alone
    L.delv_anchor_file    trust-anchors { . static-key ...; };
    L.ds, L.dnskey, L.key_tag    the anchor's RDATA fields
    L.delv(qname, qtype)  (verdict, output) as delv -a +vtrace sees it
                          against the plain port
    L.doh(qname, qtype)   kdig +https +dnssec; Answer with sections
    L.stop()
"""

import base64
import collections
import hashlib
import os
import re
import shutil
import struct
import subprocess
import time

import lab
from lab import LabError, check, run, write_file

SECURE, INSECURE, BOGUS = "secure", "insecure", "bogus"

# RFC 8914
EDE_UNSUPPORTED_ALG = 1
EDE_UNSUPPORTED_DIGEST = 2
EDE_BOGUS = 6
EDE_EXPIRED = 7
EDE_NOT_YET_VALID = 8
EDE_DNSKEY_MISSING = 9
EDE_RRSIGS_MISSING = 10
EDE_NSEC_MISSING = 12

Case = collections.namedtuple(
    "Case", "qname qtype verdict ede rcode answer sigs delv why",
    defaults=(None, "NOERROR", (), (), None, ""))

# Answer addresses, one per zone, so an answer says where it came from.
ADDR = {
    "nsec": "192.0.2.1", "nsec-wild": "192.0.2.2", "nsec3": "192.0.2.3",
    "nsec3-wild": "192.0.2.4", "optout": "192.0.2.5",
    "unsigned.optout": "192.0.2.6", "ed25519": "192.0.2.7",
    "unsigned": "192.0.2.8", "changed": "192.0.2.9",
    "changed-to": "192.0.2.109", "stripped": "192.0.2.10",
    "expired": "192.0.2.11", "notyet": "192.0.2.12", "badds": "192.0.2.13",
    "forged": "192.0.2.14", "rsasha1": "192.0.2.15", "gost": "192.0.2.16",
    "sha1ds": "192.0.2.17", "gostds": "192.0.2.18",
}

CASES = {
    # ------------------------------------------------ secure
    "nsec": Case(
        "www.nsec.test.", "A", SECURE, answer=[ADDR["nsec"]], sigs=("A",),
        why="ECDSA P-256 (13), KSK + ZSK, NSEC"),
    "nsec-nxdomain": Case(
        "nx.nsec.test.", "A", SECURE, rcode="NXDOMAIN",
        sigs=("SOA", "NSEC"), why="NXDOMAIN proved by NSEC"),
    "nsec-nodata": Case(
        "www.nsec.test.", "TXT", SECURE, sigs=("SOA", "NSEC"),
        why="NODATA proved by the name's NSEC bitmap"),
    "nsec-wildcard": Case(
        "anything.wild.nsec.test.", "A", SECURE, answer=[ADDR["nsec-wild"]],
        sigs=("A", "NSEC"),
        why="wildcard expansion (RRSIG labels < owner's), no closer "
        "match proved by NSEC"),
    "nsec3": Case(
        "www.nsec3.test.", "A", SECURE, answer=[ADDR["nsec3"]], sigs=("A",),
        why="RSA/SHA-256 (8) 2048 bits, NSEC3 (no salt, 0 iterations)"),
    "nsec3-nxdomain": Case(
        "nx.nsec3.test.", "A", SECURE, rcode="NXDOMAIN",
        sigs=("SOA", "NSEC3"),
        why="NXDOMAIN proved by NSEC3: closest encloser, next closer, "
        "wildcard"),
    "nsec3-nodata": Case(
        "www.nsec3.test.", "TXT", SECURE, sigs=("SOA", "NSEC3"),
        why="NODATA proved by the matching NSEC3's bitmap"),
    "nsec3-wildcard": Case(
        "anything.wild.nsec3.test.", "A", SECURE,
        answer=[ADDR["nsec3-wild"]], sigs=("A", "NSEC3"),
        why="wildcard expansion, next closer name covered by NSEC3"),
    "optout": Case(
        "www.optout.test.", "A", SECURE, answer=[ADDR["optout"]],
        sigs=("A",), why="NSEC3 opt-out zone (13), a signed name"),
    "ed25519": Case(
        "www.ed25519.test.", "A", SECURE, answer=[ADDR["ed25519"]],
        sigs=("A",), why="Ed25519 (15), NSEC"),
    "cname-cross": Case(
        "cname.nsec.test.", "A", SECURE, answer=[ADDR["ed25519"]],
        sigs=("CNAME",),
        why="CNAME in nsec.test to www.ed25519.test: each link signed by "
        "its own zone"),
    "dname": Case(
        "www.dname.nsec.test.", "A", SECURE, answer=[ADDR["ed25519"]],
        sigs=("DNAME",),
        why="DNAME nsec.test -> ed25519.test: the synthesised CNAME is "
        "unsigned, the DNAME signed"),
    "root-dnskey": Case(
        ".", "DNSKEY", SECURE, sigs=("DNSKEY",),
        why="the lab root's keys, signed by the trust anchor"),
    # ------------------------------------------------ insecure
    "unsigned": Case(
        "www.unsigned.test.", "A", INSECURE, answer=[ADDR["unsigned"]],
        why="unsigned delegation: test.'s NSEC proves no DS"),
    "optout-unsigned": Case(
        "www.unsigned.optout.test.", "A", INSECURE,
        answer=[ADDR["unsigned.optout"]],
        why="unsigned delegation in an NSEC3 opt-out zone: the DS's "
        "absence proved by an opt-out NSEC3 covering the name"),
    "cname-to-unsigned": Case(
        "tounsigned.nsec.test.", "A", INSECURE, answer=[ADDR["unsigned"]],
        sigs=("CNAME",),
        why="signed CNAME to a name in an unsigned zone: the answer is "
        "only as good as its weakest link"),
    "rsasha1": Case(
        "www.rsasha1.test.", "A", INSECURE, EDE_UNSUPPORTED_ALG,
        answer=[ADDR["rsasha1"]], sigs=("A",), delv=SECURE,
        why="signed only with RSA/SHA-1 (5): not among dohstub's "
        "algorithms (RFC 8624 deprecates it for signing; bind still "
        "validates it)"),
    "unknown-alg": Case(
        "www.gost.test.", "A", INSECURE, EDE_UNSUPPORTED_ALG,
        answer=[ADDR["gost"]], sigs=("A",),
        why="DS, DNSKEY and RRSIGs say ECC-GOST (12), which nobody here "
        "validates (the key is a P-256 key relabelled: never checked)"),
    "sha1-ds": Case(
        "www.sha1ds.test.", "A", SECURE, answer=[ADDR["sha1ds"]],
        sigs=("A",),
        why="the parent's DS is SHA-1 (digest 1) only: verified, as RFC "
        "8624 3.3 says validators MUST (SHA-1 is weak for signing, "
        "not yet for checking a digest a zone chose)"),
    "gost-ds": Case(
        "www.gostds.test.", "A", INSECURE, EDE_UNSUPPORTED_DIGEST,
        answer=[ADDR["gostds"]], sigs=("A",),
        why="the parent's DS is GOST R 34.11-94 (digest 3) only, which "
        "nobody here computes"),
    # ------------------------------------------------ bogus
    "changed": Case(
        "www.changed.test.", "A", BOGUS, EDE_BOGUS,
        answer=[ADDR["changed-to"]], sigs=("A",),
        why="the A record changed after signing: its RRSIG no longer "
        "verifies"),
    "stripped": Case(
        "www.stripped.test.", "A", BOGUS, EDE_RRSIGS_MISSING,
        answer=[ADDR["stripped"]],
        why="the A record's RRSIG removed from a signed zone"),
    "expired": Case(
        "www.expired.test.", "A", BOGUS, EDE_EXPIRED,
        answer=[ADDR["expired"]], sigs=("A",),
        why="the A record's RRSIG expired yesterday (the rest of the zone "
        "is valid)"),
    "not-yet-valid": Case(
        "www.notyet.test.", "A", BOGUS, EDE_NOT_YET_VALID,
        answer=[ADDR["notyet"]], sigs=("A",),
        why="the A record's RRSIG valid from tomorrow"),
    "ds-no-key": Case(
        "www.badds.test.", "A", BOGUS, EDE_DNSKEY_MISSING,
        answer=[ADDR["badds"]], sigs=("A",),
        why="the parent's DS matches no key in the zone's DNSKEY set"),
    "forged-nxdomain": Case(
        "zz.forged.test.", "A", BOGUS, EDE_NSEC_MISSING, rcode="NXDOMAIN",
        sigs=("SOA",),
        why="NXDOMAIN without the NSEC that would cover the name (only "
        "the apex's NSEC is left, which covers the wildcard, not "
        "zz): a forged denial"),
    "cname-to-bogus": Case(
        "tobogus.nsec.test.", "A", BOGUS, EDE_BOGUS,
        answer=[ADDR["changed-to"]], sigs=("CNAME",),
        why="a valid CNAME to a name whose RRSIG fails: the chain is "
        "bogus"),
}


# ---------------------------------------------------------------- zones

class _Zone:
    """One zone of the hierarchy.

    denial: "nsec", "nsec3", "optout", or None for an unsigned zone.
    split: a KSK and a ZSK; else one key (KSK flag) signs everything.
    ds: what the parent publishes: "sha256", "sha1", "gost" (digest type
        3, never computable here), "nokey" (from a key not in the zone),
        or None (an unsigned delegation).
    tamper: what is done to the signed zone (see _tamper)."""

    def __init__(self, name, records, alg=13, bits=None, denial="nsec",
                 split=False, ds="sha256", tamper=None, children=()):
        self.name = name
        self.records = list(records)
        self.alg = alg
        self.bits = bits
        self.denial = denial
        self.split = split
        self.ds = ds if denial else None
        self.tamper = tamper
        self.children = list(children)
        self.file = None
        self.ds_lines = []
        self.keys = []	# key file basenames, KSK first


def _www(key):
    return ["www 300 IN A %s" % ADDR[key]]


def _zones():
    """The hierarchy, parents after their children (build order)."""
    nsec = _Zone("nsec.test.", _www("nsec") + [
        "www 300 IN AAAA 2001:db8::1",
        "*.wild 300 IN A %s" % ADDR["nsec-wild"],
        "cname 300 IN CNAME www.ed25519.test.",
        "tounsigned 300 IN CNAME www.unsigned.test.",
        "tobogus 300 IN CNAME www.changed.test.",
        "dname 300 IN DNAME ed25519.test.",
    ], split=True)
    nsec3 = _Zone("nsec3.test.", _www("nsec3") + [
        "*.wild 300 IN A %s" % ADDR["nsec3-wild"],
    ], alg=8, bits=2048, denial="nsec3")
    unsigned_oo = _Zone("unsigned.optout.test.", _www("unsigned.optout"),
                        denial=None)
    optout = _Zone("optout.test.", _www("optout") + [
        "unsigned 300 IN NS ns.test.",
    ], denial="optout", children=[unsigned_oo])
    leaves = [
        nsec, nsec3, unsigned_oo, optout,
        _Zone("ed25519.test.", _www("ed25519"), alg=15),
        _Zone("unsigned.test.", _www("unsigned"), denial=None),
        _Zone("changed.test.", _www("changed"), tamper="change"),
        _Zone("stripped.test.", _www("stripped"), tamper="strip"),
        _Zone("expired.test.", _www("expired"), tamper="expired"),
        _Zone("notyet.test.", _www("notyet"), tamper="notyet"),
        _Zone("badds.test.", _www("badds"), ds="nokey"),
        _Zone("forged.test.", _www("forged"), tamper="nonsec"),
        _Zone("rsasha1.test.", _www("rsasha1"), alg=5, bits=2048),
        _Zone("gost.test.", _www("gost"), tamper="alg12"),
        _Zone("sha1ds.test.", _www("sha1ds"), ds="sha1"),
        _Zone("gostds.test.", _www("gostds"), ds="gost"),
    ]
    top = [z for z in leaves if z.name.count(".") == 2]
    tld = _Zone("test.", ["ns 300 IN A 127.0.0.1"], split=True,
                children=top)
    root = _Zone(".", ["ns.test. 300 IN A 127.0.0.1"], split=True,
                 children=[tld])
    return leaves + [tld, root]


# ---------------------------------------------------------------- wire bits

def _name_wire(name):
    return lab.encode_name(name.lower())


def key_tag(rdata):
    """RFC 4034 appendix B (every algorithm but 1)."""
    ac = 0
    for i, b in enumerate(rdata):
        ac += b << 8 if i % 2 == 0 else b
    ac += (ac >> 16) & 0xFFFF
    return ac & 0xFFFF


def _dnskey_rdata(fields):
    """Wire RDATA of DNSKEY presentation fields [flags, proto, alg,
    base64...]."""
    return struct.pack(">HBB", int(fields[0]), int(fields[1]),
                       int(fields[2])) + base64.b64decode("".join(
                           fields[3:]))


def ds_rdata_text(owner, dnskey_fields, digest_type, label_as=None):
    """A DS RDATA in presentation form for a DNSKEY, computed here (for
    keys dnssec-dsfromkey does not know).  label_as: the digest type
    written, when it differs from the one computed (a digest nobody
    here can check)."""
    rdata = _dnskey_rdata(dnskey_fields)
    h = {1: hashlib.sha1, 2: hashlib.sha256, 4: hashlib.sha384}[digest_type]
    d = h(_name_wire(owner) + rdata).hexdigest().upper()
    return "%d %d %d %s" % (key_tag(rdata), int(dnskey_fields[2]),
                            label_as or digest_type, d)


# ---------------------------------------------------------------- records

class _RR:
    """One line of dnssec-signzone -O full output."""

    def __init__(self, owner, ttl, cls, rtype, rdata):
        self.owner, self.ttl, self.cls = owner, ttl, cls
        self.rtype, self.rdata = rtype, rdata

    @property
    def fields(self):
        return self.rdata.split()

    def __str__(self):
        return "%s %s %s %s %s" % (self.owner, self.ttl, self.cls,
                                   self.rtype, self.rdata)


def _read_rrs(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            p = line.split(None, 4)
            if len(p) != 5:
                raise LabError("%s: cannot read %r" % (path, line))
            out.append(_RR(*p))
    return out


def key_record(path):
    """The DNSKEY line of a dnssec-keygen .key file, as fields after
    the type."""
    with open(path) as f:
        for line in f:
            if line.startswith(";") or not line.strip():
                continue
            p = line.split()
            i = p.index("DNSKEY")
            return p[i + 1:]
    raise LabError("no DNSKEY in " + path)


def _gmt(t):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


# ---------------------------------------------------------------- named


class DnssecLab:
    """The signed hierarchy, and bind9 named serving it as primary for
    every zone: DoH on 127.0.0.1:doh_port (https://doh.test:PORT/dns-query,
    the lab's certificate) and plain DNS on 127.0.0.1:plain_port.  The
    zones are built by the constructor; start() runs named."""

    ALGS = {5: "RSASHA1", 8: "RSASHA256", 13: "ECDSAP256SHA256",
            15: "ED25519"}

    def __init__(self, name="named-dnssec", cert="good", doh_port=None,
                 plain_port=None):
        for tool, pkg in (("dnssec-keygen", "bind9-utils"),
                          ("dnssec-signzone", "bind9-utils"),
                          ("named", "bind9"), ("delv", "bind9-dnsutils"),
                          ("kdig", "knot-dnsutils")):
            if not shutil.which(tool):
                raise LabError("no %s: install %s (scripts/setup --test)"
                               % (tool, pkg))
        c = lab.certs()
        self.name = name
        self.key, self.pem = cert if isinstance(cert, tuple) else {
            "good": (c.server_key, c.server_chain),
            "rogue": (c.rogue_key, c.rogue_chain),
            "wrong": (c.wrong_key, c.wrong_chain),
        }[cert]
        self.doh_port = doh_port or lab.free_port()
        self.plain_port = plain_port or lab.free_port()
        self.dir = os.path.join(lab.tmpdir(), name)
        self.keydir = os.path.join(self.dir, "keys")
        os.makedirs(self.keydir, exist_ok=True)
        self.conf = os.path.join(self.dir, "named.conf")
        self.log = os.path.join(self.dir, "named.log")
        self.proc = None
        t0 = time.monotonic()
        self.zones = _zones()
        for z in self.zones:
            self._build(z)
        self.build_seconds = time.monotonic() - t0
        self._anchors(self.zones[-1])
        self._config()

    # ------------------------------------------------------------ building

    def _run(self, argv, what):
        r = run(argv, timeout=60)
        if r.returncode != 0:
            raise LabError("%s: %s: %s" % (what, " ".join(argv),
                                           (r.stderr + r.stdout).strip()))
        return r

    def _keygen(self, z, ksk):
        argv = ["dnssec-keygen", "-q", "-K", self.keydir, "-a",
                self.ALGS[z.alg], "-L", "300"]
        if z.bits:
            argv += ["-b", str(z.bits)]
        if z.denial in ("nsec3", "optout") and z.alg < 8:
            argv += ["-3"]
        if ksk:
            argv += ["-f", "KSK"]
        r = self._run(argv + [z.name], "dnssec-keygen")
        base = r.stdout.strip().splitlines()[-1]
        return os.path.join(self.keydir, base)

    def _zone_text(self, z):
        lines = [
            "$ORIGIN %s" % z.name,
            "$TTL 300",
            "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300",
            "@ IN NS ns.test.",
        ] + z.records
        for child in z.children:
            rel = child.name[:-len(z.name) - 1] if z.name != "." else \
                child.name[:-1]
            lines.append("%s 300 IN NS ns.test." % rel)
            lines += child.ds_lines
        return "\n".join(lines) + "\n"

    def _sign(self, z, src, out, keys, extra=()):
        # -d: its dsset- files in the lab's directory, not in ours
        argv = ["dnssec-signzone", "-q", "-O", "full", "-o", z.name,
                "-f", out, "-K", self.keydir, "-d", self.dir]
        if not z.split:
            argv.append("-z")
        if z.denial in ("nsec3", "optout"):
            argv += ["-3", "-", "-H", "0"]
        if z.denial == "optout":
            argv.append("-A")
        if "-s" not in extra:
            # a window that holds for any "now" tests run at: RRSIG times
            # are serial numbers (RFC 4034 3.1.5, RFC 1982), so an expiry
            # over 68 years ahead reads as past; the vectors captured from
            # the lab (tests/make_validator_vectors.py) are checked at a
            # fixed time inside it
            argv += ["-s", "20200101000000", "-e", "20851231000000"]
        argv += list(extra) + [src] + [k + ".key" for k in keys]
        self._run(argv, "dnssec-signzone " + z.name)

    def _build(self, z):
        """Keys, zone file, signature, tampering, and the DS lines the
        parent will publish."""
        fname = "root" if z.name == "." else z.name.rstrip(".")
        src = os.path.join(self.dir, fname + ".zone")
        text = self._zone_text(z)
        if not z.denial:
            write_file(src, text)
            z.file = src
            return
        z.keys = [self._keygen(z, True)]
        if z.split:
            z.keys.append(self._keygen(z, False))
        for k in z.keys:
            text += "$INCLUDE %s.key\n" % k
        write_file(src, text)
        signed = os.path.join(self.dir, fname + ".signed")
        self._sign(z, src, signed, z.keys)
        rrs = _read_rrs(signed)
        if z.tamper:
            rrs = self._tamper(z, rrs, src)
        write_file(signed, "".join("%s\n" % rr for rr in rrs))
        z.file = signed
        z.ds_lines = self._ds_lines(z, rrs)

    def _tamper(self, z, rrs, src):
        www = "www." + z.name

        def www_rrsig_a(rr):
            return (rr.owner == www and rr.rtype == "RRSIG" and
                    rr.fields[0] == "A")
        if z.tamper == "change":
            for rr in rrs:
                if rr.owner == www and rr.rtype == "A":
                    rr.rdata = ADDR["changed-to"]
            return rrs
        if z.tamper == "strip":
            return [rr for rr in rrs if not www_rrsig_a(rr)]
        if z.tamper in ("expired", "notyet"):
            # the same zone signed again at other times; only www's A
            # signature is taken from it
            now = time.time()
            s, e = ((now - 30 * 86400, now - 86400)
                    if z.tamper == "expired" else
                    (now + 86400, now + 30 * 86400))
            other = src[:-5] + "." + z.tamper
            # -P: signzone would refuse to check what it made
            self._sign(z, src, other, z.keys,
                       ["-P", "-s", _gmt(s), "-e", _gmt(e)])
            sig = [rr for rr in _read_rrs(other) if www_rrsig_a(rr)]
            check(len(sig) == 1, "%s: %d signatures over www A" % (
                other, len(sig)))
            return [sig[0] if www_rrsig_a(rr) else rr for rr in rrs]
        if z.tamper == "nonsec":
            # every NSEC but the apex's: named serves a zone without one
            # as unsigned (no RRSIG at all), which is another case.  (A
            # NODATA without its NSEC cannot be had from named: it says
            # SERVFAIL itself.)
            def nsec(rr):
                return rr.rtype == "NSEC" or (rr.rtype == "RRSIG" and
                                              rr.fields[0] == "NSEC")
            return [rr for rr in rrs if not nsec(rr) or rr.owner == z.name]
        if z.tamper == "alg12":
            # relabel the key and every signature as ECC-GOST (12)
            tags = {}
            for rr in rrs:
                if rr.rtype == "DNSKEY":
                    f = rr.fields
                    old = key_tag(_dnskey_rdata(f))
                    f[2] = "12"
                    tags[str(old)] = str(key_tag(_dnskey_rdata(f)))
                    rr.rdata = " ".join(f)
            for rr in rrs:
                if rr.rtype == "RRSIG":
                    f = rr.fields
                    f[1] = "12"
                    f[6] = tags[f[6]]
                    rr.rdata = " ".join(f)
            return rrs
        raise LabError("unknown tamper " + z.tamper)

    def _ds_lines(self, z, rrs):
        """The DS records z's parent publishes (presentation lines)."""
        ksk = z.keys[0]
        if z.ds == "sha256" and z.tamper != "alg12":
            r = self._run(["dnssec-dsfromkey", "-2", ksk + ".key"],
                          "dnssec-dsfromkey")
            return r.stdout.strip().splitlines()
        if z.ds == "sha1":
            r = self._run(["dnssec-dsfromkey", "-1", ksk + ".key"],
                          "dnssec-dsfromkey")
            return r.stdout.strip().splitlines()
        if z.ds == "nokey":
            other = self._keygen(z, True)
            r = self._run(["dnssec-dsfromkey", "-2", other + ".key"],
                          "dnssec-dsfromkey")
            os.unlink(other + ".key")	# never published
            return r.stdout.strip().splitlines()
        keys = [rr.fields for rr in rrs
                if rr.rtype == "DNSKEY" and int(rr.fields[0]) & 1]
        if z.ds == "gost":
            return ["%s IN DS %s" % (z.name, ds_rdata_text(z.name, k, 2, 3))
                    for k in keys]
        # alg12: computed here, dnssec-dsfromkey refuses the algorithm
        return ["%s IN DS %s" % (z.name, ds_rdata_text(z.name, k, 2))
                for k in keys]

    def _anchors(self, root):
        """The root's KSK as the trust anchor, in three forms."""
        ksk = root.keys[0]
        k = key_record(ksk + ".key")
        self.dnskey = k[:3] + ["".join(k[3:])]	# base64 in one word
        check(self.dnskey[0] == "257", "root KSK flags %s" % self.dnskey[0])
        r = self._run(["dnssec-dsfromkey", "-2", ksk + ".key"],
                      "dnssec-dsfromkey")
        ds = r.stdout.split()
        self.ds = ds[ds.index("DS") + 1:]
        self.key_tag = int(self.ds[0])
        ds_line = ". 3600 IN DS %s\n" % " ".join(self.ds)
        key_line = ". 3600 IN DNSKEY %s\n" % " ".join(self.dnskey)
        self.anchor_ds_file = write_file(
            os.path.join(self.dir, "anchor.ds"), ds_line)
        self.anchor_key_file = write_file(
            os.path.join(self.dir, "anchor.key"), key_line)
        self.anchor_file = write_file(
            os.path.join(self.dir, "anchor.zone"), ds_line + key_line)
        self.delv_anchor_file = write_file(
            os.path.join(self.dir, "anchor.delv"),
            'trust-anchors {\n\t. static-key %s %s %s "%s";\n};\n' %
            tuple(self.dnskey))

    def _config(self):
        lines = [
            "options {",
            '\tdirectory "%s";' % self.dir,
            "\tpid-file none;",
            # nothing outside the lab's directory (the default session
            # key is in /run/named)
            "\tsession-keyfile none;",
            '\tmanaged-keys-directory "%s";' % self.dir,
            "\tlisten-on port %d { 127.0.0.1; };" % self.plain_port,
            "\tlisten-on port %d tls lab http lab { 127.0.0.1; };" %
            self.doh_port,
            "\tlisten-on-v6 { none; };",
            "\trecursion no;",
            "\tdnssec-validation no;",
            "\tnotify no;",
            "\tallow-transfer { none; };",
            "};",
            'tls lab { key-file "%s"; cert-file "%s"; };' % (self.key,
                                                             self.pem),
            'http lab { endpoints { "/dns-query"; }; };',
            "controls { };",
        ]
        for z in self.zones:
            lines.append('zone "%s" { type primary; file "%s"; };' % (
                z.name, z.file))
        write_file(self.conf, "\n".join(lines) + "\n")
        r = run(["named-checkconf", self.conf])
        if r.returncode != 0:
            raise LabError("named-checkconf: " + r.stdout + r.stderr)

    # ------------------------------------------------------------ serving

    @property
    def url(self):
        return "https://doh.test:%d/dns-query" % self.doh_port

    @property
    def resolve(self):
        return "doh.test:%d:127.0.0.1" % self.doh_port

    def settings(self):
        """dohstub's settings to use this named as its DoH upstream (a
        test adds its dnssec and trust-anchor settings)."""
        return {"upstream": self.url, "resolve": self.resolve,
                "ca-file": lab.certs().ca_pem}

    def start(self, timeout=10):
        check(self.proc is None or self.proc.poll() is not None,
              "named already running")
        self._logf = open(self.log, "ab")
        # -g: foreground, log to stderr; -n 1: one worker (shared cores)
        self.proc = lab.spawn(["named", "-g", "-4", "-n", "1", "-c",
                               self.conf], stdout=self._logf,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise LabError("named exited %d: %s" % (
                    self.proc.returncode, self.log_tail()))
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise LabError("named did not answer within %ds: %s" % (
            timeout, self.log_tail()))

    def _answers(self):
        # every zone loaded (named answers only once all are), DoH up
        try:
            m = lab.udp_exchange(self.plain_port,
                                 lab.make_query("www.nsec.test", "A"), 0.3)
        except (OSError, lab.ParseError):
            return False
        if m is None or m.values("A") != [ADDR["nsec"]]:
            return False
        if not lab.port_open(self.doh_port):
            return False
        r = lab.kdig(self.doh_port, "+https=/dns-query", "www.nsec.test",
                     "A", "+short", timeout=5)
        return r.stdout.split() == [ADDR["nsec"]]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self._logf.close()
        lab.wait_for(lambda: not lab.port_open(self.doh_port), 5,
                     what="named's port to close")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
            self._logf.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=15):
        return lab.tail(self.log, n)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # ------------------------------------------------------------ asking

    def delv(self, qname, qtype="A", *flags):
        """delv -a with the lab's anchor against named's plain port:
        (verdict, output).  verdict: SECURE ("; fully validated", also
        for a validated negative answer), INSECURE ("; unsigned
        answer"), BOGUS (";; resolution failed"), or None (anything
        else)."""
        r = run(["delv", "-a", self.delv_anchor_file, "@127.0.0.1", "-p",
                 str(self.plain_port), "+vtrace"] + list(flags) +
                [qname, qtype], timeout=20)
        return delv_verdict(r.stdout + r.stderr), r.stdout + r.stderr

    def doh(self, qname, qtype="A", *flags):
        """kdig +https +dnssec to named's DoH port, the lab CA checked:
        an Answer."""
        r = lab.kdig_doh(self.doh_port, qname, qtype, None, "doh.test",
                         "+dnssec", *flags)
        return Answer(r.stdout + r.stderr)


def delv_verdict(out):
    """delv prints "; fully validated" or "; unsigned answer" before each
    RRset it followed (a CNAME chain has several), "; negative response,
    ..." before a negative answer (then ";; resolution failed: ncache
    nxdomain"), and ";; resolution failed: WHY" alone when it found none
    it could trust."""
    unsigned = re.search(r"^; (negative response, )?unsigned answer", out,
                         re.M)
    validated = re.search(r"^; (negative response, )?fully validated",
                          out, re.M)
    failed = re.search(r"^;; resolution failed: (.*)", out, re.M)
    if failed and not failed.group(1).startswith("ncache"):
        return BOGUS
    if unsigned:
        return INSECURE
    if validated:
        return SECURE
    return None


class Answer:
    """kdig's text output read back: rcode, flags and the records of each
    section as (owner, ttl, type, rdata) tuples."""

    def __init__(self, text):
        self.text = text
        m = re.search(r"opcode: \w+; status: (\w+)", text)
        self.rcode = m.group(1) if m else None
        m = re.search(r";; Flags: ([\w ]*);", text)
        self.flags = m.group(1).split() if m else []
        self.sections = {}
        cur = None
        for line in text.splitlines():
            m = re.match(r";; (\w+) SECTION:", line)
            if m:
                cur = self.sections.setdefault(m.group(1), [])
                continue
            if not line.strip() or line.startswith(";;"):
                cur = None if not line.strip() else cur
                continue
            if cur is not None and not line.startswith(";"):
                p = line.split(None, 4)
                if len(p) == 5:
                    cur.append((p[0], p[1], p[3], p[4]))

    def records(self, section="ANSWER", rtype=None):
        return [r for r in self.sections.get(section, [])
                if rtype is None or r[2] == rtype]

    def values(self, rtype):
        return [r[3] for r in self.records("ANSWER", rtype)]

    def covered(self):
        """The types the RRSIGs in the answer and authority cover."""
        return sorted({r[3].split()[0]
                       for s in ("ANSWER", "AUTHORITY")
                       for r in self.records(s, "RRSIG")})

    def __repr__(self):
        return "<%s %s>" % (self.rcode, self.sections)
