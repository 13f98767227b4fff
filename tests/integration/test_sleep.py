#!/usr/bin/python3
"""Suspend and resume, as far as this machine allows: it cannot be
suspended, so tests/sleepshim.c (LD_PRELOAD) adds a pretended sleep to
CLOCK_BOOTTIME on demand while CLOCK_MONOTONIC runs on, which is how a
resume looks to the daemon.  The real daemon against unbound's DoH: the
resume is seen within a second with no query, logged once, counted and
handled as a network change; a cached answer that expired during the
sleep is asked again, never served as fresh; with the upstream gone it
is stale (EDE 3) within serve-stale and SERVFAIL past it.  (The rules,
case by case, are test_clock's, test_cache's and test_proxy's.)"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402


class Sleep:
    """The pretended sleep so far, in the file the shim reads; readable
    by the daemon after it drops privileges."""

    def __init__(self):
        self.path = os.path.join(lab.tmpdir(), "slept-ms")
        self.ms = 0
        self._write()

    def _write(self):
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.ms)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)

    def sleep(self, seconds):
        self.ms += int(seconds * 1000)
        self._write()


def wait_resumes(d, n):
    lab.wait_for(lambda: d.stats_now().get("resumes") == n, 3,
                 interval=0.2, what="resumes=%d" % n)


def test_resume():
    z = Sleep()
    env = lab.shim_env(SLEEPSHIM_FILE=z.path)
    mport = lab.free_port(udp_too=False)
    u = lab.Unbound("unbound-sleep", plain=False).start()
    d = lab.Dohstub({"mode": "encrypted-only", "upstream": u.url,
                     "resolve": u.resolve, "ca-file": lab.certs().ca_pem,
                     "timeout": "1s", "serve-stale": "1d",
                     "metrics": "127.0.0.1:%d" % mport},
                    name="dohstub-sleep", env=env, cache=True).start()
    try:
        m = d.udp("www.lab.test")
        check(m.rcode == 0 and m.values("A") == [lab.WWW_A], "first: %r" % m)
        m = d.udp("www.lab.test")
        check(m.rcode == 0 and 290 <= m.answer[0].ttl <= 300,
              "cached: %r" % m)
        st = d.stats_now()
        check(st.get("answered_doh") == 1 and st.get("cache_hits") == 1,
              "counters: %r" % st)

        # Half a second of sleep is no resume.
        z.sleep(0.5)
        time.sleep(1.5)
        check(d.stats_now().get("resumes") == 0, "a short sleep counted")

        # A night: seen by the 1 s tick, with no query; once.
        z.sleep(8 * 3600 - 0.5)
        wait_resumes(d, 1)
        time.sleep(1.5)
        st = d.stats_now()
        check(st.get("resumes") == 1 and st.get("network_changes") == 1,
              "one resume, one network change: %r" % st)
        lines = d.log_lines(r"resumed after")
        check(len(lines) == 1 and "resumed after 28800 s of sleep" in
              lines[0], "the log: %r" % lines)
        check(lab.metric(mport, "dohstub_resumes_total") == 1,
              "dohstub_resumes_total")

        # The answer had under 300 s left: asked again, fresh.
        m = d.udp("www.lab.test", edns=1232)
        check(m.rcode == 0 and m.answer[0].ttl >= 298 and
              lab.ede(m) is None,
              "after the night: %r" % m)
        check(d.stats_now().get("answered_doh") == 2,
              "not asked upstream again")

        # Upstream gone, an hour's sleep: stale, EDE 3, TTL 30.
        u.pause()
        z.sleep(3600)
        wait_resumes(d, 2)
        m = d.udp("www.lab.test", timeout=4, edns=1232)
        check(m.rcode == 0 and m.answer[0].ttl == 30 and
              (lab.ede(m) or (None,))[0] == 3,
              "stale after an hour: %r (EDE %r)" % (m, lab.ede(m)))

        # Two days: past the window, SERVFAIL.
        z.sleep(2 * 86400)
        wait_resumes(d, 3)
        m = d.udp("www.lab.test", timeout=4)
        check(m.rcode == 2, "past serve-stale: rcode %d" % m.rcode)
        check(len(d.log_lines(r"resumed after")) == 3, "log lines")
    finally:
        u.resume()
        d.stop()
        u.stop()


test_resume.timeout = 60


if __name__ == "__main__":
    lab.main(globals())
