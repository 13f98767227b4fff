#!/usr/bin/python3
"""The command line and configuration: -n, -nv, error messages naming
where and what, precedence flag > environment > file."""

import os
import pwd
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

BASE = """\
# dohstub test configuration
listen 127.0.0.1:5301
upstream https://doh.test:8443/dns-query
resolve doh.test:8443:127.0.0.1
fallback 127.0.0.1:5399
"""


def conf(name, text):
    return lab.write_file(os.path.join(lab.tmpdir(), name), text)


def nv(config, *args, env=None):
    """dohstub -nv; returns (rc, output)."""
    r = lab.run_daemon(["-nv"] + list(args), env=env, config=config)
    return r.returncode, r.stdout + r.stderr


def setting(out, key):
    """The values printed for key by -nv (a list: keys can repeat)."""
    return re.findall(r"^\s*%s[ \t]+(\S.*?)\s*$" % re.escape(key), out,
                      re.M)


def error_line(r, what):
    """A failed run must print exactly one (non-empty) line."""
    check(r.returncode != 0, "%s: exit 0, want failure (%r)" % (
        what, r.stdout + r.stderr))
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: want one error line on stderr, got %d: %r"
          % (what, len(lines), r.stderr + r.stdout))
    return lines[0]


def good_conf():
    return conf("good.conf", BASE + """\
mode encrypted-only   # trailing comment
ca-file %s
method get
timeout 500ms
edns-udp-size 1400
max-pending 100
""" % lab.certs().ca_pem)


def test_check_good_config():
    r = lab.run_daemon(["-n"], config=good_conf())
    check(r.returncode == 0, "-n on a good config: exit %d: %s" % (
        r.returncode, r.stderr + r.stdout))


def test_check_prints_config():
    rc, out = nv(good_conf())
    check(rc == 0, "-nv exit %d: %s" % (rc, out))
    want = {"mode": ["encrypted-only"],
            "upstream": ["https://doh.test:8443/dns-query"],
            "method": ["get"], "edns-udp-size": ["1400"],
            "max-pending": ["100"], "ca-file": [lab.certs().ca_pem],
            # auto, as -nv shows it: half of max-pending
            "max-pending-per-client": ["50"], "ratelimit": ["0"],
            "listen": ["127.0.0.1:5301"]}
    wrong = {k: setting(out, k) for k, v in want.items()
             if setting(out, k) != v}
    check(not wrong, "-nv printed %r, want %r\n%s" % (
        wrong, {k: want[k] for k in wrong}, out))
    t = setting(out, "timeout")
    check(t in (["500ms"], ["0.5s"]), "timeout printed as %r" % t)
    check(setting(out, "resolve") and
          setting(out, "resolve")[0].replace(" ", "") ==
          "doh.test:8443:127.0.0.1", "resolve: %r" % setting(out, "resolve"))
    check(setting(out, "fallback") == ["127.0.0.1:5399"],
          "fallback: %r" % setting(out, "fallback"))


def test_printed_config_reads_back():
    r = lab.run_daemon(["-nv"], config=good_conf())
    check(r.returncode == 0 and r.stdout.strip(),
          "-nv printed nothing on stdout: %r" % r.stderr)
    again = conf("printed.conf", r.stdout)
    r2 = lab.run_daemon(["-nv"], config=again)
    check(r2.returncode == 0, "-nv output is not a valid config: %s" %
          r2.stderr)
    check(r2.stdout == r.stdout, "printing is not stable:\n%s\n---\n%s"
          % (r.stdout, r2.stdout))


def test_defaults_printed():
    rc, out = nv(conf("min.conf", BASE + "mode encrypted-only\n"))
    check(rc == 0, out)
    check(setting(out, "timeout") in (["2s"], ["2000ms"]),
          "default timeout %r" % setting(out, "timeout"))
    check(setting(out, "edns-udp-size") == ["1232"], "default edns-udp-size")
    check(setting(out, "method") == ["post"], "default method")
    check(setting(out, "bootstrap-min-ttl") == ["30s"],
          "default bootstrap-min-ttl %r" % setting(out, "bootstrap-min-ttl"))


def test_unknown_key_names_file_and_line():
    path = conf("unknown.conf", "# comment\nmode encrypted-only\n"
                "no-such-key 1\nupstream https://doh.test/dns-query\n")
    r = lab.run_daemon(["-n"], config=path)
    line = error_line(r, "unknown key")
    check(path + ":3:" in line, "want %s:3: in %r" % (path, line))
    check("no-such-key" in line, "key not named: %r" % line)


