#!/usr/bin/python3
"""The query log end to end: the real daemon in front of unbound's DoH,
a plain "sink" for a forward rule.  One line per answer, for a DoH
answer, a cache hit, a local name, a forward rule and a FORMERR; JSON
that json.loads reads; the client's address only when asked; logrotate
(rename + SIGHUP) losing nothing; a writer that cannot write (a FIFO
nobody reads) neither slowing answers nor hiding its drops; a killed
writer restarted; a reload that changes the settings."""

import json
import os
import re
import signal
import socket
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, make_query  # noqa: E402

U = None	# unbound (DoH)
SINK = None	# plain DNS for the forward rule

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LATENCY = r"\d+\.\d{3}"


def setup_module():
    global U, SINK
    U = lab.Unbound("unbound", plain=False).start()
    SINK = lab.Sink()


def teardown_module():
    if SINK:
        SINK.close()
    if U:
        U.stop()


def logdir():
    """A directory the daemon's account can write: started as root, it
    drops to dohstub or nobody before its writer opens the file."""
    d = os.path.join(lab.tmpdir(), "qlog-%d" % lab.free_port(False))
    os.makedirs(d)
    os.chmod(d, 0o1777)
    return d


def start(name, config=None, **extra):
    s = {"mode": "encrypted-only", "upstream": U.url, "resolve": U.resolve,
         "ca-file": lab.certs().ca_pem,
         "forward": "corp.test " + SINK.addr}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    if config is not None:
        return lab.Dohstub(s, name=name, cache=True, config=config).start()
    return lab.Dohstub(s, name=name, cache=True).start()


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read().decode()
    except FileNotFoundError:
        return []
    check(data == "" or data.endswith("\n"), "a cut line in %s" % path)
    return data.splitlines()


def wait_lines(path, n, timeout=5):
    """The file's lines once it holds at least n (flushes are <= 100 ms
    apart)."""
    lab.wait_for(lambda: len(read_lines(path)) >= n, timeout * lab.SLOW,
                 what="%d lines in %s (%d)" % (n, path,
                                               len(read_lines(path))))
    return read_lines(path)


