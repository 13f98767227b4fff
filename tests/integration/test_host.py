#!/usr/bin/env python3
"""dohstub as a host's resolver: SIGHUP reload, systemd readiness
notification, socket activation, the unit file, installation.

The daemon reads a configuration file here (not flags, which would win
over any reload), rewritten between SIGHUPs.  Upstreams are unbound
(answers www.lab.test with 192.0.2.1) and faultsrv (answers every A
question with 192.0.2.42), so an answer tells which upstream gave it.
"""

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faultsrv"))
import lab  # noqa: E402
from lab import check  # noqa: E402
from faultsrv import FaultServer  # noqa: E402

FAULT_A = "192.0.2.42"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir():
    return os.environ.get("DOHSTUB_BUILD") or os.path.join(ROOT, "build")


def faultsrv(fault="none"):
    c = lab.certs()
    return FaultServer(os.environ.get("FAULTSRV_BIN") or
                       os.path.join(build_dir(), "faultsrv"),
                       c.server_chain, c.server_key, fault)


_unbound = None


def unbound():
    global _unbound
    if _unbound is None or not _unbound.running():
        _unbound = lab.Unbound(name="unbound-host").start()
    return _unbound


def doh_lines(port):
    """Settings for an upstream at doh.test:port on 127.0.0.1."""
    return ["upstream https://doh.test:%d/dns-query" % port,
            "resolve doh.test:%d:127.0.0.1" % port,
            "ca-file %s" % lab.certs().ca_pem]


class Host:
    """The daemon on a configuration file, for reloads."""

    def __init__(self, name, lines, env=None, argv_prefix=None):
        self.dir = lab.tmpdir()
        self.conf = os.path.join(self.dir, name + ".conf")
        self.write(lines)
        self.d = lab.Dohstub({}, name=name, config=self.conf, env=env)
        # Every setting from the file: no --listen flag to outlive a reload.
        self.d.settings.pop("listen", None)

    def write(self, lines):
        lab.write_file(self.conf, "\n".join(lines) + "\n")

    def start(self, port):
        self.d.port = port
        self.d.start()
        return self

    def reload(self, lines, expect="configuration reloaded"):
        since = self.d.log_count()
        self.write(lines)
        os.kill(self.d.pid, signal.SIGHUP)
        self.d.wait_log(expect, 5, since=since)


def answer(port, name="www.lab.test", tcp=False, **kw):
    m = (lab.tcp_query if tcp else lab.udp_query)(port, name, **kw)
    check(m is not None, "no answer on port %d" % port)
    return m.values("A")


def listening_inode(pid, port):
    """The inode of pid's TCP listening socket on 127.0.0.1:port."""
    inodes = lab._socket_inodes(pid)
    for ino, (lport, state) in _tcp_listeners().items():
        if lport == port and state == "0A" and ino in inodes:
            return ino
    return None


def _tcp_listeners():
    out = {}
    for line in lab.proc_lines("/proc/net/tcp"):
        p = line.split()
        out[int(p[9])] = (int(p[1].split(":")[1], 16), p[3])
    return out


@lab.timeout(40)
def test_reload_changes_upstream_and_mode():
    u = unbound()
    f = faultsrv()
    port = lab.free_port()
    h = Host("reload", ["listen 127.0.0.1:%d" % port] +
             doh_lines(u.doh_port)).start(port)
    try:
        check(answer(port) == [lab.WWW_A], "before reload")
        h.reload(["listen 127.0.0.1:%d" % port] + doh_lines(f.port))
        check(answer(port) == [FAULT_A], "after the upstream changed")
        check(answer(port, tcp=True) == [FAULT_A], "TCP after reload")
        # to plaintext: no upstream at all, the fallback answers
        sink = lab.Sink()
        try:
            h.reload(["listen 127.0.0.1:%d" % port, "mode plaintext",
                      "fallback %s" % sink.addr])
            check(answer(port) == [lab.SINK_A], "after mode plaintext")
        finally:
            sink.close()
    finally:
        h.d.stop()
        f.stop()