def test_bad_mode_names_file_and_line():
    path = conf("badmode.conf", BASE + "mode sometimes\n")
    r = lab.run_daemon(["-n"], config=path)
    line = error_line(r, "bad mode")
    check(path + ":6:" in line, "want %s:6: in %r" % (path, line))
    check("mode" in line, "key not named: %r" % line)


def test_bad_flag_value():
    for args in (["--timeout", "abc"], ["--timeout=abc"]):
        r = lab.run_daemon(["-n"] + args, config=good_conf())
        line = error_line(r, " ".join(args))
        check("--timeout" in line, "%s: %r" % (args, line))


def test_more_bad_values():
    bad = [("method", "put"), ("tls-min-version", "1.1"),
           ("upstream", "http://doh.test/dns-query"),
           ("listen", "not-an-address"), ("max-pending", "lots"),
           ("edns-udp-size", "big"), ("mode", ""),
           ("resolve", "doh.test"), ("timeout", "-1s"),
           ("bootstrap-min-ttl", "500ms")]
    failures = []
    for key, value in bad:
        r = lab.run_daemon(["-n", "--%s=%s" % (key, value)],
                           config=good_conf())
        err = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode == 0 or len(err) != 1 or "--" + key not in err[0]:
            failures.append("--%s=%r -> exit %d %r" % (key, value,
                                                       r.returncode,
                                                       r.stderr))
    check(not failures, "; ".join(failures))


def test_unknown_flag():
    r = lab.run_daemon(["-n", "--no-such-flag", "1"], config=good_conf())
    check(r.returncode != 0, "unknown flag accepted")
    check("no-such-flag" in r.stderr, "not named: %r" % r.stderr)


def test_bad_env_names_variable():
    r = lab.run_daemon(["-n"], env={"DOHSTUB_MODE": "bogus"},
                       config=good_conf())
    line = error_line(r, "DOHSTUB_MODE=bogus")
    check("DOHSTUB_MODE" in line, "not named: %r" % line)


def test_unknown_env_variable():
    r = lab.run_daemon(["-n"], env={"DOHSTUB_NO_SUCH_KEY": "1"},
                       config=good_conf())
    line = error_line(r, "DOHSTUB_NO_SUCH_KEY")
    check("DOHSTUB_NO_SUCH_KEY" in line, "not named: %r" % line)


def test_precedence_flag_env_file():
    path = conf("prec.conf", BASE + "mode plaintext\n")
    env = {"DOHSTUB_MODE": "encrypted-preferred"}
    rc, out = nv(path, "--mode", "encrypted-only", env=env)
    check(rc == 0 and setting(out, "mode") == ["encrypted-only"],
          "flag > env > file: %r" % setting(out, "mode"))
    rc, out = nv(path, env=env)
    check(rc == 0 and setting(out, "mode") == ["encrypted-preferred"],
          "env > file: %r" % setting(out, "mode"))
    rc, out = nv(path)
    check(rc == 0 and setting(out, "mode") == ["plaintext"],
          "file: %r" % setting(out, "mode"))
    rc, out = nv(path, "--mode=encrypted-only")
    check(rc == 0 and setting(out, "mode") == ["encrypted-only"],
          "--key=value form: %r" % setting(out, "mode"))


def test_list_precedence():
    path = conf("lists.conf", BASE + "mode encrypted-only\n"
                "listen 127.0.0.1:5302\n")
    rc, out = nv(path)
    check(setting(out, "listen") == ["127.0.0.1:5301", "127.0.0.1:5302"],
          "repeating a key in a file appends: %r" % setting(out, "listen"))
    env = {"DOHSTUB_LISTEN": "127.0.0.1:5303,127.0.0.1:5304"}
    rc, out = nv(path, env=env)
    check(setting(out, "listen") == ["127.0.0.1:5303", "127.0.0.1:5304"],
          "environment list replaces the file's: %r" %
          setting(out, "listen"))
    rc, out = nv(path, "--listen", "127.0.0.1:5305",
                 "--listen=127.0.0.1:5306", env=env)
    check(setting(out, "listen") == ["127.0.0.1:5305", "127.0.0.1:5306"],
          "flags replace the environment's: %r" % setting(out, "listen"))


