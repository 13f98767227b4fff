#!/usr/bin/python3
"""dohstub as the only resolver of a network namespace: loopback only,
/etc/netns/NAME/resolv.conf saying "nameserver 127.0.0.1", unbound as the
DoH upstream inside, dohstub on 127.0.0.1:53 in encrypted-only mode, and
ordinary programs (getent, through the C library's stub resolver) getting
their answers.  Needs root and a working `ip netns`; skipped otherwise."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

NETNS_ETC = "/etc/netns"


class Netns:
    """A network namespace with only lo up, and its resolv.conf.  close()
    undoes everything it made, whatever state it got to."""

    def __init__(self):
        self.name = "dohstub-%d-%x" % (os.getpid(), random.getrandbits(24))
        self.made_ns = self.made_etc = self.made_dir = False
        self.etc = os.path.join(NETNS_ETC, self.name)

    def open(self):
        r = lab.run(["ip", "netns", "add", self.name])
        if r.returncode != 0:
            lab.skip("ip netns add: %s" % r.stderr.strip())
        self.made_ns = True
        r = self.run(["ip", "link", "set", "lo", "up"])
        if r.returncode != 0:
            lab.skip("ip netns exec: %s" % r.stderr.strip())
        if not os.path.isdir(NETNS_ETC):
            os.mkdir(NETNS_ETC)
            self.made_etc = True
        os.mkdir(self.etc)
        self.made_dir = True
        lab.write_file(os.path.join(self.etc, "resolv.conf"),
                       "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
        return self

    def argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=20):
        return lab.run(self.argv(argv), timeout=timeout,
                       env=lab.daemon_env())

    def spawn(self, argv, log):
        """A long-running process inside; `ip netns exec` execs it, so the
        pid is the program's own."""
        f = open(log, "ab")
        p = lab.spawn(self.argv(argv), stdout=f, stderr=subprocess.STDOUT,
                      stdin=subprocess.DEVNULL, env=lab.daemon_env())
        f.close()
        return p

    def close(self):
        if self.made_dir:
            shutil.rmtree(self.etc, ignore_errors=True)
        if self.made_etc:
            try:
                os.rmdir(NETNS_ETC)
            except OSError:
                pass
        if self.made_ns:
            lab.run(["ip", "netns", "del", self.name])


def _stop(p, what, within=5.0):
    """SIGTERM; the exit status, or a failure if it hangs."""
    if p is None or p.poll() is not None:
        return None if p is None else p.returncode
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(within * lab.SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        raise AssertionError("%s still running after SIGTERM" % what)


def _wait_answer(ns, port, extra, want, what, timeout):
    """kdig inside the namespace until it prints want (a readiness probe
    that is not the thing under test)."""
    end = time.monotonic() + timeout * lab.SLOW
    last = None
    while time.monotonic() < end:
        last = ns.run(["kdig", "@127.0.0.1", "-p", str(port), "+time=1",
                       "+retry=0", "+short"] + extra, timeout=10)
        if last.stdout.split() == want:
            return
        time.sleep(0.1)
    raise AssertionError("%s not answering inside the namespace: %r %r" % (
        what, last.stdout if last else "", last.stderr if last else ""))


@lab.timeout(90)
def test_namespace_resolver():
    if os.geteuid() != 0:
        lab.skip("needs root (ip netns, port 53)")
    if shutil.which("ip") is None or shutil.which("getent") is None:
        lab.skip("no ip or getent")
    ns = Netns()
    unbound = dohstub = None
    dlog = os.path.join(lab.tmpdir(), "dohstub-netns.log")
    try:
        ns.open()
        # The lab writes and checks the configuration; it runs inside.
        u = lab.Unbound("unbound-netns", plain=False)
        unbound = ns.spawn(["unbound", "-d", "-c", u.conf], u.log)
        _wait_answer(ns, u.doh_port, ["+https=/dns-query", "www.lab.test",
                                      "A"], [lab.WWW_A], "unbound", 10)

        argv = [lab.daemon_bin(), "-d", "-c", "/dev/null",
                "--dnssec", "process",	# the lab's zones are unsigned
                "--listen", "127.0.0.1:53", "--mode", "encrypted-only",
                "--upstream", u.url, "--resolve", u.resolve,
                "--ca-file", lab.certs().ca_pem]
        if lab.VALGRIND:
            argv = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "-q"] + argv
        dohstub = ns.spawn(argv, dlog)
        _wait_answer(ns, 53, ["www.lab.test", "A"], [lab.WWW_A],
                     "dohstub", 10)

        # What a program gets from the C library, not from a DNS tool.
        r = ns.run(["getent", "ahosts", "www.lab.test"])
        check(r.returncode == 0, "getent ahosts www.lab.test: status %d "
              "%r" % (r.returncode, r.stderr))
        addrs = {l.split()[0] for l in r.stdout.splitlines() if l.strip()}
        check(lab.WWW_A in addrs, "getent ahosts: %r" % r.stdout)
        check(lab.WWW_AAAA in addrs, "getent ahosts (AAAA): %r" % r.stdout)

        r = ns.run(["getent", "hosts", "alias.lab.test"])
        check(r.returncode == 0 and "alias.lab.test" in r.stdout.split() and
              r.stdout.split()[0] in (lab.WWW_A, lab.WWW_AAAA),
              "getent hosts alias.lab.test: %d %r" % (r.returncode,
                                                     r.stdout))
        # the canonical name shows the CNAME was followed (ahostsv4 would
        # find nothing: AI_ADDRCONFIG ignores a loopback-only namespace)
        r = ns.run(["getent", "ahosts", "alias.lab.test"])
        lines = [l.split() for l in r.stdout.splitlines() if l.strip()]
        check(r.returncode == 0 and lines and len(lines[0]) == 3 and
              lines[0][2] == "www.lab.test" and
              {l[0] for l in lines} == {lab.WWW_A, lab.WWW_AAAA},
              "getent ahosts alias.lab.test: %r" % r.stdout)
        # a name that does not exist fails as it should (status 2)
        r = ns.run(["getent", "hosts", "nope.lab.test"])
        check(r.returncode == 2, "nope.lab.test: %d %r" % (r.returncode,
                                                          r.stdout))

        rc = _stop(dohstub, "dohstub")
        dohstub = None
        log = lab.tail(dlog, 40)
        check(rc == 0, "dohstub exited %r: %s" % (rc, log))
        stats = [l for l in log.splitlines() if "stats:" in l]
        check(stats, "no stats line: %s" % log)
        st = lab.parse_stats(stats[-1])
        # every answer came over DoH: unbound has no plain port here
        check(st.get("answered_doh", 0) >= 5 and
              st.get("answered_fallback") == 0, "stats %r" % st)
    finally:
        for p, what in ((dohstub, "dohstub"), (unbound, "unbound")):
            try:
                _stop(p, what)
            except AssertionError:
                pass
        ns.close()
    check(not os.path.exists(os.path.join("/var/run/netns", ns.name)),
          "namespace %s left behind" % ns.name)