@lab.timeout(40)
def test_reload_keeps_queries_in_flight():
    """A query in flight to the old upstream is answered by it; a TCP
    client connected before the reload keeps its connection."""
    u = unbound()
    slow = faultsrv("slow:1500")
    port = lab.free_port()
    h = Host("inflight", ["listen 127.0.0.1:%d" % port, "timeout 5s"] +
             doh_lines(slow.port)).start(port)
    tcp = socket.create_connection(("127.0.0.1", port), 5)
    try:
        tcp.settimeout(10)
        result = {}

        def ask():
            # slow:1500 after the first handshake, the reload between
            result["a"] = answer(port, timeout=5)
        t = threading.Thread(target=ask)
        t.start()
        # the query is waiting on the slow server
        slow.wait_event("request", timeout=3 * lab.SLOW)
        h.reload(["listen 127.0.0.1:%d" % port, "timeout 5s"] +
                 doh_lines(u.doh_port))
        t0 = time.monotonic()
        check(answer(port) == [lab.WWW_A], "new query after reload")
        check(time.monotonic() - t0 < 1.0 * lab.SLOW, "new query waited "
              "on the old upstream (slow:1500)")
        t.join(10)
        check(result.get("a") == [FAULT_A], "the query in flight got %r, "
              "not the old upstream's answer" % result.get("a"))
        # the connection made before the reload still works
        q = lab.make_query("www.lab.test", qid=77)
        tcp.sendall(len(q).to_bytes(2, "big") + q)
        n = int.from_bytes(lab._recv_exact(tcp, 2), "big")
        m = lab.parse(lab._recv_exact(tcp, n))
        check(m.id == 77 and m.values("A") == [lab.WWW_A],
              "old TCP connection after reload: %r" % m)
        # the old configuration's upstream is closed once unused
        lab.wait_for(lambda: not lab.tcp_connections_to(h.d.pid,
                                                        slow.port), 5,
                     what="connection to the old upstream closed")
    finally:
        tcp.close()
        h.d.stop()
        slow.stop()


@lab.timeout(40)
def test_bad_reload_keeps_serving():
    u = unbound()
    port = lab.free_port()
    good = ["listen 127.0.0.1:%d" % port] + doh_lines(u.doh_port)
    h = Host("badreload", good).start(port)
    try:
        inode = listening_inode(h.d.pid, port)
        h.reload(good + ["timeout banana"], expect="keeping the running "
                 "configuration")
        check(any("timeout" in l and ":%d:" % (len(good) + 1) in l
                  for l in h.d.log_lines("keeping")),
              "the message names the line and key: %r" %
              h.d.log_lines("keeping"))
        check(answer(port) == [lab.WWW_A], "after a bad file")
        # an address that cannot be bound: the whole reload is refused
        h.reload(good + ["listen 192.0.2.1:53"], expect="keeping the "
                 "running configuration")
        check(answer(port) == [lab.WWW_A], "after an unbindable address")
        check(listening_inode(h.d.pid, port) == inode,
              "the listener was reopened")
        check(h.d.running(), "daemon died")
    finally:
        h.d.stop()


@lab.timeout(40)
def test_reload_listeners():
    """Unchanged listeners keep their socket; new ones open; removed ones
    close."""
    u = unbound()
    p1, p2 = lab.free_port(), lab.free_port()
    base = doh_lines(u.doh_port)
    h = Host("listeners", ["listen 127.0.0.1:%d" % p1] + base).start(p1)
    try:
        ino1 = listening_inode(h.d.pid, p1)
        check(ino1 is not None, "no TCP listener found for port %d" % p1)
        h.reload(["listen 127.0.0.1:%d" % p1,
                  "listen 127.0.0.1:%d" % p2] + base)
        check(answer(p2) == [lab.WWW_A], "new listener")
        check(listening_inode(h.d.pid, p1) == ino1, "kept listener "
              "was reopened")
        h.reload(["listen 127.0.0.1:%d" % p2] + base)
        check(answer(p2) == [lab.WWW_A], "remaining listener")
        check(listening_inode(h.d.pid, p1) is None, "removed listener "
              "still open")
        try:
            socket.create_connection(("127.0.0.1", p1), 1).close()
            check(False, "removed TCP listener still accepts")
        except ConnectionRefusedError:
            pass
    finally:
        h.d.stop()


