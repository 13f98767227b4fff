#!/usr/bin/python3
"""The container image: the repository's Dockerfile built with podman and
its entrypoint tried as a container would run it.

No image registry is reachable from the test machines, so the
`debian:12-slim` base the Dockerfile names is made locally when podman
has no such image: `debootstrap --variant=minbase bookworm`, trimmed the
way Debian's slim images are (no documentation, manual pages or
translations; apt keeps no package lists or caches), then `podman
import`.  It stays in podman's store, so later runs skip that step.
The image itself is built with `podman build --pull=never --network=host
--isolation=chroot` under a tag of this run and removed at the end.

`podman run` does not work on this machine type (no usable cgroups), so
the test does what a container runtime would do, by hand: a root
filesystem from `podman create` + `podman mount` (the image's layers
with a writable layer on top, where the lab's CA certificate is
copied, and /dev/null, zero, random and urandom bound into its /dev as
a runtime gives them), a network namespace of its own joined to the host by a veth
pair, and the image's entrypoint started there with `chroot
--userspec` as the image's USER, with the image's environment.  The
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
DOHSTUB_DEBIAN_MIRROR names a mirror other than deb.debian.org.  The container suite runs the
image's binary, not the build tree's, so scripts/test runs it once, not
under valgrind or the sanitizers (ctest label `container`; exclude it
with `ctest -LE container`).  Runs of it are serialized by a lock file:
podman's store is shared by every worktree on the machine.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from http import client as httpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = "debian:12-slim"
# A machine that reaches only a mirror of its own names it here.
MIRROR = os.environ.get("DOHSTUB_DEBIAN_MIRROR",
                        "http://deb.debian.org/debian")
LOCK = "/run/lock/dohstub-container-test.lock"
PREFIX = "dohstub-ct-"		# netns, container and image tag of a run
ME = "%s%d" % (PREFIX, os.getpid())
TAG = "localhost/dohstub-test:%d" % os.getpid()

# The default allow list as README.md documents it for the image.
DEFAULT_ALLOW = ("127.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16 "
                 "172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7 fe80::/10")
CAP_NET_BIND_SERVICE = 10

# Debian's slim images: what dpkg leaves out and how apt cleans up
# (the docker-debian-artifacts / debuerreotype settings).
SLIM_DPKG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
SLIM_APT = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb \
/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb \
/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
"""
SOURCES = """\
Types: deb
URIs: %s
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: %s-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
""" % (MIRROR, MIRROR)


def _sh(argv, timeout=60, what=None, **kw):
    """Run argv; its stdout, or a failure naming what and its stderr."""
    r = lab.run(argv, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (
            what or " ".join(argv[:3]), r.returncode,
            (r.stderr or r.stdout).strip()[-2000:]))
    return r.stdout


def _need_root_podman():
    if os.environ.get("DOHSTUB_CONTAINER") == "0":
        lab.skip("DOHSTUB_CONTAINER=0: the container image is not built")
    if os.geteuid() != 0:
        lab.skip("needs root (podman's store, chroot, network namespaces)")
    if shutil.which("podman") is None:
        lab.skip("podman is not installed (apt-get install podman)")


# ---------------------------------------------------------------- cleanup


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _stale(name):
    """Whether name belongs to an earlier run of this suite that is gone
    (killed before it could clean up)."""
    m = re.fullmatch(re.escape(PREFIX) + r"(\d+)", name)
    return m is not None and not _pid_alive(int(m.group(1)))


def _reap_stale():
    """Undo what killed runs of this suite left: their daemons (which
    outlive the test, since a change of user clears PR_SET_PDEATHSIG),
    network namespaces, containers and image tags.  Only names this
    suite makes are touched."""
    r = lab.run(["ip", "netns", "list"])
    for line in r.stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if not _stale(ns):
            continue
        pids = lab.run(["ip", "netns", "pids", ns]).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        lab.run(["ip", "netns", "del", ns])
    r = lab.run(["podman", "ps", "-a", "--format", "{{.Names}}"])
    for name in r.stdout.split():
        if _stale(name):
            lab.run(["podman", "umount", name])
            lab.run(["podman", "rm", "-f", name])
    r = lab.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"])
    for ref in r.stdout.split():
        repo, _, tag = ref.rpartition(":")
        if repo == "localhost/dohstub-test" and tag.isdigit() and \
                not _pid_alive(int(tag)):
            lab.run(["podman", "rmi", "-f", ref])


