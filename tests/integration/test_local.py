"""Names answered on the host and the query policy, end to end: dig and
kdig against the daemon, whose only upstream is faultsrv
(tests/faultsrv), which records every request it gets.  None of the
local names nor the policy cases may reach it; an exempt zone does.

Environment: FAULTSRV_BIN (default: faultsrv in $DOHSTUB_BUILD),
DOHSTUB_BIN as for every suite."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer, default_bin  # noqa: E402

GOOD_A = "192.0.2.42"	# faultsrv's answer to any A question
D = None
SRV = None
ASKED = set()		# every name asked that must stay on the host


def setup_module():
    global D, SRV
    b = os.path.abspath(default_bin())
    if not os.access(b, os.X_OK):
        raise lab.LabError("no faultsrv binary at %s (set FAULTSRV_BIN)" % b)
    c = lab.certs()
    fport = lab.free_port(udp_too=False)
    SRV = FaultServer(b, c.server_chain, c.server_key, "none",
                      extra=["--port", str(fport)])
    D = lab.Dohstub({"mode": "encrypted-only",
                     "upstream": "https://doh.test:%d/dns-query" % fport,
                     "resolve": "doh.test:%d:127.0.0.1" % fport,
                     "ca-file": c.ca_pem,
                     "local-zone-exempt": "lab.home.arpa"},
                    name="dohstub-local").start()
    SRV.wait_event("tls-ok", timeout=5 * lab.SLOW)


def teardown_module():
    if D:
        D.kill()
    if SRV:
        SRV.stop()


def tool(which, *args, refused=False):
    """dig's or kdig's output (both print the same header lines).  With
    refused, a failed transfer's exit status is fine and the error text
    counts as output."""
    f = lab.dig if which == "dig" else lab.kdig
    r = f(D.port, *args)
    if refused:
        return r.stdout + r.stderr
    check(r.returncode == 0, "%s %r: exit %d: %s" % (which, args,
                                                    r.returncode, r.stderr))
    return r.stdout


def status(out):
    m = re.search(r"status: (\w+)", out)
    return m.group(1) if m else None


def flags(out):
    m = re.search(r"[Ff]lags: ([a-z ]*);", out)
    return m.group(1).split() if m else []


def answers(out, rtype):
    """The RDATA of the answer section's records of rtype."""
    got = []
    section = None
    for line in out.splitlines():
        if re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION", line):
            section = line.split()[1]
            continue
        if section == "ANSWER" and line and not line.startswith(";"):
            f = line.split()
            if len(f) >= 5 and f[3] == rtype:
                got.append(" ".join(f[4:]))
    return got


def authority_soa(out):
    return re.search(r"AUTHORITY SECTION:\n\S+\s+\d+\s+IN\s+SOA\s+"
                     r"localhost\. nobody\.invalid\.", out) is not None


def ask(which, name, *args, **kw):
    ASKED.add(name.lower().rstrip("."))
    return tool(which, name, *args, **kw)


def test_localhost():
    for which in ("dig", "kdig"):
        out = ask(which, "localhost", "A")
        check(status(out) == "NOERROR", "%s: %s" % (which, out))
        check("aa" in flags(out), "%s: no AA: %s" % (which, out))
        check(answers(out, "A") == ["127.0.0.1"], out)
        out = ask(which, "LocalHost", "AAAA")
        check(answers(out, "AAAA") == ["::1"], out)
    out = ask("dig", "App.LocalHost", "A", "+noedns")	# kdig lowercases
    check(re.search(r"QUESTION SECTION:\n;App\.LocalHost\.", out),
          "case not kept: %s" % out)
    check(answers(out, "A") == ["127.0.0.1"], out)
    check("OPT PSEUDOSECTION" not in out, "OPT without EDNS: %s" % out)


def test_reverse_loopback():
    out = ask("dig", "-x", "127.0.0.1")
    ASKED.add("1.0.0.127.in-addr.arpa")
    check(status(out) == "NOERROR", out)
    check(answers(out, "PTR") == ["localhost."], out)
    out = ask("kdig", "-x", "::1")
    ASKED.add("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
              "0.0.ip6.arpa")
    check(answers(out, "PTR") == ["localhost."], out)


def test_nxdomain_with_soa():
    for which, name, qtype in (("dig", "printer.local", "A"),
                               ("kdig", "x.onion", "A"),
                               ("dig", "router.home.arpa", "A"),
                               ("kdig", "foo.invalid", "AAAA"),
                               ("dig", "1.1.168.192.in-addr.arpa", "PTR"),
                               ("kdig", "5.5.20.172.in-addr.arpa", "PTR"),
                               ("dig", "1.1.254.169.in-addr.arpa", "PTR"),
                               ("kdig", "_dns.resolver.arpa", "SVCB")):
        out = ask(which, name, qtype)
        check(status(out) == "NXDOMAIN", "%s %s: %s" % (which, name, out))
        check("aa" in flags(out), "%s: no AA: %s" % (name, out))
        check(authority_soa(out), "%s: no SOA: %s" % (name, out))


def test_policy():
    # dig and kdig ask AXFR over TCP
    out = ask("dig", "lab.test", "AXFR", refused=True)
    check("Transfer failed" in out or "REFUSED" in out, out)
    out = ask("kdig", "lab.test", "AXFR", refused=True)
    check("'REFUSED'" in out and "(TCP)" in out, out)
    # An IXFR carries its SOA in the authority section (RFC 1995): the
    # query check lets that one record through, and the policy refuses.
    out = ask("kdig", "+tcp", "lab.test", "IXFR=1", refused=True)
    check("'REFUSED'" in out, out)
    out = ask("dig", "lab.test", "IXFR=1", refused=True)
    check("Transfer failed" in out or "REFUSED" in out, out)
    out = ask("dig", "version.bind", "CH", "TXT")
    check(status(out) == "REFUSED", out)
    check(answers(out, "TXT") == [], out)
    out = ask("dig", "www.lab.test", "HS", "A")
    check(status(out) == "REFUSED", out)


def test_exempt_zone_forwarded():
    out = tool("dig", "nas.lab.home.arpa", "A")
    check(answers(out, "A") == [GOOD_A], "not forwarded: %s" % out)
    SRV.wait_event("request", pred=lambda e: e.get("qname", "").lower()
                   .rstrip(".") == "nas.lab.home.arpa")


def test_none_reached_doh():
    names = {e.get("qname", "").lower().rstrip(".")
             for e in SRV.events("request")}
    leaked = names & ASKED
    check(not leaked, "reached the DoH server: %r" % sorted(leaked))
    check(names == {"nas.lab.home.arpa"}, "requests: %r" % sorted(names))
    st = D.stop()
    check(st.get("answered_local", 0) == 15, "answered_local %r" % st)
    check(st.get("policy", 0) == 6, "policy %r" % st)
    check(st.get("formerr", 0) == 0, "formerr %r" % st)


if __name__ == "__main__":
    lab.main(globals())