def test_zero_configuration():
    """No upstream in an encrypted mode: resolv.conf's nameservers, minus
    dohstub's own addresses, are the servers; none left is an error."""
    rc = conf("resolv.conf", "nameserver 127.0.0.1\nnameserver 192.0.2.53\n")
    r = lab.run_daemon(["-nv", "--resolv-conf", rc])
    check(r.returncode == 0, "-c /dev/null with a nameserver: %r" %
          (r.stdout + r.stderr))
    check(setting(r.stdout, "upstream") == ["192.0.2.53"],
          "upstream from resolv.conf: %r" % setting(r.stdout, "upstream"))
    check(setting(r.stdout, "mode") == ["encrypted-only"],
          "mode: %r" % setting(r.stdout, "mode"))
    ours = conf("ours.conf", "nameserver 127.0.0.1\n")
    for mode in ("encrypted-only", "encrypted-preferred"):
        r = lab.run_daemon(["-n", "--resolv-conf", ours, "--mode", mode])
        line = error_line(r, "only ourselves in resolv.conf (%s)" % mode)
        check(line == "dohstub: upstream: none set and none found in %s"
              % ours, "error: %r" % line)


def dohq_bin():
    b = os.environ.get("DOHQ_BIN") or os.path.join(lab.HERE, "..", "..",
                                                   "build", "dohq")
    return os.path.abspath(b)


def test_dohq_known():
    """dohq --known: the built-in table and the configuration's entries,
    in the file syntax (it parses back); a bad use is one line, exit 64."""
    path = conf("known.conf", BASE + "known-server 192.0.2.53 "
                "https://doh.lab.example/dns-query\n"
                "known-server 9.9.9.9 https://dns11.quad9.net/dns-query\n")
    r = lab.run([dohq_bin(), "--known", "-c", path])
    check(r.returncode == 0, "dohq --known: %r" % (r.stdout + r.stderr))
    lines = r.stdout.splitlines()
    check(lines[:2] == ["known-server 192.0.2.53 "
                        "https://doh.lab.example/dns-query",
                        "known-server 9.9.9.9 "
                        "https://dns11.quad9.net/dns-query"],
          "configured entries first: %r" % lines[:2])
    for want in ("# known-server 1.1.1.1 https://cloudflare-dns.com/"
                 "dns-query\t(Cloudflare)",
                 "# known-server 2001:4860:4860::8844 "
                 "https://dns.google/dns-query\t(Google)",
                 "# known-server 9.9.9.9 https://dns.quad9.net/dns-query"
                 "\t(Quad9, overridden)"):
        check(want in lines, "missing %r in %r" % (want, r.stdout))
    # The flag adds to the file's (a higher source replaces the list).
    r = lab.run([dohq_bin(), "--known", "-c", "/dev/null", "--known-server",
                 "192.0.2.54 https://b.example/"])
    check(r.returncode == 0 and r.stdout.startswith(
        "known-server 192.0.2.54 https://b.example/\n"), "flag: %r" %
        (r.stdout + r.stderr))
    # What it prints is a configuration dohstub reads back.
    printed = conf("printed.conf", BASE + r.stdout)
    rc, out = nv(printed)
    check(rc == 0 and "known-server 192.0.2.54 https://b.example/" in out,
          "printed table does not read back: %r" % out)
    for args, what in ((["--known", "example.com"], "--known: no server "
                        "or NAME with it"),
                       (["--known", "--known-server", "192.0.2.1"],
                        "--known-server: \"192.0.2.1\": ADDR URL"),
                       (["--known", "-c", "/nonexistent/dohstub.conf"],
                        "/nonexistent/dohstub.conf: No such file")):
        r = lab.run([dohq_bin()] + args)
        line = error_line(r, "dohq " + " ".join(args))
        check(line.startswith("dohq: " + what), "%r: %r" % (args, line))
        check(r.returncode in (64, 66), "%r: exit %d" % (args,
                                                          r.returncode))