_undo = []	# callables, run last-in first-out at the end


def _cleanup():
    while _undo:
        f = _undo.pop()
        try:
            f()
        except Exception as e:
            print("cleanup: %s" % e, flush=True)


def teardown_module():
    _cleanup()


# ---------------------------------------------------------------- the image

_lock_fd = None


def _lock():
    """Hold the machine-wide lock of this suite until the process ends."""
    global _lock_fd
    if _lock_fd is None:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _lock_fd = fd


def _slim(root):
    """Trim a debootstrap tree to what Debian's slim images hold."""
    for d in ("usr/share/doc", "usr/share/groff", "usr/share/info",
              "usr/share/linda", "usr/share/lintian/overrides",
              "usr/share/locale", "usr/share/man"):
        top = os.path.join(root, d)
        for dirpath, dirs, files in os.walk(top, topdown=False):
            for f in files:
                if not (d == "usr/share/doc" and f == "copyright"):
                    os.unlink(os.path.join(dirpath, f))
            for sub in dirs:
                p = os.path.join(dirpath, sub)
                if os.path.islink(p):
                    os.unlink(p)
                elif not os.listdir(p):
                    os.rmdir(p)
    lab.write_file(os.path.join(root, "etc/dpkg/dpkg.cfg.d/docker"),
                   SLIM_DPKG)
    lab.write_file(os.path.join(root, "etc/apt/apt.conf.d/docker-clean"),
                   SLIM_APT)
    os.unlink(os.path.join(root, "etc/apt/sources.list"))
    lab.write_file(os.path.join(root, "etc/apt/sources.list.d/"
                                "debian.sources"), SOURCES)
    # the build host's, copied by debootstrap; a runtime provides its own
    for f in ("etc/resolv.conf", "etc/hostname"):
        try:
            os.unlink(os.path.join(root, f))
        except FileNotFoundError:
            pass
    for d in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                if f != "lock":
                    os.unlink(os.path.join(dirpath, f))
    for f in os.listdir(os.path.join(root, "var/cache/apt")):
        if f.endswith(".bin"):
            os.unlink(os.path.join(root, "var/cache/apt", f))


def _ensure_base():
    """debian:12-slim in podman's store, made here if missing."""
    if lab.run(["podman", "image", "exists", BASE]).returncode == 0:
        lab.note("%s: already in podman's store" % BASE)
        return
    if shutil.which("debootstrap") is None:
        lab.skip("podman has no %s image and debootstrap is not installed "
                 "to make one (apt-get install debootstrap)" % BASE)
    t0 = time.monotonic()
    tree = os.path.join(lab.tmpdir(), "debootstrap")
    try:
        _sh(["debootstrap", "--variant=minbase", "bookworm", tree, MIRROR],
            timeout=480, what="debootstrap")
        _slim(tree)
        tar = subprocess.Popen(["tar", "-C", tree, "--numeric-owner", "-c",
                                "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", "import", "--change",
                              'CMD ["bash"]', "-", BASE], stdin=tar.stdout,
                             capture_output=True, text=True, timeout=120)
        tar.stdout.close()
        check(tar.wait(60) == 0 and imp.returncode == 0,
              "podman import: %s" % imp.stderr.strip())
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    lab.note("%s: made in %.0f s" % (BASE, time.monotonic() - t0))


def _inspect(ref):
    return json.loads(_sh(["podman", "image", "inspect", ref]))[0]


_image = None
_failed = {}	# what failed to be made once is not tried again


def _once(what, make):
    if what in _failed:
        raise AssertionError("%s failed earlier: %s" % (what, _failed[what]))
    try:
        return make()
    except lab.Skip:
        raise
    except Exception as e:
        _failed[what] = str(e).split("\n")[0]
        raise


def image():
    """The image built from the repository's Dockerfile (once a run):
    its inspect data."""
    global _image
    _need_root_podman()
    if _image is None:
        _image = _once("the image", _build)
    return _image


def _build():
    _lock()
    _reap_stale()
    _ensure_base()
    t0 = time.monotonic()
    log = os.path.join(lab.tmpdir(), "podman-build.log")
    _undo.append(lambda: lab.run(["podman", "rmi", "-f", TAG]))
    with open(log, "w") as f:
        r = subprocess.run(["podman", "build", "--pull=never",
                            "--network=host", "--isolation=chroot",
                            "--layers=false", "-t", TAG,
                            "-f", os.path.join(ROOT, "Dockerfile"), ROOT],
                           stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=420)
    check(r.returncode == 0, "podman build failed (exit %d):\n%s" % (
        r.returncode, lab.tail(log, 25)))
    lab.note("podman build: %.0f s" % (time.monotonic() - t0))
    return _inspect(TAG)


