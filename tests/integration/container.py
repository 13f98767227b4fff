"""container: the repository's image, built with podman, and its
entrypoint run as a container runtime would run it.  Shared by the
suites that try the image (test_container.py, test_kubernetes.py).

No image registry is reachable from the test machines, so the
`debian:12-slim` base the Dockerfile names is made locally when podman
has no such image: `debootstrap --variant=minbase bookworm`, trimmed the
way Debian's slim images are (no documentation, manual pages or
translations; apt keeps no package lists or caches), then `podman
import`.  It stays in podman's store, so later runs skip that step.

The image is built with `podman build --pull=never --network=host
--isolation=chroot` under a tag named after a digest of what the build
reads: the build context as .dockerignore leaves it and the base
image's ID.  It is kept in podman's store, so the next suite (or run) on
the same sources reuses it instead of building again; a build for other
sources removes it.  Suites on one machine are serialized by a lock
file held until the process ends: podman's store is shared by every
worktree on the machine.

`podman run` does not work on this machine type (no usable cgroups), so
a Container does what a runtime would do, by hand: a root filesystem
from `podman create` + `podman mount` (the image's layers with a
writable layer on top, where the lab's CA certificate is copied, and
/dev/null, zero, random and urandom bound into its /dev as a runtime
gives them), a network namespace of its own joined to the host by a
veth pair, and a command started there with `chroot --userspec`.

The host end of the veth pair has two addresses, a private one
(10.153.N.1, inside dohstub's default allow list, RFC 1918) and a
public one (203.0.113.M, TEST-NET-3, in no default range); the
container's end has 10.153.N.2 and 203.0.113.M+1.

Needs root and podman (and debootstrap when the base must be made);
skipped with the reason otherwise, or with DOHSTUB_CONTAINER=0.
DOHSTUB_DEBIAN_MIRROR names a mirror other than deb.debian.org.
"""

import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from http import client as httpc

import lab
from lab import check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = "debian:12-slim"
# A machine that reaches only a mirror of its own names it here.
MIRROR = os.environ.get("DOHSTUB_DEBIAN_MIRROR",
                        "http://deb.debian.org/debian")
LOCK = "/run/lock/dohstub-container-test.lock"
PREFIX = "dohstub-ct-"		# netns and container of a run
ME = "%s%d" % (PREFIX, os.getpid())
REPO = "localhost/dohstub-test"

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


def sh(argv, timeout=60, what=None, **kw):
    """Run argv; its stdout, or a failure naming what and its stderr."""
    r = lab.run(argv, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (
            what or " ".join(argv[:3]), r.returncode,
            (r.stderr or r.stdout).strip()[-2000:]))
    return r.stdout


def need_root_podman():
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
    """Whether name belongs to an earlier run of these suites that is
    gone (killed before it could clean up)."""
    m = re.fullmatch(re.escape(PREFIX) + r"(\d+)", name)
    return m is not None and not _pid_alive(int(m.group(1)))


def _reap_stale(keep):
    """Undo what killed runs left: their daemons (which outlive the test,
    since a change of user clears PR_SET_PDEATHSIG), network namespaces
    and containers; and every image of ours but keep (under the lock,
    no other suite is using one).  Only names these suites make are
    touched."""
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
        if ref.rpartition(":")[0] == REPO and ref != keep:
            lab.run(["podman", "rmi", "-f", ref])


_undo = []	# callables, run last-in first-out at the end


def undo(f):
    """Run f at cleanup()."""
    _undo.append(f)


def cleanup():
    while _undo:
        f = _undo.pop()
        try:
            f()
        except Exception as e:
            print("cleanup: %s" % e, flush=True)


# ---------------------------------------------------------------- the image

_lock_fd = None


def _lock():
    """Hold the machine-wide lock of these suites until the process ends."""
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
        sh(["debootstrap", "--variant=minbase", "bookworm", tree, MIRROR],
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


def inspect(ref):
    return json.loads(sh(["podman", "image", "inspect", ref]))[0]


def _ignore_patterns():
    pats = []
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.strip("/"))
    return pats