class Notify:
    """A NOTIFY_SOCKET that collects what the daemon says."""

    def __init__(self):
        self.path = os.path.join(lab.tmpdir(), "notify-%d" % lab.free_port())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        # as systemd's: the daemon may have dropped to another user
        os.chmod(self.path, 0o777)
        self.msgs = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        self.sock.settimeout(0.2)
        while True:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
            except OSError:
                return

    def wait(self, what, timeout=5):
        lab.wait_for(lambda: any(what in m for m in self.msgs), timeout,
                     what="%s from the daemon (got %r)" % (what, self.msgs))

    def close(self):
        self.sock.close()


@lab.timeout(40)
def test_sd_notify():
    u = unbound()
    port = lab.free_port()
    n = Notify()
    h = Host("notify", ["listen 127.0.0.1:%d" % port] +
             doh_lines(u.doh_port), env={"NOTIFY_SOCKET": n.path})
    try:
        h.start(port)
        n.wait("READY=1")
        check("STATUS=serving" in n.msgs[0], "READY before the upstream "
              "was connected: %r" % n.msgs)
        h.reload(["listen 127.0.0.1:%d" % port] + doh_lines(u.doh_port))
        n.wait("RELOADING=1")
        lab.wait_for(lambda: sum("READY=1" in m for m in n.msgs) >= 2, 5,
                     what="READY=1 after the reload")
        h.d.stop()
        n.wait("STOPPING=1")
    finally:
        n.close()
    # An upstream that is down: READY all the same, once given up on.
    n = Notify()
    port = lab.free_port()
    h = Host("notify-down", ["listen 127.0.0.1:%d" % port] +
             doh_lines(lab.free_port()), env={"NOTIFY_SOCKET": n.path})
    try:
        t0 = time.monotonic()
        h.start(port)
        n.wait("READY=1")
        check(time.monotonic() - t0 < 3, "READY took %.1fs" %
              (time.monotonic() - t0))
        check(any("no DoH upstream" in m for m in n.msgs),
              "STATUS does not say why: %r" % n.msgs)
    finally:
        h.d.stop()
        n.close()


@lab.timeout(40)
def test_socket_activation():
    """LISTEN_FDS sockets are served, alongside a listen address, and a
    reload that drops every listen address keeps them."""
    u = unbound()
    pa, pl = lab.free_port(), lab.free_port()
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("127.0.0.1", pa))
    ts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ts.bind(("127.0.0.1", pa))
    ts.listen(16)
    conf = os.path.join(lab.tmpdir(), "activation.conf")
    lab.write_file(conf, "\n".join(["listen 127.0.0.1:%d" % pl] +
                                   doh_lines(u.doh_port)) + "\n")
    log = open(os.path.join(lab.tmpdir(), "activation.log"), "wb")

    ufd, tfd = us.fileno(), ts.fileno()

    def child():
        # In the child, before the fds not passed are closed: the sockets
        # become 3 and 4, as systemd passes them.
        t = os.dup(tfd)
        os.dup2(ufd, 3)
        os.dup2(t, 4)
    # dnssec process: the lab's zones are unsigned.
    env = lab.daemon_env({"LISTEN_FDS": "2", "DOHSTUB_DNSSEC": "process"})
    # LISTEN_PID must be the daemon's own pid: the shell's, kept by exec.
    p = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh",
                          lab.daemon_bin(), "-c", conf],
                         env=env, stdout=log, stderr=subprocess.STDOUT,
                         pass_fds=(3, 4, ufd, tfd), preexec_fn=child)
    us.close()
    ts.close()
    try:
        lab.wait_for(lambda: lab.udp_query(pa, "www.lab.test",
                                           timeout=0.3) is not None, 5,
                     what="an answer on the inherited socket")
        check(answer(pa) == [lab.WWW_A], "inherited UDP socket")
        check(answer(pa, tcp=True) == [lab.WWW_A], "inherited TCP socket")
        check(answer(pl) == [lab.WWW_A], "configured listen address")
        lab.write_file(conf, "\n".join(doh_lines(u.doh_port) + [
            "listen 127.0.0.2:%d" % pl]) + "\n")
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check(answer(pa) == [lab.WWW_A], "inherited socket after reload")
        check(answer(pa, tcp=True) == [lab.WWW_A], "inherited TCP after "
              "reload")
    finally:
        p.send_signal(signal.SIGTERM)
        check(p.wait(5) == 0, "exit status %s" % p.returncode)
        log.close()