def _user(root, spec):
    """(uid, gid) of a USER spec, names looked up in the image."""
    def lookup(db, name):
        with open(os.path.join(root, "etc", db)) as f:
            for line in f:
                p = line.split(":")
                if p[0] == name:
                    return int(p[2]), (int(p[3]) if db == "passwd" else None)
        raise AssertionError("USER %s: no %s in the image's /etc/%s" % (
            spec, name, db))
    user, _, group = spec.partition(":")
    if user.isdigit():
        uid, gid = int(user), None
    else:
        uid, gid = lookup("passwd", user)
    if group:
        gid = int(group) if group.isdigit() else lookup("group", group)[0]
    check(gid is not None, "USER %s: no group" % spec)
    return uid, gid


class Container:
    """The image's root filesystem (writable, from podman create and
    podman mount) and the network namespace it runs in, undone at the
    end by _cleanup()."""

    def __init__(self):
        img = image()
        self.config = img["Config"]
        _sh(["podman", "create", "--name", ME, TAG], what="podman create")
        _undo.append(lambda: lab.run(["podman", "rm", "-f", ME]))
        self.root = _sh(["podman", "mount", ME], what="podman mount").strip()
        _undo.append(lambda: lab.run(["podman", "umount", ME]))
        check(os.path.isdir(os.path.join(self.root, "etc")),
              "podman mount gave %r" % self.root)
        self._dev()
        self.uid, self.gid = _user(self.root, self.config.get("User", ""))
        # the lab's CA, by a path valid inside the chroot
        self.ca = "/etc/ssl/certs/dohstub-lab-ca.pem"
        shutil.copy(lab.certs().ca_pem, self.root + self.ca)
        os.chmod(self.root + self.ca, 0o644)
        self._network()

    def _dev(self):
        """The device nodes a runtime gives every container (an image's
        /dev is empty: -c /dev/null and c-ares need them)."""
        dev = os.path.join(self.root, "dev")
        os.makedirs(dev, exist_ok=True)
        for name in ("null", "zero", "random", "urandom"):
            target = os.path.join(dev, name)
            if not os.path.exists(target):
                open(target, "a").close()
            _sh(["mount", "--bind", "/dev/" + name, target])
            _undo.append(lambda t=target: lab.run(["umount", "-l", t]))

    def _network(self):
        n = os.getpid() % 60
        self.host_priv, self.ct_priv = "10.153.%d.1" % n, "10.153.%d.2" % n
        self.host_pub, self.ct_pub = ("203.0.113.%d" % (4 * n + 1),
                                      "203.0.113.%d" % (4 * n + 2))
        self.ns = ME
        hv, cv = "dct%da" % os.getpid(), "dct%db" % os.getpid()
        _sh(["ip", "netns", "add", self.ns])
        _undo.append(self._del_netns)
        _sh(["ip", "link", "add", hv, "type", "veth", "peer", "name", cv])
        _undo.append(lambda: lab.run(["ip", "link", "del", hv]))
        _sh(["ip", "link", "set", cv, "netns", self.ns])
        for a in (self.host_priv + "/24", self.host_pub + "/30"):
            _sh(["ip", "addr", "add", a, "dev", hv])
        _sh(["ip", "link", "set", hv, "up"])
        ns = ["ip", "netns", "exec", self.ns]
        for a in (self.ct_priv + "/24", self.ct_pub + "/30"):
            _sh(ns + ["ip", "addr", "add", a, "dev", cv])
        _sh(ns + ["ip", "link", "set", cv, "up"])
        _sh(ns + ["ip", "link", "set", "lo", "up"])
        _sh(ns + ["ip", "route", "add", "default", "via", self.host_priv])

    def _del_netns(self):
        # nothing of ours may be left inside (see _reap_stale)
        for p in lab.run(["ip", "netns", "pids", self.ns]).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        lab.run(["ip", "netns", "del", self.ns])

    def env(self, **overrides):
        """The image's environment (nothing of ours), plus overrides given
        as setting=value (upstream="..." sets DOHSTUB_UPSTREAM)."""
        env = dict(e.split("=", 1) for e in self.config.get("Env") or [])
        for k, v in overrides.items():
            env["DOHSTUB_" + k.upper()] = v
        return env

    def chroot(self, *extra):
        """The entrypoint (and extra arguments), run inside the root
        filesystem as the image's user."""
        cmd = (self.config.get("Entrypoint") or []) + \
            (self.config.get("Cmd") or []) + list(extra)
        return [shutil.which("chroot"), "--userspec=%d:%d" % (
            self.uid, self.gid), self.root] + cmd

    def argv(self, *extra):
        """chroot(), in the container's network namespace."""
        return [shutil.which("ip"), "netns", "exec", self.ns] + \
            self.chroot(*extra)