def _ignored(rel, pats):
    """Whether .dockerignore leaves rel (or a directory above it) out of
    the context: the patterns the file uses, matched a path component
    at a time; **/X matches X at any depth."""
    parts = rel.split("/")
    for k in range(1, len(parts) + 1):
        for p in pats:
            if p.startswith("**/"):
                if fnmatch.fnmatchcase(parts[k - 1], p[3:]):
                    return True
                continue
            pp = p.split("/")
            if len(pp) == k and all(fnmatch.fnmatchcase(a, b)
                                    for a, b in zip(parts[:k], pp)):
                return True
    return False


def _context_digest():
    """A digest of what the build reads: each file of the context (path,
    mode, content; symbolic links by their target) and the base image."""
    pats = _ignore_patterns()
    h = hashlib.sha256()
    h.update(inspect(BASE)["Id"].encode())
    for dirpath, dirs, files in os.walk(ROOT):
        reldir = os.path.relpath(dirpath, ROOT)
        reldir = "" if reldir == "." else reldir + "/"
        dirs[:] = sorted(d for d in dirs if not _ignored(reldir + d, pats))
        for f in sorted(files):
            rel = reldir + f
            if _ignored(rel, pats):
                continue
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            h.update(b"\0%s\0%o\0" % (rel.encode(), st.st_mode))
            if os.path.islink(p):
                h.update(os.readlink(p).encode())
            else:
                with open(p, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:16]


_image = None
_tag = None
_failed = {}	# what failed to be made once is not tried again


def once(what, make):
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
    """The image built from the repository's Dockerfile, or the one a
    suite built before from the same sources: its inspect data."""
    global _image
    need_root_podman()
    if _image is None:
        _image = once("the image", _build)
    return _image


def tag():
    image()
    return _tag


def _build():
    global _tag
    _lock()
    _ensure_base()
    _tag = "%s:src-%s" % (REPO, _context_digest())
    _reap_stale(_tag)
    if lab.run(["podman", "image", "exists", _tag]).returncode == 0:
        lab.note("%s: built before from these sources" % _tag)
        return inspect(_tag)
    t0 = time.monotonic()
    log = os.path.join(lab.tmpdir(), "podman-build.log")
    with open(log, "w") as f:
        r = subprocess.run(["podman", "build", "--pull=never",
                            "--network=host", "--isolation=chroot",
                            "--layers=false", "-t", _tag,
                            "-f", os.path.join(ROOT, "Dockerfile"), ROOT],
                           stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=420)
    if r.returncode != 0:
        lab.run(["podman", "rmi", "-f", _tag])
    check(r.returncode == 0, "podman build failed (exit %d):\n%s" % (
        r.returncode, lab.tail(log, 25)))
    lab.note("podman build: %.0f s" % (time.monotonic() - t0))
    return inspect(_tag)


def user(root, spec):
    """(uid, gid) of a USER spec, names looked up in the image."""
    def lookup(db, name):
        with open(os.path.join(root, "etc", db)) as f:
            for line in f:
                p = line.split(":")
                if p[0] == name:
                    return int(p[2]), (int(p[3]) if db == "passwd" else None)
        raise AssertionError("USER %s: no %s in the image's /etc/%s" % (
            spec, name, db))
    u, _, group = spec.partition(":")
    if u.isdigit():
        uid, gid = int(u), None
    else:
        uid, gid = lookup("passwd", u)
    if group:
        gid = int(group) if group.isdigit() else lookup("group", group)[0]
    check(gid is not None, "USER %s: no group" % spec)
    return uid, gid


