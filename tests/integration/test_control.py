#!/usr/bin/python3
"""The control socket and dohstub-control (issue 18), against the real
daemon and unbound's DoH.

One daemon, started as root as users start it by hand, so that it drops
to the dohstub user (or nobody) as it does by default; its socket must
still serve root.  Encrypted-only, the cache on, two forward rules
(fwd.lab.test to unbound over DoH, plain.test to a plain sink, which is
also the fallback a portal lease uses):

- status and stats, as text and as JSON (json.loads), and a server
  given by address with how discovery went;
- lookup says where each answer came from: a local zone, the cache, the
  DoH upstream (its URL), a forward rule (its zone), the portal;
- flush NAME [TYPE] and flush: a cached name is asked upstream again
  (the DoH answer counter moves);
- reload: ok, and a broken configuration answered with its error (file,
  line, setting), the running one kept;
- the socket is 0660 and the daemon's account's; nobody cannot open it,
  and with the file opened to all is refused by its credentials;
- an over-long request, one that never ends (no newline within 5 s),
  and a ninth connection are each closed with an error;
- captive-portal is refused while DoH is up, opens a lease once it is
  down, and lookups then come from the portal;
- cmake --install puts dohstub-control in sbin and its page in man8."""

import json
import os
import pwd
import re
import shutil
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

ROOT = os.path.abspath(os.path.join(lab.HERE, "..", ".."))

U = D = SINK = None
SOCK = CONF = None


def client_bin():
    b = os.environ.get("DOHSTUB_CONTROL_BIN") or os.path.join(
        ROOT, "build", "dohstub-control")
    return os.path.abspath(b)


def build_dir():
    return os.environ.get("DOHSTUB_BUILD") or os.path.join(ROOT, "build")


def ctl(*args, as_nobody=False, sock=None, timeout=15):
    """dohstub-control -s SOCK ARGS...: CompletedProcess (text)."""
    argv = [client_bin(), "-s", sock or SOCK] + list(args)
    if as_nobody:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                "--clear-groups"] + argv
    return lab.run(argv, timeout=timeout * lab.SLOW)