@lab.timeout(20)
def test_loop_refused():
    port = lab.free_port()
    for key in ("fallback", "bootstrap"):
        r = lab.run_daemon(["-n", "--listen", "127.0.0.1:%d" % port,
                            "--mode", "encrypted-preferred",
                            "--upstream", "https://doh.test/dns-query",
                            "--resolve", "doh.test:443:127.0.0.1",
                            "--" + key, "127.0.0.1:%d" % port])
        check(r.returncode != 0, "%s pointing at ourselves accepted" % key)
        lines = r.stderr.strip().splitlines()
        check(len(lines) == 1 and key in lines[0],
              "not one line naming %s: %r" % (key, r.stderr))


CAP_NET_BIND_SERVICE = 1 << 10


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f
                    if ":\t" in l)


def low_port():
    """A port below 1024 free on 127.0.0.1 (UDP and TCP), or skip."""
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if int(f.read()) <= 1000:
            lab.skip("every port is unprivileged here")
    for port in range(1000, 900, -1):
        socks = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    lab.skip("no free port in 901..1000")


@lab.timeout(40)
def test_root_drops_privileges():
    """Started as root without `user`: once bound, the daemon runs as the
    dohstub user (nobody if there is none) with CAP_NET_BIND_SERVICE
    only, and a reload can still read its files and listen below
    1024."""
    if os.geteuid() != 0:
        lab.skip("not root")
    try:
        pw = pwd.getpwnam("dohstub")
    except KeyError:
        pw = pwd.getpwnam("nobody")
    u = unbound()
    port = lab.free_port()
    h = Host("privs", ["listen 127.0.0.1:%d" % port] +
             doh_lines(u.doh_port)).start(port)
    try:
        line = h.d.wait_log(r"dropped privileges", 3)
        check("dropped privileges to %s (uid %d)" % (pw.pw_name, pw.pw_uid)
              in line, "want %s (uid %d): %r" % (pw.pw_name, pw.pw_uid,
                                                 line))
        st = proc_status(h.d.pid)
        ids = ["%d" % pw.pw_uid] * 4, ["%d" % pw.pw_gid] * 4
        check(st["Uid"].split() == ids[0] and st["Gid"].split() == ids[1],
              "Uid %r Gid %r, want %s" % (st["Uid"], st["Gid"], ids))
        check(set(st["Groups"].split()) <= {"%d" % pw.pw_gid},
              "supplementary groups %r" % st["Groups"])
        for k in ("CapEff", "CapPrm"):
            check(int(st[k], 16) == CAP_NET_BIND_SERVICE, "%s %s, want "
                  "CAP_NET_BIND_SERVICE only (400)" % (k, st[k]))
        for k in ("CapInh", "CapAmb"):
            check(int(st[k], 16) == 0, "%s %s, want none" % (k, st[k]))
        # the bounding set too, when ours lets it be cut
        if int(proc_status(os.getpid())["CapEff"], 16) & (1 << 8):
            check(int(st["CapBnd"], 16) == CAP_NET_BIND_SERVICE,
                  "CapBnd %s, want 400" % st["CapBnd"])
        check(not h.d.log_lines("a reload will fail"), "files out of "
              "reach: %r" % h.d.log_lines("a reload will fail"))
        check(answer(port) == [lab.WWW_A], "as %s" % pw.pw_name)
        # a reload reads the file and the CA again, and binds port < 1024
        low = low_port()
        h.reload(["listen 127.0.0.1:%d" % port,
                  "listen 127.0.0.1:%d" % low] + doh_lines(u.doh_port))
        check(answer(low) == [lab.WWW_A], "on port %d after the reload" %
              low)
        check(answer(low, tcp=True) == [lab.WWW_A], "TCP on port %d" % low)
    finally:
        h.d.stop()