@lab.timeout(30)
def test_dohq_portal_trusts_no_impostor():
    """dohq --captive-portal signals only a process of the daemon's user
    named in a pidfile no one else could have written: not one that
    merely calls itself dohstub, not through a pidfile others may
    write or own, and a FIFO there does not hang it."""
    if os.geteuid() != 0:
        lab.skip("not root")
    nobody = pwd.getpwnam("nobody")
    d = lab.tmpdir()
    # /proc/PID/comm says "dohstub": anyone can name a process so.
    fake = os.path.join(d, "dohstub")
    shutil.copy("/bin/sleep", fake)
    p = subprocess.Popen([fake, "30"])
    try:
        pidfile = os.path.join(d, "impostor.pid")
        lab.write_file(pidfile, "%d\n" % p.pid)
        os.chmod(pidfile, 0o644)

        def portal(path):
            return lab.run([dohq_bin(), "-c", "/dev/null",
                            "--captive-portal", "--pidfile", path],
                           timeout=10)

        r = portal(pidfile)
        line = error_line(r, "impostor")
        check(r.returncode == 69 and "is not a dohstub running as uid" in
              line, "impostor: %d %r" % (r.returncode, line))
        check(p.poll() is None, "the impostor got SIGUSR2")
        for mode, owner in ((0o666, 0), (0o644, nobody.pw_uid)):
            os.chown(pidfile, owner, -1)
            os.chmod(pidfile, mode)
            r = portal(pidfile)
            line = error_line(r, "pidfile %o uid %d" % (mode, owner))
            check(r.returncode == 66 and "not trusted" in line,
                  "pidfile %o uid %d: %d %r" % (mode, owner, r.returncode,
                                               line))
        fifo = os.path.join(d, "fifo.pid")
        os.mkfifo(fifo, 0o644)
        r = portal(fifo)
        line = error_line(r, "fifo")
        check(r.returncode == 66 and "not trusted" in line, "fifo: %r" %
              line)
        check(p.poll() is None, "the impostor got SIGUSR2")
    finally:
        p.kill()
        p.wait()


ROOT_DS_20326 = (". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D084"
                 "58E880409BBC683457104237C7F8EC8D\n")


def test_dnssec_settings():
    """dnssec, trust-anchor and dnssec-insecure: -nv prints them and the
    anchors read; a bad anchor file is an error naming it and its line;
    validate is the default."""
    anchors = conf("anchors.ds", "; the root's KSK-2017\n" + ROOT_DS_20326)
    rc, out = nv(conf("dnssec.conf", BASE + "dnssec off\n"
                      "trust-anchor %s\n"
                      "dnssec-insecure broken.example\n" % anchors),
                 "--dnssec-insecure", "lab.example")
    check(rc == 0, "-nv exit %d: %s" % (rc, out))
    check(setting(out, "dnssec") == ["off"], "dnssec %r" %
          setting(out, "dnssec"))
    check(setting(out, "trust-anchor") == [anchors], "trust-anchor %r" %
          setting(out, "trust-anchor"))
    # The flag replaces the file's list.
    check(setting(out, "dnssec-insecure") == ["lab.example."],
          "dnssec-insecure %r" % setting(out, "dnssec-insecure"))
    check("# trust anchors (%s): . DS 20326 8\n" % anchors in out,
          "anchors not shown: %s" % out)
    check("# insecure besides: 10.in-addr.arpa " in out, out)

    rc, out = nv(conf("dnssec-default.conf", BASE))
    check(rc == 0 and setting(out, "dnssec") == ["validate"],
          "default dnssec %r: %s" % (setting(out, "dnssec"), out))
    check("# trust-anchor: none: /usr/share/dns/root.ds, or the root's "
          "keys built in" in out, out)
    check(re.search(r"^# trust anchors \((/usr/share/dns/root.ds|built "
                    r"in)\): \. DS 20326 8", out, re.M), out)

    bad = conf("bad.ds", ROOT_DS_20326 + ". IN DS 38696 8 2 0000\n")
    r = lab.run_daemon(["-n"], config=conf(
        "badanchor.conf", BASE + "trust-anchor %s\n" % bad))
    line = error_line(r, "bad trust anchor")
    check("trust-anchor: %s: line 2: digest of the wrong length" % bad in
          line, line)
    r = lab.run_daemon(["-n", "--trust-anchor", "/nonexistent/x.ds"],
                       config=good_conf())
    line = error_line(r, "missing trust anchor")
    check("trust-anchor: /nonexistent/x.ds: No such file" in line, line)
    r = lab.run_daemon(["-n"], config=good_conf(),
                       env={"DOHSTUB_DNSSEC": "validate"})
    check(r.returncode == 0, "dnssec validate refused: %s" % r.stderr)
    r = lab.run_daemon(["-n"], config=conf(
        "root-insecure.conf", BASE + "dnssec-insecure .\n"))
    line = error_line(r, "root insecure")
    check(":6: dnssec-insecure: the root cannot be insecure" in line, line)


def test_missing_config_file():
    r = lab.run_daemon(["-n"], config=os.path.join(lab.tmpdir(), "nope"))
    check(r.returncode != 0, "missing -c file accepted")


if __name__ == "__main__":
    lab.main(globals())
