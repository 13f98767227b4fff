#!/usr/bin/python3
"""The answer cache under memory pressure, against unbound's DoH: filled
far past cache-size it stays within its bound (by its own count and by
the process's peak RSS) and evicts; a scan of names asked once does not
flush the names asked again and again (SIEVE); a reload that changes
cache-size starts an empty cache of the new size, one that does not
keeps the answers.  Every name is below w.lab.test, which unbound
answers by a wildcard, so lab.unique_name() gives fresh cacheable
names."""

import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402
from test_sidecar import scrape  # noqa: E402

MiB = 1 << 20
U = None	# one unbound for the suite


def setup_module():
    global U
    U = lab.Unbound("unbound-cachemem", plain=False).start()


def teardown_module():
    if U is not None:
        U.stop()


def settings(**extra):
    s = {"mode": "encrypted-only", "upstream": U.url, "resolve": U.resolve,
         "ca-file": lab.certs().ca_pem, "timeout": "1s"}
    s.update({k.replace("_", "-"): v for k, v in extra.items()})
    return s


def wait_metrics(mport):
    """start() returns once the DNS ports are bound; the metrics
    endpoint opens just after."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", mport), 0.2).close()
            return True
        except OSError:
            return False
    lab.wait_for(up, 5 * lab.SLOW, what="the metrics port to open")


def start(tag, **extra):
    mport = lab.free_port(udp_too=False)
    d = lab.Dohstub(settings(metrics="127.0.0.1:%d" % mport, **extra),
                    name="dohstub-" + tag, cache=True).start()
    d.mport = mport
    wait_metrics(mport)
    return d


def cache_gauges(mport):
    m = scrape(mport)
    return {k: m.get("dohstub_cache_" + k) for k in
            ("entries", "bytes", "max_bytes", "evictions_total")}


def dnsperf(port, names, qps=5000):
    """Ask every name once (A, UDP) at a bounded rate; returns how many
    were answered NOERROR."""
    path = os.path.join(lab.tmpdir(), "scan-%x.txt" %
                        lab.random.getrandbits(32))
    with open(path, "w") as f:
        f.writelines("%s A\n" % n for n in names)
    r = lab.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", path,
                 "-n", "1", "-Q", str(qps), "-c", "4", "-t", "3"],
                timeout=len(names) / qps + 30)
    check(r.returncode == 0, "dnsperf failed: " + r.stdout[-500:])
    mc = re.search(r"NOERROR (\d+)", r.stdout)
    return int(mc.group(1)) if mc else 0


def vm_hwm(pid):
    """The process's peak resident set size, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


def answered_by_doh(d, name):
    m = d.udp(name, timeout=3)
    check(lab.source(m) == "doh", "%s: %s" % (name, lab.source(m)))


@lab.timeout(60)
def test_memory_bound():
    """cache-size 2m and 30,000 distinct names (2.4 times what 2 MiB
    holds): the cache's bytes stay within its bound, it evicts, and the
    daemon's peak RSS stays within cache-size plus 10 MiB."""
    if lab.VALGRIND:
        lab.skip("30,000 queries at a fixed rate mean nothing under "
                 "valgrind")
    d = start("cachemem-bound", cache_size="2m")
    try:
        names = [lab.unique_name("fill") for _ in range(30000)]
        ok = dnsperf(d.port, names)
        check(ok >= 25000, "only %d of 30000 answered" % ok)
        g = cache_gauges(d.mport)
        lab.note("cache after the fill: %r" % g)
        check(g["max_bytes"] == 2 * MiB, "max_bytes %r" % g["max_bytes"])
        check(0 < g["bytes"] <= g["max_bytes"], "bytes %r past max_bytes "
              "%r" % (g["bytes"], g["max_bytes"]))
        check(g["entries"] > 0, "no entries: %r" % g)
        check(g["evictions_total"] > 0, "no evictions after %d answers "
              "into 2 MiB: %r" % (ok, g))
        # every answer stored was either evicted or is still there
        check(g["entries"] + g["evictions_total"] >= ok - 100,
              "%d answered, only %r kept or evicted" % (ok, g))
        hwm = vm_hwm(d.pid)
        lab.note("VmHWM %.1f MiB" % (hwm / MiB))
        if lab.under_asan():
            # ASan's shadow memory and its quarantine of freed blocks
            # (256 MiB by default) dwarf the cache: RSS says nothing
            # about it here.  The byte count above still holds.
            lab.note("VmHWM not checked under ASan")
        else:
            check(hwm <= 2 * MiB + 10 * MiB, "peak RSS %.1f MiB past "
                  "cache-size 2 MiB + 10 MiB" % (hwm / MiB))
    finally:
        d.stop()