class Container:
    """The image's root filesystem (writable, from podman create and
    podman mount) and the network namespace it runs in, undone at the
    end by cleanup()."""

    def __init__(self):
        img = image()
        self.config = img["Config"]
        sh(["podman", "create", "--name", ME, _tag], what="podman create")
        undo(lambda: lab.run(["podman", "rm", "-f", ME]))
        self.root = sh(["podman", "mount", ME], what="podman mount").strip()
        undo(lambda: lab.run(["podman", "umount", ME]))
        check(os.path.isdir(os.path.join(self.root, "etc")),
              "podman mount gave %r" % self.root)
        self._dev()
        self.uid, self.gid = user(self.root, self.config.get("User", ""))
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
            sh(["mount", "--bind", "/dev/" + name, target])
            undo(lambda t=target: lab.run(["umount", "-l", t]))

    def _network(self):
        n = os.getpid() % 60
        self.host_priv, self.ct_priv = "10.153.%d.1" % n, "10.153.%d.2" % n
        self.host_pub, self.ct_pub = ("203.0.113.%d" % (4 * n + 1),
                                      "203.0.113.%d" % (4 * n + 2))
        self.ns = ME
        self.hv, cv = "dct%da" % os.getpid(), "dct%db" % os.getpid()
        sh(["ip", "netns", "add", self.ns])
        undo(self._del_netns)
        sh(["ip", "link", "add", self.hv, "type", "veth", "peer", "name",
            cv])
        undo(lambda: lab.run(["ip", "link", "del", self.hv]))
        sh(["ip", "link", "set", cv, "netns", self.ns])
        for a in (self.host_priv + "/24", self.host_pub + "/30"):
            sh(["ip", "addr", "add", a, "dev", self.hv])
        sh(["ip", "link", "set", self.hv, "up"])
        ns = self.netns()
        for a in (self.ct_priv + "/24", self.ct_pub + "/30"):
            sh(ns + ["ip", "addr", "add", a, "dev", cv])
        sh(ns + ["ip", "link", "set", cv, "up"])
        sh(ns + ["ip", "link", "set", "lo", "up"])
        sh(ns + ["ip", "route", "add", "default", "via", self.host_priv])

    def _del_netns(self):
        # nothing of ours may be left inside (see _reap_stale)
        for p in lab.run(["ip", "netns", "pids", self.ns]).stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
        lab.run(["ip", "netns", "del", self.ns])

    def netns(self):
        """The prefix that runs a command in the container's network
        namespace."""
        return [shutil.which("ip"), "netns", "exec", self.ns]

    def env(self, **overrides):
        """The image's environment (nothing of ours), plus overrides given
        as setting=value (upstream="..." sets DOHSTUB_UPSTREAM).  dnssec
        is process unless given: the lab's zones are unsigned."""
        env = dict(e.split("=", 1) for e in self.config.get("Env") or [])
        overrides.setdefault("dnssec", "process")
        for k, v in overrides.items():
            env["DOHSTUB_" + k.upper()] = v
        return env

    def command(self, command=None, args=None):
        """What a runtime runs: command in place of the image's
        Entrypoint and args in place of its Cmd, as Kubernetes' command
        and args do (a command alone drops the Cmd too)."""
        if command is not None:
            return list(command) + list(args or [])
        return (self.config.get("Entrypoint") or []) + list(
            args if args is not None else self.config.get("Cmd") or [])

    def chroot(self, *extra, cmd=None, uid=None, gid=None):
        """The entrypoint (and extra arguments), or cmd, run inside the
        root filesystem as the image's user or uid:gid."""
        cmd = (cmd or self.command()) + list(extra)
        return [shutil.which("chroot"), "--userspec=%d:%d" % (
            self.uid if uid is None else uid,
            self.gid if gid is None else gid), self.root] + cmd

    def argv(self, *extra, **kw):
        """chroot(), in the container's network namespace."""
        return self.netns() + self.chroot(*extra, **kw)


_ct = None


def container():
    global _ct
    if _ct is None:
        _ct = once("the container", Container)
    return _ct


class Running:
    """A daemon running in the container: argv (from Container.argv())
    with env, ready once it listens on every (proto, address, port) of
    binds, read from its own network namespace's tables."""

    def __init__(self, ct, argv, env, binds, name="dohstub-ct",
                 metrics=None):
        self.ct = ct
        self.binds = set(binds)
        self.metrics = metrics or (ct.ct_priv, 9153)
        self.log = os.path.join(lab.tmpdir(), "%s.log" % name)
        self._logf = open(self.log, "ab")
        self.proc = lab.spawn(argv, env=env, stdout=self._logf,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        undo(self.kill)
        lab.wait_for(self._ready, 10, what="the container's dohstub to "
                     "listen on %s" % ", ".join(
                         "%s %s:%d" % b for b in sorted(self.binds)))

    def tail(self):
        return lab.tail(self.log)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("exited %d at start-up: %s" % (
                self.proc.returncode, self.tail()))
        return self.bound() >= self.binds

    def bound(self):
        """{(proto, address, port)} the process listens on."""
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

    def fetch(self, path, addr=None):
        """GET path from the metrics endpoint (or addr, (host, port))."""
        host, port = addr or self.metrics
        c = httpc.HTTPConnection(host, port, timeout=3)
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
