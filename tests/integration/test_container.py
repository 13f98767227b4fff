#!/usr/bin/python3
"""The container image: the repository's Dockerfile built with podman and
its entrypoint tried as a container would run it.

The image and the way it is run are container.py's (shared with
test_kubernetes.py): the base made locally with debootstrap when podman
has none, `podman build` (reused when a suite built it from the same
sources), and the entrypoint started with `chroot --userspec` as the
image's USER, with the image's environment, from the image's root
filesystem in a network namespace of its own behind a veth pair.  The
test overrides only what must differ here: the upstream (unbound,
serving DoH on the host end of the veth pair), its pinned address and
the CA that signed its certificate.  Everything else, in particular
`listen 0.0.0.0:53`, `metrics 0.0.0.0:9153` and the access control, is
the image's own default.

"The defaults refuse a client outside allow" is shown the way it would
happen to a published port: the host end of the veth pair has two
addresses, a private one (10.153.N.1, inside the default allow list,
RFC 1918) and a public one (203.0.113.M, TEST-NET-3, in no default
range).  The same query sent to the container from each source is
answered from the first and REFUSED (EDE 18, nothing sent upstream)
from the second.  A second loopback address would not do: loopback is
in the default list.

Needs root and podman (and debootstrap when the base must be made);
skipped with the reason otherwise, or with DOHSTUB_CONTAINER=0.
DOHSTUB_DEBIAN_MIRROR names a mirror other than deb.debian.org.  The
container suite runs the image's binary, not the build tree's, so
scripts/test runs it once, not under valgrind or the sanitizers (ctest
label `container`; exclude it with `ctest -LE container`).  Runs of it
are serialized by a lock file: podman's store is shared by every
worktree on the machine.
"""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import container as C  # noqa: E402
import lab  # noqa: E402
from lab import check  # noqa: E402

# The default allow list as README.md documents it for the image.
DEFAULT_ALLOW = ("127.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16 "
                 "172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7 fe80::/10")
CAP_NET_BIND_SERVICE = 10
container = C.container
dig = C.dig


def teardown_module():
    C.cleanup()


_unbound = None


def unbound(ct):
    """The DoH server the container reaches: unbound on the host end of
    the veth pair."""
    global _unbound
    if _unbound is None:
        _unbound = lab.Unbound(
            "unbound-ct", plain=False, addr=ct.host_priv,
            extra=["access-control: %s/24 allow" % ct.ct_priv]).start()
        C.undo(_unbound.stop)
    return _unbound


def Running(ct):
    """The image's entrypoint in the container, with the image's
    environment but for the upstream, its pin and the lab's CA."""
    u = unbound(ct)
    env = ct.env(upstream=u.url, resolve="doh.test:%d:%s" % (
        u.doh_port, ct.host_priv), ca_file=ct.ca)
    return C.Running(ct, ct.argv(), env, {("udp", "0.0.0.0", 53),
                                          ("tcp", "0.0.0.0", 53),
                                          ("tcp", "0.0.0.0", 9153)})


# ---------------------------------------------------------------- tests


@lab.timeout(1100)
def test_image_builds_small_unprivileged():
    """The Dockerfile builds; the image runs as a numeric non-root USER
    (Kubernetes checks runAsNonRoot against it), carries the daemon with
    its one file capability and stays small."""
    img = C.image()
    cfg = img["Config"]
    user = cfg.get("User", "")
    check(re.fullmatch(r"\d+:\d+", user) and not user.startswith("0:"),
          "USER %r: want numeric uid:gid, not root" % user)
    check(cfg.get("Entrypoint", [""])[0] == "/usr/sbin/dohstub",
          "entrypoint %r" % cfg.get("Entrypoint"))
    size = img["Size"]
    lab.note("image size %.1f MB" % (size / 1e6))
    check(size < 110e6, "image is %.0f MB: build tools or caches left in "
          "the runtime stage?" % (size / 1e6))
    ct = container()
    r = lab.run(["getcap", ct.root + "/usr/sbin/dohstub"])
    check(r.stdout.split()[-1:] == ["cap_net_bind_service=ep"],
          "file capabilities %r" % r.stdout.strip())
    st = os.stat(ct.root + "/usr/sbin/dohstub")
    check(st.st_uid == 0 and not st.st_mode & 0o7022,
          "/usr/sbin/dohstub is writable by its user or set-id: %o uid %d"
          % (st.st_mode, st.st_uid))