@lab.timeout(60)
def test_scan_does_not_flush_hot_names():
    """20 hot names asked before the scan and a few times between its
    chunks, 20 warm ones asked twice before it and never during it; the
    scan: 24,000 names asked once (about twice what the cache holds), in
    chunks well under what it holds.  With the upstream paused after it,
    every hot and warm name is answered from the cache and the first
    names of the scan are not.  The warm names are what sets SIEVE apart:
    LRU, FIFO or CLOCK would have evicted them, a scan of names asked
    once only ever evicts its own names."""
    if lab.VALGRIND:
        lab.skip("24,000 queries at a fixed rate mean nothing under "
                 "valgrind")
    d = start("cachemem-scan", cache_size="2m")
    try:
        hot = [lab.unique_name("hot%d" % i) for i in range(20)]
        warm = [lab.unique_name("warm%d" % i) for i in range(20)]
        for n in hot + warm:
            answered_by_doh(d, n)
        for n in warm:
            answered_by_doh(d, n)
        # the scan's first names, asked one by one so they surely were
        # cached (dnsperf may lose some)
        early = [lab.unique_name("early%d" % i) for i in range(5)]
        for n in early:
            answered_by_doh(d, n)
        for chunk in range(12):
            dnsperf(d.port, [lab.unique_name("scan%d" % chunk)
                             for _ in range(2000)])
            for _ in range(3):
                for n in hot:
                    answered_by_doh(d, n)
        g = cache_gauges(d.mport)
        lab.note("cache after the scan: %r" % g)
        check(g["evictions_total"] > 5000,
              "the scan did not overflow the cache: %r" % g)
        hits0 = scrape(d.mport).get("dohstub_cache_lookups_total",
                                    result="hit")
        U.pause()
        try:
            lost = [n for n in hot
                    if lab.source(d.udp(n, timeout=3)) != "doh"]
            check(not lost, "%d of 20 hot names gone after the scan: %s"
                  % (len(lost), lost[:3]))
            hits1 = scrape(d.mport).get("dohstub_cache_lookups_total",
                                        result="hit")
            check(hits1 == hits0 + 20, "hits %d then %d" % (hits0, hits1))
            lost = [n for n in warm
                    if lab.source(d.udp(n, timeout=3)) != "doh"]
            check(not lost, "%d of 20 names asked twice before the scan "
                  "gone after it: %s" % (len(lost), lost[:3]))
            for n in early:
                m = d.udp(n, timeout=3)
                check(m.rcode == 2, "%s from early in the scan still "
                      "answered (%s): nothing evicted it" %
                      (n, lab.source(m)))
        finally:
            U.resume()
    finally:
        d.stop()


def conf_lines(port, mport, cache_size, timeout="1s"):
    s = settings(listen="127.0.0.1:%d" % port,
                 metrics="127.0.0.1:%d" % mport, cache_size=cache_size,
                 timeout=timeout)
    return ["%s %s" % kv for kv in s.items()]


def reload(d, conf, lines):
    since = d.log_count()
    lab.write_file(conf, "\n".join(lines) + "\n")
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log("configuration reloaded", 5, since=since)


@lab.timeout(40)
def test_reload_and_cache_size():
    """From a configuration file (flags would outlive a reload): a
    reload that changes only the timeout keeps the answers, one that
    changes cache-size starts an empty cache of the new size."""
    port, mport = lab.free_port(), lab.free_port(udp_too=False)
    conf = os.path.join(lab.tmpdir(), "cachemem-reload.conf")
    lab.write_file(conf, "\n".join(conf_lines(port, mport, "1m")) + "\n")
    d = lab.Dohstub({}, name="dohstub-cachemem-reload", port=port,
                    config=conf, cache=True)
    d.settings.pop("listen", None)
    d.start()
    wait_metrics(mport)
    try:
        names = [lab.unique_name("kept%d" % i) for i in range(30)]
        for n in names:
            answered_by_doh(d, n)
        g = cache_gauges(mport)
        check(g["entries"] == 30 and g["max_bytes"] == MiB,
              "before any reload: %r" % g)

        reload(d, conf, conf_lines(port, mport, "1m", timeout="2s"))
        g = cache_gauges(mport)
        check(g["entries"] == 30 and g["max_bytes"] == MiB,
              "after a reload that kept cache-size: %r" % g)
        U.pause()
        try:
            for n in names:
                m = d.udp(n, timeout=3)
                check(lab.source(m) == "doh", "%s after the reload, "
                      "upstream paused: %s" % (n, lab.source(m)))
        finally:
            U.resume()

        reload(d, conf, conf_lines(port, mport, "3m", timeout="2s"))
        g = cache_gauges(mport)
        # bytes: the empty cache's bucket table, counted too
        check(g["entries"] == 0 and g["bytes"] < 4096 and
              g["max_bytes"] == 3 * MiB,
              "after a reload to cache-size 3m: %r" % g)
        miss0 = scrape(mport).get("dohstub_cache_lookups_total",
                                  result="miss")
        answered_by_doh(d, names[0])
        miss1 = scrape(mport).get("dohstub_cache_lookups_total",
                                  result="miss")
        check(miss1 == miss0 + 1, "a name cached before the resize was "
              "not a miss: misses %d then %d" % (miss0, miss1))
        check(cache_gauges(mport)["entries"] == 1, "the new cache does "
              "not keep answers")
    finally:
        d.stop()


if __name__ == "__main__":
    lab.main(globals())