_ct = None


def container():
    global _ct
    if _ct is None:
        _ct = _once("the container", Container)
    return _ct


_unbound = None


def unbound(ct):
    """The DoH server the container reaches: unbound on the host end of
    the veth pair."""
    global _unbound
    if _unbound is None:
        _unbound = lab.Unbound(
            "unbound-ct", plain=False, addr=ct.host_priv,
            extra=["access-control: %s/24 allow" % ct.ct_priv]).start()
        _undo.append(_unbound.stop)
    return _unbound


class Running:
    """The image's entrypoint running in the container."""

    def __init__(self, ct):
        u = unbound(ct)
        self.ct = ct
        self.log = os.path.join(lab.tmpdir(), "dohstub-ct.log")
        self._logf = open(self.log, "ab")
        env = ct.env(upstream=u.url, resolve="doh.test:%d:%s" % (
            u.doh_port, ct.host_priv), ca_file=ct.ca)
        self.proc = lab.spawn(ct.argv(), env=env, stdout=self._logf,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        _undo.append(self.kill)
        lab.wait_for(self._ready, 10, what="the container's dohstub to "
                     "listen on :53 (UDP, TCP) and :9153")

    def tail(self):
        return lab.tail(self.log)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("exited %d at start-up: %s" % (
                self.proc.returncode, self.tail()))
        return self.bound() >= {("udp", "0.0.0.0", 53),
                                ("tcp", "0.0.0.0", 53),
                                ("tcp", "0.0.0.0", 9153)}

    def bound(self):
        """{(proto, address, port)} the process listens on, read from its
        own network namespace's tables."""
        mine = lab._socket_inodes(self.proc.pid)
        out = set()
        for proto in ("udp", "tcp"):
            for line in lab.proc_lines("/proc/%d/net/%s" % (self.proc.pid,
                                                              proto)):
                p = line.split()
                if int(p[9]) not in mine:
                    continue
                if proto == "tcp" and int(p[3], 16) != 0x0A:	# LISTEN
                    continue
                hexip, hexport = p[1].split(":")
                ip = ".".join(str(int(hexip[i:i + 2], 16))
                              for i in (6, 4, 2, 0))
                out.add((proto, ip, int(hexport, 16)))
        return out

    def status(self):
        """/proc/PID/status as {field: value}."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f
                        if ":\t" in l)

    def fetch(self, path):
        c = httpc.HTTPConnection(self.ct.ct_priv, 9153, timeout=3)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def counter(self, name, **labels):
        st, body = self.fetch("/metrics")
        check(st == 200, "/metrics: %d" % st)
        want = name + ("{%s}" % ",".join('%s="%s"' % kv for kv in
                                         labels.items()) if labels else "")
        for line in body.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        raise AssertionError("no %s in /metrics" % want)

    def stop(self):
        """SIGTERM: exits 0 and logs its stats."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("still running 5 s after SIGTERM")
        check(rc == 0, "exit status %d: %s" % (rc, self.tail()))
        check("stats:" in lab.tail(self.log, 5), "no stats line at exit")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._logf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # a failed test leaves no daemon on :53 for the next one
        self.kill()


def dig(ct, src, *args):
    """dig from the host, source address src, to the container's :53."""
    return lab.run(["dig", "@" + ct.ct_priv, "-p", "53", "-b", src,
                    "+time=2", "+tries=1"] + list(args), timeout=10)


# ---------------------------------------------------------------- tests


@lab.timeout(1100)
def test_image_builds_small_unprivileged():
    """The Dockerfile builds; the image runs as a numeric non-root USER
    (Kubernetes checks runAsNonRoot against it), carries the daemon with
    its one file capability and stays small."""
    img = image()
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
        _cleanup()