@lab.timeout(40)
def test_pidfile_is_ours():
    """The pidfile is a new file of root's, 0644, whatever was at its
    path: one someone else made (who could rewrite the pid) is replaced,
    and a FIFO there does not block start-up."""
    if os.geteuid() != 0:
        lab.skip("not root")
    nobody = pwd.getpwnam("nobody")
    u = unbound()
    for kind in ("file", "fifo"):
        pidfile = os.path.join(lab.tmpdir(), "planted-%s.pid" % kind)
        if kind == "file":
            lab.write_file(pidfile, "1\n")
        else:
            os.mkfifo(pidfile)
        os.chown(pidfile, nobody.pw_uid, nobody.pw_gid)
        os.chmod(pidfile, 0o666)
        port = lab.free_port()
        h = Host("pidfile-" + kind, ["listen 127.0.0.1:%d" % port,
                                     "pidfile %s" % pidfile] +
                 doh_lines(u.doh_port))
        try:
            h.start(port)
            h.d.wait_log(r"started", 5)
            st = os.lstat(pidfile)
            check(stat.S_ISREG(st.st_mode) and st.st_uid == 0 and
                  stat.S_IMODE(st.st_mode) == 0o644, "%s: uid %d mode %o"
                  % (kind, st.st_uid, st.st_mode))
            with open(pidfile) as f:
                got = f.read()
            check(got == "%d\n" % h.d.pid, "%s: pidfile %r, pid %d" %
                  (kind, got, h.d.pid))
        finally:
            h.d.stop()


@lab.timeout(30)
def test_shared_account_no_lease_signal():
    """Running as nobody, which other daemons share, SIGUSR2 opens no
    captive portal lease: any of them could have sent it."""
    if os.geteuid() != 0:
        lab.skip("not root")
    u = unbound()
    port = lab.free_port()
    h = Host("shared", ["listen 127.0.0.1:%d" % port, "user nobody",
                        "mode encrypted-only", "fallback 127.0.0.1:9"] +
             doh_lines(u.doh_port)).start(port)
    try:
        h.d.wait_log(r"an account other daemons share: SIGUSR2", 3)
        mark = h.d.log_count()
        os.kill(h.d.pid, signal.SIGUSR2)
        h.d.wait_log(r"SIGUSR2: no captive portal lease: dohstub runs as "
                     r"a shared account \(nobody\)", 3, since=mark)
        check(not h.d.log_lines(r"lease opened"), "lease opened: %s" %
              h.d.log_tail())
        check(answer(port) == [lab.WWW_A], "still serving as nobody")
    finally:
        h.d.stop()