def writers(pid):
    """The pids of the daemon's query log writers."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == pid and comm == "dohstub-qlog":
            out.append(int(p))
    return sorted(out)


def ask_all(d):
    """A DoH answer, a cache hit, a local name, a forward rule and a
    FORMERR, in that order."""
    m = d.udp("www.lab.test", "A")
    check(m.values("A") == [lab.WWW_A], "doh: %r" % m)
    m = d.udp("www.lab.test", "A")
    check(m.values("A") == [lab.WWW_A], "cache: %r" % m)
    m = d.udp("localhost", "A")
    check(m.values("A") == ["127.0.0.1"], "local: %r" % m)
    m = d.udp("host.corp.test", "A")
    check(m.values("A") == [lab.SINK_A], "forward: %r" % m)
    m = lab.udp_exchange(d.port, make_query("www.lab.test", "A", qid=4321,
                                            qdcount=0))
    check(m is not None and m.rcode == 1, "FORMERR: %r" % m)


def test_text_lines():
    path = os.path.join(logdir(), "query.log")
    d = start("dohstub-text", query_log=path)
    ask_all(d)
    lines = wait_lines(path, 5)
    check(len(lines) == 5, "want 5 lines: %r" % lines)
    want = [
        r"www\.lab\.test\. A NOERROR doh %s upstream=%s" % (
            LATENCY, re.escape(U.url)),
        r"www\.lab\.test\. A NOERROR cache %s" % LATENCY,
        r"localhost\. A NOERROR local %s" % LATENCY,
        # plain DNS: EDE 0 says so (given even without EDNS)
        r"host\.corp\.test\. A NOERROR forward-plain %s zone=corp\.test\. "
        r"ede=0" % LATENCY,
        r"- - FORMERR error %s" % LATENCY,
    ]
    for l, w in zip(lines, want):
        check(re.fullmatch(TIME + " " + w, l), "line %r, want /%s/" % (l, w))
        check("client=" not in l, "a client address not asked for: %r" % l)
    # the time is now's, in UTC
    t = time.strptime(lines[0][:19], "%Y-%m-%dT%H:%M:%S")
    check(abs(time.mktime(t) - time.mktime(time.gmtime())) < 60,
          "time %s is not UTC now" % lines[0][:24])
    st = os.stat(path)
    check(st.st_mode & 0o777 == 0o640, "mode %o" % (st.st_mode & 0o777))
    if os.geteuid() == 0:
        check(st.st_uid != 0, "the file was created as root, not as the "
              "daemon's account")
    check(len(writers(d.pid)) == 1, "writers %r" % writers(d.pid))
    # the daemon's binary exec'd afresh, not a copy of the daemon
    w = writers(d.pid)[0]
    with open("/proc/%d/cmdline" % w, "rb") as f:
        argv = f.read().split(b"\0")[:-1]
    check(argv[1:] == [b"--query-log-writer", path.encode()],
          "the writer's argv: %r" % argv)
    check(os.path.samefile("/proc/%d/exe" % w, lab.daemon_bin()),
          "the writer runs %s" % os.readlink("/proc/%d/exe" % w))
    d.stop()


def test_json_client():
    path = os.path.join(logdir(), "query.json")
    d = start("dohstub-json", query_log=path, query_log_format="json",
              query_log_client="yes")
    ask_all(d)
    lines = wait_lines(path, 5)
    objs = [json.loads(l) for l in lines]
    check([o["source"] for o in objs] ==
          ["doh", "cache", "local", "forward-plain", "error"],
          "sources %r" % objs)
    check([o["name"] for o in objs] == ["www.lab.test.", "www.lab.test.",
                                        "localhost.", "host.corp.test.",
                                        None], "names %r" % objs)
    check([o["rcode"] for o in objs] == ["NOERROR"] * 4 + ["FORMERR"],
          "rcodes %r" % objs)
    check(objs[0]["upstream"] == U.url, "upstream %r" % objs[0])
    check(objs[3]["zone"] == "corp.test." and objs[3]["ede"] == 0,
          "zone, ede %r" % objs[3])
    check("ede" not in objs[0] and "zone" not in objs[0],
          "ede or zone for a DoH answer %r" % objs[0])
    for o in objs:
        check(o["client"] == "127.0.0.1", "client %r" % o)
        check(isinstance(o["latency_ms"], float) and o["latency_ms"] >= 0,
              "latency %r" % o)
        check(re.fullmatch(TIME, o["time"]), "time %r" % o)
    d.stop()


def test_rotation():
    """logrotate: rename, SIGHUP; queries before and after all logged,
    the later ones in the new file."""
    dirn = logdir()
    path = os.path.join(dirn, "query.log")
    d = start("dohstub-rotate", query_log=path)
    before = [lab.unique_name("b") for _ in range(60)]
    after = [lab.unique_name("a") for _ in range(60)]
    for n in before:
        d.udp(n, "A")
    os.rename(path, path + ".1")
    mark = d.log_count()
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"configuration reloaded", 5, since=mark)
    d.wait_log(r"query log: to ", 5, since=mark)
    for n in after:
        d.udp(n, "A")
    new = wait_lines(path, len(after))
    old = wait_lines(path + ".1", len(before))
    names = lambda ls: [l.split()[1] for l in ls]
    check(sorted(names(old) + names(new)) ==
          sorted(n + "." for n in before + after),
          "lines lost or doubled: old %d, new %d" % (len(old), len(new)))
    check(set(n + "." for n in after) <= set(names(new)),
          "queries after the rotation not in the new file")
    # the old writer drained and exited
    lab.wait_for(lambda: len(writers(d.pid)) == 1, 5 * lab.SLOW,
                 what="one writer left")
    d.stop()


def answer_times(d, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", d.port))
    s.settimeout(2 * lab.SLOW)
    times = []
    try:
        for i in range(n):
            q = make_query("www.lab.test", "A", qid=i & 0xffff)
            t0 = time.monotonic()
            s.send(q)
            while True:
                r = s.recv(65535)
                if r[:2] == q[:2]:
                    break
            times.append(time.monotonic() - t0)
    finally:
        s.close()
    return times


@lab.timeout(90)
def test_blocked_writer():
    """A FIFO nobody reads: the writer blocks opening it, the daemon
    does not; answers come as fast as with no log, lines are dropped
    and counted."""
    if lab.VALGRIND:
        lab.skip("a load test")
    fifo = os.path.join(logdir(), "fifo")
    os.mkfifo(fifo, 0o666)
    mport = lab.free_port(False)
    d = start("dohstub-blocked", query_log=fifo, query_log_format="json",
              query_log_client="yes", metrics="127.0.0.1:%d" % mport)
    try:
        d.udp("www.lab.test", "A")	# cached from here on
        base = answer_times(d, 500)
        # ~190 bytes a line: 1 MiB of buffer and the pipe fill in
        # about 7,000
        loaded = answer_times(d, 12000)
        p50, p99 = (statistics.median(loaded),
                    sorted(loaded)[int(len(loaded) * 0.99)])
        b50 = statistics.median(base)
        if os.environ.get("DOHSTUB_VERBOSE") == "1":
            print("  base p50 %.3f ms, blocked p50 %.3f ms p99 %.3f ms max "
                  "%.3f ms" % (b50 * 1e3, p50 * 1e3, p99 * 1e3,
                               max(loaded) * 1e3))
        check(p50 < max(b50 * 3, 0.002) and p99 < 0.05,
              "answers slowed: p50 %.3f ms (%.3f before), p99 %.3f ms" % (
                  p50 * 1e3, b50 * 1e3, p99 * 1e3))
        dropped = lab.metric(mport, "dohstub_query_log_dropped_total")
        check(dropped > 1000, "dropped %d" % dropped)
        check(d.udp("www.lab.test", "A").values("A") == [lab.WWW_A],
              "no answer after the drops")
        d.stop()
    finally:
        # let the writer's open() return, so that it can exit
        try:
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            time.sleep(0.2)
            os.close(fd)
        except OSError:
            pass


def test_writer_killed():
    path = os.path.join(logdir(), "query.log")
    mport = lab.free_port(False)
    d = start("dohstub-kill", query_log=path,
              metrics="127.0.0.1:%d" % mport)
    d.udp("www.lab.test", "A")
    wait_lines(path, 1)
    w = lab.wait_for(lambda: writers(d.pid), 5, what="a writer")
    mark = d.log_count()
    os.kill(w[0], signal.SIGKILL)
    d.wait_log(r"query log: writer %d killed by signal 9" % w[0], 5,
               since=mark)
    # answered and logged meanwhile: the line waits for the next writer
    d.udp("localhost", "A")
    nw = lab.wait_for(lambda: [p for p in writers(d.pid) if p != w[0]], 5,
                      what="a new writer")
    check(w[0] not in writers(d.pid), "the dead writer is still there")
    lines = wait_lines(path, 2)
    check(lines[-1].split()[1:5] == ["localhost.", "A", "NOERROR", "local"],
          "after the restart: %r" % lines)
    check(lab.metric(mport, "dohstub_query_log_restarts_total") == 1,
          "restarts not counted")
    check(len(nw) == 1, "writers %r" % nw)
    d.stop()


def test_reload_changes_settings():
    """SIGHUP applies query-log settings read from the file: on, then
    JSON to another file with the client, then off."""
    dirn = logdir()
    conf = os.path.join(dirn, "dohstub.conf")
    a, b = os.path.join(dirn, "a.log"), os.path.join(dirn, "b.log")
    lab.write_file(conf, "query-log %s\n" % a)
    os.chmod(conf, 0o644)
    d = start("dohstub-reload", config=conf)
    d.udp("www.lab.test", "A")
    check(wait_lines(a, 1)[0].split()[4] == "doh", "text line in a.log")

    def reload(text):
        lab.write_file(conf, text)
        mark = d.log_count()
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log(r"configuration reloaded", 5, since=mark)

    reload("query-log %s\nquery-log-format json\nquery-log-client yes\n" %
           b)
    d.udp("localhost", "A")
    o = json.loads(wait_lines(b, 1)[0])
    check(o["source"] == "local" and o["client"] == "127.0.0.1",
          "json line %r" % o)
    reload("query-log off\n")
    lab.wait_for(lambda: not writers(d.pid), 5 * lab.SLOW,
                 what="no writer once off")
    d.udp("localhost", "AAAA")
    time.sleep(0.3)
    check(len(read_lines(a)) == 1 and len(read_lines(b)) == 1,
          "lines logged while off")
    d.stop()


def test_stderr_closed():
    """Started with stderr closed (dohstub 2>&-) and query-log stderr:
    fd 2 is /dev/null, not the event loop's or a socket, so the writer
    writes there, never fails, and is never restarted."""
    if lab.VALGRIND:
        lab.skip("valgrind needs its stderr")
    mport = lab.free_port(False)
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": U.url,
                     "resolve": U.resolve, "ca-file": lab.certs().ca_pem,
                     "query-log": "stderr", "metrics": "127.0.0.1:%d" %
                     mport}, name="dohstub-no-stderr", cache=True)
    argv = d.argv
    d.argv = lambda: ["/bin/sh", "-c", 'exec "$@" 2>&-', "sh"] + argv()
    d.start()
    for i in range(20):
        check(d.udp("www.lab.test", "A").values("A") == [lab.WWW_A],
              "answer %d" % i)
    target = os.readlink("/proc/%d/fd/2" % d.pid)
    check(target == "/dev/null", "fd 2 is %s" % target)
    w = lab.wait_for(lambda: writers(d.pid), 5, what="a writer")
    # a writer that fails is restarted after 1 s: give it the time
    time.sleep(2.5)
    check(writers(d.pid) == w and
          lab.metric(mport, "dohstub_query_log_restarts_total") == 0,
          "the writer restarted: %r, %r" % (w, writers(d.pid)))
    check(lab.metric(mport, "dohstub_query_log_lines_total") == 20,
          "lines not counted")
    # its log went to /dev/null: no stats line for d.stop() to read
    d.proc.terminate()
    check(d.proc.wait(5 * lab.SLOW) == 0, "exit %d" % d.proc.returncode)


@lab.timeout(60)
def test_stderr_pipe_writes():
    """query-log stderr with stderr a pipe (as journald's is): the
    writer writes at most PIPE_BUF bytes at a time, whole lines, so the
    daemon's own log lines fall between query log lines.  The writer is
    stopped while lines pile up in its pipe, then traced as it catches
    up."""
    if lab.VALGRIND or os.geteuid() != 0 or not shutil.which("strace"):
        lab.skip("needs strace, as root")
    dirn = logdir()
    fifo, out = os.path.join(dirn, "stderr"), os.path.join(dirn, "out")
    trace = os.path.join(dirn, "trace")
    os.mkfifo(fifo)
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": U.url,
                     "resolve": U.resolve, "ca-file": lab.certs().ca_pem,
                     "query-log": "stderr"}, name="dohstub-stderr-pipe",
                    cache=True)
    argv = d.argv
    d.argv = lambda: ["/bin/sh", "-c", 'cat "$0" > "$1" & shift; '
                      'exec "$@" 2>"$0"', fifo, out] + argv()
    d.start()
    check(d.udp("www.lab.test", "A").values("A") == [lab.WWW_A], "answer")
    w = lab.wait_for(lambda: writers(d.pid), 5, what="a writer")[0]
    os.kill(w, signal.SIGSTOP)
    st = lab.spawn(["strace", "-p", str(w), "-e", "trace=write", "-e",
                    "signal=none", "-s", "0", "-o", trace],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def traced():
        with open("/proc/%d/status" % w) as f:
            return any(l.startswith("TracerPid:") and l.split()[1] != "0"
                       for l in f)
    lab.wait_for(traced, 5, what="strace attached")
    n = 2000
    answer_times(d, n)
    os.kill(w, signal.SIGCONT)

    def logged():
        with open(out, "rb") as f:
            return f.read().count(b" www.lab.test. A NOERROR ")
    lab.wait_for(lambda: logged() >= n + 1, 10 * lab.SLOW,
                 what="%d lines out" % (n + 1))
    st.terminate()
    st.wait(5)
    sizes = [int(m.group(2)) for m in re.finditer(
        r"^write\((\d+), .*\)\s+=\s+(\d+)$", open(trace).read(), re.M)]
    check(sum(sizes) > 100000 and max(sizes) <= 4096,
          "writes of %d bytes in all, the largest %d" % (
              sum(sizes), max(sizes or [0])))
    with open(out, "rb") as f:
        lines = f.read().decode().splitlines()
    q = [l for l in lines if " www.lab.test. A NOERROR " in l]
    check(len(q) == n + 1 and all(re.fullmatch(
        TIME + r" www\.lab\.test\. A NOERROR (cache|doh) " + LATENCY +
        r"( upstream=\S+)?", l) for l in q), "cut lines: %r" % [
            l for l in q if not re.fullmatch(TIME + " .*" + LATENCY +
                                             r"( upstream=\S+)?", l)][:3])
    d.proc.terminate()
    check(d.proc.wait(5 * lab.SLOW) == 0, "exit %d" % d.proc.returncode)


def test_resolv_change_no_reopen():
    """A resolv.conf with other nameservers reloads the configuration,
    but is no rotation: the writer and its file stay as they are."""
    dirn = logdir()
    path, resolv = (os.path.join(dirn, "query.log"),
                    os.path.join(dirn, "resolv.conf"))
    lab.write_file(resolv, "nameserver 127.0.0.2\n")
    d = lab.Dohstub({"mode": "plaintext", "resolv-conf": resolv,
                     "query-log": path}, name="dohstub-resolv-qlog",
                    args=["-v"]).start()
    d.wait_log(r"netwatch: watching rtnetlink %s" % re.escape(resolv), 5)
    w = lab.wait_for(lambda: writers(d.pid), 5, what="a writer")
    mark = d.log_count()
    lab.write_file(resolv + ".new", "nameserver 127.0.0.3\n")
    os.rename(resolv + ".new", resolv)
    d.wait_log(r"other nameservers, reloading", 5, since=mark)
    d.wait_log(r"configuration reloaded", 5, since=mark)
    check(not d.log_lines(r"query log: (to |writer)", since=mark),
          "the query log was reopened: %r" % d.log_lines(r"query log",
                                                          since=mark))
    check(writers(d.pid) == w, "writers %r, were %r" % (writers(d.pid), w))
    d.stop()


def test_off_by_default():
    d = start("dohstub-nolog")
    d.udp("www.lab.test", "A")
    check(not writers(d.pid), "a writer with query-log off")
    d.stop()


if __name__ == "__main__":
    lab.main(globals())