@lab.timeout(60)
def test_unprivileged_with_capability():
    """As the systemd unit runs it: not root from the start, only
    CAP_NET_BIND_SERVICE (ambient), and it binds port 53."""
    if os.geteuid() != 0:
        lab.skip("needs root (ip netns, setpriv)")
    if shutil.which("setpriv") is None or shutil.which("ip") is None:
        lab.skip("no setpriv or ip")
    ns = Netns()
    unbound = dohstub = None
    dlog = os.path.join(lab.tmpdir(), "dohstub-cap.log")
    # nobody must read the CA: a world-readable copy
    cadir = lab.tmpdir()
    os.chmod(cadir, 0o755)
    ca = os.path.join(cadir, "ca-public.pem")
    shutil.copy(lab.certs().ca_pem, ca)
    os.chmod(ca, 0o644)
    try:
        ns.open()
        u = lab.Unbound("unbound-cap", plain=False)
        unbound = ns.spawn(["unbound", "-d", "-c", u.conf], u.log)
        _wait_answer(ns, u.doh_port, ["+https=/dns-query", "www.lab.test",
                                      "A"], [lab.WWW_A], "unbound", 10)
        dohstub = ns.spawn(["setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", "--inh-caps=+net_bind_service",
                            "--ambient-caps=+net_bind_service",
                            lab.daemon_bin(), "-c", "/dev/null",
                            "--dnssec", "process",
                            "--listen", "127.0.0.1:53",
                            "--upstream", u.url, "--resolve", u.resolve,
                            "--ca-file", ca], dlog)
        _wait_answer(ns, 53, ["www.lab.test", "A"], [lab.WWW_A],
                     "dohstub as nobody", 10)
        status = open("/proc/%d/status" % dohstub.pid).read()
        fields = dict(l.split(":", 1) for l in status.splitlines()
                      if ":" in l)
        check(fields["Uid"].split() == ["65534"] * 4, "Uid %r" %
              fields["Uid"])
        eff = int(fields["CapEff"].strip(), 16)
        check(eff == 1 << 10, "CapEff %#x: want only CAP_NET_BIND_SERVICE"
              % eff)
        rc = _stop(dohstub, "dohstub")
        dohstub = None
        check(rc == 0, "exit %r: %s" % (rc, lab.tail(dlog, 20)))
    finally:
        for p, what in ((dohstub, "dohstub"), (unbound, "unbound")):
            try:
                _stop(p, what)
            except AssertionError:
                pass
        ns.close()


if __name__ == "__main__":
    lab.main(globals())