def ok(*args):
    """A command that must succeed: its standard output."""
    r = ctl(*args)
    check(r.returncode == 0, "dohstub-control %s exited %d: %s%s" % (
        " ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def ok_json(*args):
    out = ok("--json", *args)
    check(out.endswith("\n") and out.count("\n") == 1,
          "not one line: %r" % out)
    return json.loads(out)


def fields(text):
    """'key value' lines as a dict (the first word is the key)."""
    d = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        d.setdefault(k, v)
    return d


def lookup(name, qtype=None):
    return fields(ok("lookup", name, *([qtype] if qtype else [])))


def doh_answers():
    return ok_json("stats")["answered_doh"]


def write_conf(extra=""):
    lab.write_file(CONF, "# test_control\nlog-level info\n" + extra)


def setup_module():
    global U, D, SINK, SOCK, CONF
    if os.geteuid() != 0:
        lab.skip("needs root: the daemon drops to its user, nobody is "
                 "refused")
    U = lab.Unbound("unbound-control").start()
    SINK = lab.Sink(records={"host.plain.test": {"A": ["192.0.2.44"]}})
    run = os.path.join(lab.tmpdir(), "run")
    os.makedirs(run, exist_ok=True)
    os.chmod(run, 0o755)
    SOCK = os.path.join(run, "control")
    CONF = os.path.join(lab.tmpdir(), "control.conf")
    write_conf()
    D = lab.Dohstub({
        "mode": "encrypted-only", "upstream": U.url, "resolve": U.resolve,
        "ca-file": lab.certs().ca_pem, "timeout": "1s",
        "fallback": "127.0.0.1:%d" % SINK.port,
        "forward": ["fwd.lab.test " + U.url,
                    "plain.test 127.0.0.1:%d" % SINK.port],
        "control-socket": SOCK,
    }, name="dohstub-control", config=CONF, cache=True).start()
    lab.wait_for(lambda: os.path.exists(SOCK), 5, what="the socket")
    lab.wait_for(lambda: "health ok" in ctl("status").stdout, 10,
                 what="an upstream connected")


def teardown_module():
    if D is not None and D.running():
        D.stop()
    if U is not None:
        U.stop()
    if SINK is not None:
        SINK.close()


@lab.timeout(30)
def test_status():
    out = ok("status")
    lines = out.splitlines()
    check(lines[0] == "mode encrypted-only" and lines[1] == "health ok",
          "status: %r" % out)
    check(any(l.startswith("upstream %s: ready" % U.url) for l in lines),
          "the upstream, ready: %r" % out)
    check(any(l.startswith("upstream %s for forward fwd.lab.test.: " %
                           U.url) for l in lines),
          "the forward rule's upstream: %r" % out)
    check(lines[-1].startswith("cache "), "cache line: %r" % out)
    j = ok_json("status")
    check(j["mode"] == "encrypted-only" and j["healthy"] is True and
          j["reason"] is None, "json status: %r" % j)
    ups = {(u["url"], u["zone"]): u for u in j["upstreams"]}
    check(ups[(U.url, None)]["state"] == "ready" and
          (U.url, "fwd.lab.test.") in ups, "json upstreams: %r" % ups)
    check(set(j["cache"]) >= {"entries", "bytes", "max_bytes", "hits",
                              "misses", "hit_rate"}, "json cache: %r" % j)


@lab.timeout(30)
def test_status_address_server():
    """A server given by address: status says how discovery went, as
    /health does (unbound has no DDR record: no upgrade)."""
    sock = os.path.join(os.path.dirname(SOCK), "control-addr")
    d = lab.Dohstub({"mode": "encrypted-preferred",
                     "upstream": "127.0.0.1:%d" % U.plain_port,
                     "control-socket": sock}, name="dohstub-addr").start()
    try:
        lab.wait_for(lambda: any(
            l.startswith("address 127.0.0.1:%d: upgrade none (" %
                         U.plain_port)
            for l in ctl("status", sock=sock).stdout.splitlines()), 10,
            what="the address server's line")
        r = ctl("--json", "status", sock=sock)
        a = json.loads(r.stdout)["addresses"]
        check(r.returncode == 0 and len(a) == 1 and
              a[0]["address"] == "127.0.0.1:%d" % U.plain_port and
              a[0]["upgrade"] == "none" and a[0]["reason"] and
              a[0]["state"] == "idle", "json addresses: %r" % a)
    finally:
        d.stop()


@lab.timeout(30)
def test_stats():
    D.udp("www.lab.test")
    text = {k: int(v) for k, v in fields(ok("stats")).items()}
    j = ok_json("stats")
    for k in ("queries_udp", "queries_tcp", "answered_doh", "cache_hits",
              "cache_misses", "servfail", "portal_answers", "pending",
              "cache_entries", "cache_bytes", "query_log_lines",
              "query_log_dropped", "query_log_restarts"):
        check(k in text and k in j, "stats lack %s: %r" % (k, text))
    check(text["queries_udp"] >= 1 and text["cache_entries"] >= 1,
          "counters: %r" % text)
    logged = D.stats_now()
    check(logged["answered_doh"] == j["answered_doh"] ==
          text["answered_doh"], "stats %r, SIGUSR1 %r" % (j, logged))


@lab.timeout(30)
def test_lookup_sources():
    f = lookup("localhost")
    check(f["source"] == "local" and f["rcode"] == "NOERROR" and
          "localhost.\t" in ok("lookup", "localhost"),
          "localhost: %r" % f)
    name = lab.unique_name("ctl")
    out = ok("lookup", name)
    f = fields(out)
    check(f["source"] == "doh" and f["upstream"] == U.url and
          "zone" not in f and f["rcode"] == "NOERROR", "upstream: %r" % out)
    check(out.rstrip("\n").endswith("\t" + lab.WILD_ADDR),
          "its record: %r" % out)
    f = lookup(name)
    check(f["source"] == "cache" and "upstream" not in f,
          "asked again: %r" % f)
    f = lookup("x.fwd.lab.test", "AAAA")
    check(f["source"] == "forward-doh" and f["zone"] == "fwd.lab.test." and
          f["upstream"] == U.url and f["type"] == "AAAA",
          "forward-doh: %r" % f)
    out = ok("lookup", "host.plain.test")
    f = fields(out)
    check(f["source"] == "forward-plain" and f["zone"] == "plain.test." and
          "upstream" not in f and f.get("ede") == "0" and
          "\t192.0.2.44" in out, "forward-plain: %r" % out)
    j = ok_json("lookup", "www.lab.test", "AAAA")
    check(j["source"] in ("doh", "cache") and j["rcode"] == "NOERROR" and
          j["type"] == "AAAA" and j["message"]["answer"][0]["data"] ==
          lab.WWW_AAAA, "json lookup: %r" % j)
    check(isinstance(j["latency_us"], int), "latency: %r" % j)
    r = ctl("lookup", "a..b")
    check(r.returncode == 1 and r.stderr == "error: bad name\n",
          "a bad name: %d %r" % (r.returncode, r.stderr))
    r = ctl("--json", "lookup")
    check(r.returncode == 1 and json.loads(r.stdout) ==
          {"error": "missing argument"}, "json error: %r" % r.stdout)


@lab.timeout(30)
def test_flush():
    name = lab.unique_name("flush")
    D.udp(name)
    n = doh_answers()
    D.udp(name)
    check(doh_answers() == n, "a second ask went upstream")
    check(ok("flush", name, "AAAA") == "ok: 0 entries flushed\n",
          "another type is not flushed")
    D.udp(name)
    check(doh_answers() == n, "flushing AAAA dropped A")
    check(ok("flush", name.upper(), "A") == "ok: 1 entry flushed\n",
          "flush NAME TYPE")
    m = D.udp(name)
    check(m.values("A") == [lab.WILD_ADDR] and doh_answers() == n + 1,
          "after the flush, asked upstream again")
    check(ok("flush", name) == "ok: 1 entry flushed\n", "flush NAME")
    D.udp(name)
    check(doh_answers() == n + 2, "after flush NAME, upstream again")
    j = ok_json("flush")
    check(j["ok"] is True and j["message"].endswith("flushed") and
          ok_json("status")["cache"]["entries"] == 0, "flush: %r" % j)
    D.udp(name)
    check(doh_answers() == n + 3, "after flush, upstream again")


@lab.timeout(30)
def test_reload():
    check(ok("reload") == "ok: configuration reloaded\n", "reload")
    write_conf("cache-size lots\n")
    try:
        r = ctl("reload")
        check(r.returncode == 1 and r.stdout == "" and
              r.stderr.startswith("error: %s:3: cache-size: " % CONF),
              "a broken configuration: %d %r" % (r.returncode, r.stderr))
        r = ctl("--json", "reload")
        err = json.loads(r.stdout)["error"]
        check(r.returncode == 1 and err.startswith(CONF + ":3: "),
              "json: %r" % r.stdout)
        check(D.udp("www.lab.test").values("A") == [lab.WWW_A],
              "serving all the same")
        check(D.log_lines(r"reload: .*cache-size.*keeping the running"),
              "logged")
    finally:
        write_conf()
    check(ok("reload") == "ok: configuration reloaded\n", "reload again")


@lab.timeout(30)
def test_permissions():
    st = os.lstat(SOCK)
    try:
        owner = pwd.getpwnam("dohstub")
    except KeyError:
        owner = pwd.getpwnam("nobody")
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660,
          "mode %o" % st.st_mode)
    check(st.st_uid == owner.pw_uid and st.st_gid == owner.pw_gid,
          "owned by %d:%d, not %s" % (st.st_uid, st.st_gid, owner.pw_name))
    check(D.log_lines("dropped privileges to %s" % owner.pw_name),
          "the daemon runs as %s" % owner.pw_name)
    # root, though not the daemon's uid, is served (as all along)
    check(ok("status").startswith("mode "), "root")
    r = ctl("status", as_nobody=True)
    check(r.returncode == 2 and "Permission denied" in r.stderr,
          "nobody, socket 0660: %d %r" % (r.returncode, r.stderr))
    mark = D.log_count()
    os.chmod(SOCK, 0o666)
    try:
        r = ctl("status", as_nobody=True)
        check(r.returncode == 1 and r.stdout == "" and
              r.stderr == "error: permission denied\n",
              "nobody, socket 0666: %d %r %r" % (r.returncode, r.stdout,
                                                r.stderr))
        D.wait_log(r"control: connection from uid 65534 refused", 3,
                   since=mark)
    finally:
        os.chmod(SOCK, 0o660)


def raw(data, wait=8.0):
    """Send data on a new connection; everything the daemon says until
    it closes, and how long that took."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait * lab.SLOW)
    s.connect(SOCK)
    t0 = time.monotonic()
    try:
        s.sendall(data)
    except BrokenPipeError:
        pass	# refused at once: what it said is still there to read
    got = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass	# closed with our request unread: after what it said
    finally:
        s.close()
    return got.decode(), time.monotonic() - t0


@lab.timeout(40)
def test_limits():
    got, _ = raw(b"x" * 2000)
    check(got == "error: request too long\n", "no newline: %r" % got)
    got, _ = raw(b"status" + b" " * 1100 + b"\n")
    check(got == "error: request too long\n", "too long a line: %r" % got)
    got, _ = raw(b"status" + b" " * 1018 + b"\n")
    check(got.startswith("mode "), "1024 bytes: %r" % got[:40])
    got, _ = raw(b"bogus\n")
    check(got == "error: unknown command (try help)\n", "bogus: %r" % got)
    # the error is JSON only if this request asks: nothing of an
    # earlier request's bytes counts
    got, _ = raw(b"--json bogus\n")
    check(json.loads(got) == {"error": "unknown command (try help)"},
          "--json bogus: %r" % got)
    got, _ = raw(b"--js\n")
    check(got == "error: unknown command (try help)\n", "--js: %r" % got)
    got, _ = raw(b"--json\n")
    check(json.loads(got) == {"error": "empty request"}, "--json: %r" % got)
    got, took = raw(b"stat")
    check(got == "error: timed out waiting for the request\n" and
          4.5 <= took <= 7 * lab.SLOW, "slow: %r after %.1f s" % (got, took))
    # eight connections held open; the ninth is turned away
    held = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(SOCK)
            held.append(s)
        got, took = raw(b"status\n", wait=3)
        check(got == "error: too many connections\n" and took < 2,
              "a ninth: %r" % got)
    finally:
        for s in held:
            s.close()
    lab.wait_for(lambda: ctl("status").returncode == 0, 3,
                 what="room again")
    r = ctl("help")
    check(r.returncode == 0 and "lookup NAME [TYPE]" in r.stdout, "help")


@lab.timeout(30)
def test_client():
    """The socket from -c FILE's control-socket; usage and connection
    errors exit 2 with one line."""
    conf = lab.write_file(os.path.join(lab.tmpdir(), "client.conf"),
                          "control-socket %s\n" % SOCK)
    r = lab.run([client_bin(), "-c", conf, "status"])
    check(r.returncode == 0 and r.stdout.startswith("mode "),
          "-c: %d %r" % (r.returncode, r.stderr))
    for argv in ([], ["-x", "status"], ["lookup", "a b"],
                 ["-s", SOCK + ".none", "status"],
                 ["-c", conf + ".none", "status"]):
        r = lab.run([client_bin()] + argv)
        check(r.returncode == 2 and r.stdout == "" and
              r.stderr.count("\n") in (1, 3),
              "%r: %d %r" % (argv, r.returncode, r.stderr))
    # CONTROL_MAX_LINE bytes are sent (the daemon refuses the verb),
    # one more is not; with --json, its space counts
    for argv, code in ((["x" * 1024], 1), (["x" * 1025], 2),
                       (["--json", "x" * 1017], 1),
                       (["--json", "x" * 1018], 2)):
        r = ctl(*argv)
        check(r.returncode == code, "%d bytes%s: %d %r" % (
            len(argv[-1]), " with --json" if len(argv) > 1 else "",
            r.returncode, r.stderr))
    r = lab.run([client_bin(), "-s", SOCK + ".none", "status"])
    check(r.stderr.startswith("dohstub-control: cannot connect to ") and
          r.stderr.count("\n") == 1, "one line: %r" % r.stderr)


@lab.timeout(40)
def test_captive_portal():
    """Last: it stops unbound."""
    r = ctl("captive-portal")
    check(r.returncode == 1 and r.stderr.startswith("error: ") and
          "connected" in r.stderr, "DoH up: %d %r" % (r.returncode,
                                                     r.stderr))
    U.stop()
    lab.wait_for(lambda: ok_json("status")["healthy"] is False, 10,
                 what="DoH down")
    check(ok("captive-portal") == "ok: captive portal lease open\n",
          "DoH down: a lease")
    check(any(l.startswith("portal ") for l in ok("status").splitlines()),
          "status says so")
    check(ok_json("status")["portal"], "json status says so")
    out = ok("lookup", "portal.example")
    f = fields(out)
    check(f["source"] == "portal" and f.get("ede") == "0" and
          out.rstrip("\n").endswith("\t" + lab.SINK_A),
          "from the network's resolver: %r" % out)


@lab.timeout(60)
def test_install():
    prefix = os.path.join(lab.tmpdir(), "prefix")
    r = lab.run(["cmake", "--install", build_dir(), "--prefix", prefix])
    check(r.returncode == 0, "cmake --install: %s%s" % (r.stdout, r.stderr))
    for f in ("sbin/dohstub-control", "share/man/man8/dohstub-control.8"):
        check(os.path.exists(os.path.join(prefix, f)), "%s not installed" %
              f)
    if shutil.which("mandoc"):
        r = lab.run(["mandoc", "-Tlint", "-W", "warning",
                     os.path.join(prefix, "share/man/man8/"
                                  "dohstub-control.8")])
        check(r.returncode == 0, "mandoc: %s" % r.stdout)
        r = lab.run(["mandoc", "-Tascii", os.path.join(
            prefix, "share/man/man8/dohstub-control.8")])
        text = re.sub(".\b", "", r.stdout)
        check('{"error": "reason"}' in " ".join(text.split()) and
              "/usr/local/etc" not in text, "the page says: %s" % text)
    unit = open(os.path.join(prefix, "lib/systemd/system/dohstub.service"))
    text = unit.read()
    unit.close()
    check("RuntimeDirectory=dohstub" in text and
          "--control-socket /run/dohstub/control" in text,
          "the unit's socket")


if __name__ == "__main__":
    lab.main(globals())