@lab.timeout(30)
def test_user_root_keeps_root():
    if os.geteuid() != 0:
        lab.skip("not root")
    u = unbound()
    port = lab.free_port()
    h = Host("root", ["listen 127.0.0.1:%d" % port, "user root"] +
             doh_lines(u.doh_port)).start(port)
    try:
        h.d.wait_log(r"started", 3)
        check(h.d.log_lines(r"running as root"), "no warning: %s" %
              h.d.log_tail())
        check(not h.d.log_lines(r"dropped privileges"), "dropped: %s" %
              h.d.log_tail())
        st = proc_status(h.d.pid)
        check(st["Uid"].split() == ["0"] * 4, "Uid %r" % st["Uid"])
        check(st["CapEff"] == proc_status(os.getpid())["CapEff"],
              "CapEff %s, want ours (%s)" % (
                  st["CapEff"], proc_status(os.getpid())["CapEff"]))
        check(answer(port) == [lab.WWW_A], "as root")
    finally:
        h.d.stop()


@lab.timeout(20)
def test_unreadable_config_warned():
    """A file a reload must read, out of the user's reach: said at
    start, not at the first SIGHUP."""
    if os.geteuid() != 0:
        lab.skip("not root")
    u = unbound()
    port = lab.free_port()
    h = Host("unreadable", ["listen 127.0.0.1:%d" % port] +
             doh_lines(u.doh_port))
    os.chmod(h.conf, 0o600)
    h.start(port)
    try:
        line = h.d.wait_log(r"a reload will fail", 3)
        check(h.conf in line, "file not named: %r" % line)
        check(answer(port) == [lab.WWW_A], "serving all the same")
    finally:
        h.d.stop()


@lab.timeout(30)
def test_unit_file_verifies():
    if shutil.which("systemd-analyze") is None:
        lab.skip("systemd-analyze not installed")
    unit = open(os.path.join(ROOT, "conf", "dohstub.service")).read()
    unit = unit.replace("/usr/local/sbin/dohstub", lab.daemon_bin())
    unit = unit.replace("/usr/local/etc/dohstub.conf",
                        os.path.join(ROOT, "conf", "dohstub.conf"))
    d = os.path.join(lab.tmpdir(), "units")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "dohstub.service")
    lab.write_file(path, unit)
    shutil.copy(os.path.join(ROOT, "conf", "dohstub.socket"), d)
    r = lab.run(["systemd-analyze", "verify", "--man=no", path,
                 os.path.join(d, "dohstub.socket")])
    # On a booted system verify also loads the targets the unit names
    # and may warn of the host's own units: only warnings of ours count.
    out = (r.stdout + r.stderr).splitlines()
    ours = [l for l in out if "dohstub" in l]
    check(r.returncode == 0 and not ours, "systemd-analyze verify exited "
          "%d: %s" % (r.returncode, "\n".join(ours or out)))
    if out:
        lab.note("systemd-analyze verify, of other units: %s" %
                 " | ".join(out[:3]))
    for directive in ("Type=notify", "ExecReload=", "NoNewPrivileges=yes",
                      "ProtectSystem=strict", "PrivateTmp=yes",
                      "RestrictAddressFamilies=",
                      "SystemCallFilter=@system-service",
                      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"):
        check(directive in unit, "unit lacks %s" % directive)


@lab.timeout(60)
def test_install():
    prefix = os.path.join(lab.tmpdir(), "prefix")
    r = lab.run(["cmake", "--install", build_dir(), "--prefix", prefix])
    check(r.returncode == 0, "cmake --install: %s%s" % (r.stdout, r.stderr))
    for f in ("sbin/dohstub", "bin/dohq", "share/man/man8/dohstub.8",
              "share/man/man5/dohstub.conf.5", "etc/dohstub.conf",
              "lib/systemd/system/dohstub.socket"):
        check(os.path.exists(os.path.join(prefix, f)), "%s not installed" %
              f)
    unit = open(os.path.join(prefix, "lib/systemd/system/dohstub.service"))
    text = unit.read()
    unit.close()
    # the unit names where things were installed, not /usr/local
    check("ExecStart=%s/sbin/dohstub -c %s/etc/dohstub.conf" %
          (prefix, prefix) in text, "installed unit paths: %s" %
          [l for l in text.splitlines() if l.startswith("Exec")])


if __name__ == "__main__":
    lab.main(globals())