@lab.timeout(60)
def test_answers_unprivileged_with_health():
    """The entrypoint with the image's environment answers over UDP and
    TCP on 0.0.0.0:53, as the image's user with no capability but
    NET_BIND_SERVICE, and serves /health on 0.0.0.0:9153."""
    ct = container()
    with Running(ct) as d:
        r = dig(ct, ct.host_priv, "www.lab.test", "A")
        check("status: NOERROR" in r.stdout and re.search(
            r"^www\.lab\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.1$",
            r.stdout, re.M),
            "dig (UDP) from %s: %s" % (ct.host_priv, r.stdout or r.stderr))
        r = lab.kdig(53, "+tcp", "+short", "alias.lab.test", "A",
                     server=ct.ct_priv)
        check(lab.WWW_A in r.stdout.split(), "kdig +tcp: %r %r" % (
            r.stdout, r.stderr))

        s = d.status()
        ids = (str(ct.uid),) * 4, (str(ct.gid),) * 4
        check(tuple(s["Uid"].split()) == ids[0] and
              tuple(s["Gid"].split()) == ids[1],
              "Uid %r Gid %r, want %d:%d (the image's USER)" % (
                  s["Uid"], s["Gid"], ct.uid, ct.gid))
        check(ct.uid != 0 and set(s["Groups"].split()) <= {str(ct.gid)},
              "groups %r" % s["Groups"])
        check(int(s["CapEff"], 16) == 1 << CAP_NET_BIND_SERVICE and
              int(s["CapPrm"], 16) == 1 << CAP_NET_BIND_SERVICE,
              "CapEff %s CapPrm %s: want only NET_BIND_SERVICE" % (
                  s["CapEff"], s["CapPrm"]))

        st, body = lab.wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            d.fetch("/health")), 10, what="/health 200")
        check(body.startswith("ok\nupstream "), "/health: %r" % body)
        check(d.counter("dohstub_answers_total", path="doh") == 2,
              "not both answers came over DoH")
        d.stop()


@lab.timeout(60)
def test_defaults_refuse_client_outside_allow():
    """A public source gets REFUSED with EDE 18 and causes nothing
    upstream, a private one is answered: the image's default access
    control, which `dohstub -nv` inside the image prints."""
    ct = container()
    r = lab.run(ct.chroot("-nv"), env=ct.env())
    check(r.returncode == 0, "-nv: %s" % r.stderr)
    for want in ("listen 0.0.0.0:53", "metrics 0.0.0.0:9153",
                 "mode encrypted-only",
                 "# allowed where no allow or deny holds: " + DEFAULT_ALLOW):
        check(want in r.stdout.splitlines(),
              "dohstub -nv in the image does not say %r:\n%s" % (
                  want, r.stdout))
    check(not re.search(r"^(allow|deny) ", r.stdout, re.M),
          "the image sets allow or deny:\n%s" % r.stdout)

    with Running(ct) as d:
        r = dig(ct, ct.host_priv, "www.lab.test", "A")
        check("status: NOERROR" in r.stdout, "private source: %s" % r.stdout)
        doh = d.counter("dohstub_answers_total", path="doh")
        r = dig(ct, ct.host_pub, "www.lab.test", "A")
        check("status: REFUSED" in r.stdout and "EDE: 18" in r.stdout,
              "from %s (public): want REFUSED with EDE 18: %s" % (
                  ct.host_pub, r.stdout or r.stderr))
        # no amplifier for a forged public source: the refusal is about the
        # size of the query (its question, OPT and the EDE option)
        q = lab.make_query(lab.unique_name("forged"), "TXT", edns=4096)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ct.host_pub, 0))
            s.settimeout(2)
            s.sendto(q, (ct.ct_priv, 53))
            a = s.recv(65535)
        finally:
            s.close()
        m = lab.parse(a)
        lab.note("refused: %d-byte query, %d-byte answer" % (len(q), len(a)))
        check(m.rcode == 5 and len(a) <= len(q) + 16,
              "a %d-byte query from %s drew %r" % (len(q), ct.host_pub, m))
        r = dig(ct, ct.host_pub, "+tcp", "w.lab.test", "A")
        check("status: REFUSED" in r.stdout, "TCP from %s: %s" % (
            ct.host_pub, r.stdout or r.stderr))
        check(d.counter("dohstub_refused_acl_total") == 3,
              "refusals not counted")
        check(d.counter("dohstub_answers_total", path="doh") == doh,
              "a refused query went upstream")
        d.stop()


if __name__ == "__main__":
    try:
        lab.main(globals())
    finally:
        C.cleanup()
