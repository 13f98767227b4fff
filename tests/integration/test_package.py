#!/usr/bin/python3
"""The Debian package: built from a copy of the tree, checked by lintian,
installed by apt into a fresh Debian root, and its installed daemon run
against the lab's DoH server.

The tree's tracked files (`git ls-files`) are copied into a temporary
directory, so the worktree stays clean, and `dpkg-buildpackage -us -uc
-b` builds there (DEB_BUILD_OPTIONS=nocheck: the suite runs the unit
tests itself; parallel=1).  `lintian --fail-on error,warning` checks
the .changes, which takes in the .deb, the dbgsym package and the
.buildinfo; every override in debian/*.lintian-overrides must follow a
comment saying why.

The fresh root is Debian 12 minbase: the `debian:12-slim` image that
the container suites keep in podman's store (made with debootstrap
when missing, by their _ensure_base, under their lock), copied out of
`podman image mount` and given back what the slim trimming took (dpkg's
path excludes, apt's cache cleaning), so that it is what `debootstrap
--variant=minbase bookworm` makes.  With /proc and the usual /dev
nodes, apt inside a chroot fetches the package's dependencies from the
Debian mirror as a user's apt would (`apt-get install ./dohstub.deb`).
Then: the files, every file `cmake --install` installed is in the
package, the units name /usr/sbin and /etc/dohstub, the dohstub system
user, /etc/dohstub/dohstub.conf registered as a conffile, no unit
enabled and none started by the maintainer scripts, dohq's default
configuration.  Last, the installed /usr/sbin/dohstub runs as root in
the chroot (same network namespace: loopback is shared) with its
shipped configuration, only the upstream, its address and CA and the
listening port overridden from the environment; it drops to the dohstub
user and answers kdig from the lab's unbound over DoH.

Needs root, the packaging tools (dpkg-buildpackage, debhelper, lintian),
podman (and debootstrap when the base must be made), unbound and kdig;
skipped with the reason otherwise, or with DOHSTUB_PACKAGE=0.
DOHSTUB_DEBIAN_MIRROR names a mirror other than deb.debian.org.  It
tests the package, not this build, so scripts/test runs it once, not
under the sanitizers (ctest label `package`).  One to two minutes,
most of it the -j1 build.
"""

import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check  # noqa: E402
try:
    # the container suites' shared module (branch k8s), once merged
    import container as ct  # noqa: E402
except ImportError:
    import test_container as ct  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = "dohstub"
CONF = "/etc/dohstub/dohstub.conf"
UNITS = ("dohstub.service", "dohstub.socket")
UNITDIR = "/lib/systemd/system"
# what the package must hold, whatever else cmake --install adds
FILES = ("/usr/sbin/dohstub", "/usr/bin/dohq", "/usr/sbin/dohstub-control",
         "/usr/share/man/man8/dohstub-control.8.gz", CONF,
         UNITDIR + "/dohstub.service", UNITDIR + "/dohstub.socket",
         "/usr/lib/sysusers.d/dohstub.conf",
         "/usr/share/man/man8/dohstub.8.gz",
         "/usr/share/man/man5/dohstub.conf.5.gz",
         "/usr/share/man/man1/dohq.1.gz",
         "/usr/share/doc/dohstub/README.Debian",
         "/usr/share/doc/dohstub/copyright")
LAB_CA = "/etc/ssl/certs/dohstub-lab-ca.pem"	# inside the root
# a clean environment for commands in the root: the host's may name
# DOHSTUB_* (the daemon rejects unknown ones) or a build's MAKEFLAGS
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
       "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}

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


def _sh(argv, timeout=60, what=None, env=None, log=None, cwd=None):
    """Run argv; its stdout, or a failure naming what and the end of its
    output.  With log, the output goes to that file."""
    if log is None:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=cwd)
        out = r.stdout
        err = (r.stderr or r.stdout).strip()[-2000:]
    else:
        with open(log, "w") as f:
            r = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout,
                               env=env, cwd=cwd)
        out, err = "", lab.tail(log, 25)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d:\n%s" % (
            what or " ".join(argv[:3]), r.returncode, err))
    return out


def _need():
    if os.environ.get("DOHSTUB_PACKAGE") == "0":
        lab.skip("DOHSTUB_PACKAGE=0: the Debian package is not built")
    if os.geteuid() != 0:
        lab.skip("needs root (chroot, mounts, podman's store)")
    for tool, pkg in (("git", "git"), ("dpkg-buildpackage", "dpkg-dev"),
                      ("dh", "debhelper"), ("lintian", "lintian"),
                      ("fakeroot", "fakeroot"), ("podman", "podman"),
                      ("chroot", "coreutils"), ("unbound", "unbound"),
                      ("kdig", "knot-dnsutils")):
        if shutil.which(tool) is None:
            lab.skip("%s is not installed (apt-get install %s)" % (tool, pkg))
    if lab.run(["git", "-C", ROOT, "rev-parse", "--git-dir"]).returncode:
        lab.skip("%s is not a git checkout: the package is built from its "
                 "tracked files" % ROOT)


_failed = {}	# what failed to be made once is not tried again
_made = {}


def _once(what, make):
    if what in _failed:
        raise AssertionError("%s failed earlier: %s" % (what, _failed[what]))
    if what not in _made:
        try:
            _made[what] = make()
        except lab.Skip:
            raise
        except Exception as e:
            _failed[what] = str(e).split("\n")[0]
            raise
    return _made[what]


# ---------------------------------------------------------------- the build


class Build:
    """The package built from a copy of the tree's tracked files."""

    def __init__(self):
        status = _sh(["git", "-C", ROOT, "status", "--porcelain"])
        self.top = os.path.join(lab.tmpdir(), "deb")
        self.src = os.path.join(self.top, PKG)
        os.makedirs(self.src)
        files = _sh(["git", "-C", ROOT, "ls-files", "-z"], what="git "
                    "ls-files").split("\0")
        # a tracked file deleted in the worktree is not in this tree
        files = [f for f in files if f and os.path.lexists(
            os.path.join(ROOT, f))]
        check("debian/control" in files, "debian/control is not tracked")
        tar = subprocess.Popen(["tar", "-C", ROOT, "--null", "-T", "-",
                                "-c"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
        untar = subprocess.Popen(["tar", "-C", self.src, "-x"],
                                 stdin=tar.stdout)
        tar.stdout.close()
        tar.stdin.write("\0".join(files).encode())
        tar.stdin.close()
        check(tar.wait(60) == 0 and untar.wait(60) == 0, "copying the tree")

        t0 = time.monotonic()
        env = dict(ENV, DEB_BUILD_OPTIONS="nocheck parallel=1")
        self.log = os.path.join(self.top, "build.log")
        _sh(["dpkg-buildpackage", "-us", "-uc", "-b"], timeout=600,
            what="dpkg-buildpackage", env=_build_env(env), log=self.log,
            cwd=self.src)
        lab.note("dpkg-buildpackage: %.0f s" % (time.monotonic() - t0))
        check(_sh(["git", "-C", ROOT, "status", "--porcelain"]) == status,
              "the build changed the worktree")
        self.version = _sh(["dpkg-parsechangelog", "-l",
                            os.path.join(self.src, "debian/changelog"),
                            "-S", "Version"]).strip()
        arch = _sh(["dpkg", "--print-architecture"]).strip()
        base = "%s_%s_%s" % (PKG, self.version, arch)
        self.deb = os.path.join(self.top, base + ".deb")
        self.changes = os.path.join(self.top, base + ".changes")
        for f in (self.deb, self.changes):
            check(os.path.exists(f), "no %s after the build" % f)
        self.manifest = self._manifest()

    def _manifest(self):
        """The paths `cmake --install` (dh_auto_install) wrote, from the
        build directory's install_manifest.txt (without DESTDIR; the
        units written by install(CODE) are not listed)."""
        found = glob.glob(os.path.join(self.src, "obj-*",
                                       "install_manifest.txt"))
        check(len(found) == 1, "install_manifest.txt: %r" % found)
        with open(found[0]) as f:
            paths = sorted(l.strip() for l in f if l.strip())
        check("/usr/sbin/dohstub" in paths,
              "install_manifest.txt: %r" % paths)
        return paths


def _build_env(extra):
    """The host's environment for the build, less what would leak into
    it (DOHSTUB_* from ctest, make's flags from a parent make)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOHSTUB_", "DEB_")) and
           k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS",
                     "CPPFLAGS", "LDFLAGS", "CC")}
    env.update(extra)
    env["PATH"] = os.environ.get("PATH", ENV["PATH"])
    return env


def build():
    _need()
    return _once("the package", Build)


# ---------------------------------------------------------------- the root


def _mounted_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


class Root:
    """A fresh Debian 12 minbase root with the package installed by apt,
    /proc and /dev nodes mounted; undone by _cleanup()."""

    def __init__(self, b):
        self.dir = os.path.join(lab.tmpdir(), "root")
        _undo.append(self._remove)
        self._copy_base()
        self._mounts()
        shutil.copy(b.deb, os.path.join(self.dir, "tmp"))
        t0 = time.monotonic()
        log = os.path.join(lab.tmpdir(), "apt.log")
        self.sh(["apt-get", "update"], timeout=180, what="apt-get update "
                "in the root", log=log)
        self.sh(["apt-get", "install", "-y", "/tmp/" +
                 os.path.basename(b.deb)], timeout=300,
                what="apt-get install ./dohstub.deb in the root", log=log)
        lab.note("apt-get update and install: %.0f s" % (
            time.monotonic() - t0))

    def _copy_base(self):
        """debian:12-slim out of podman's store, un-slimmed.  The
        container suite's lock covers making the base and mounting it."""
        fd = os.open(ct.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            ct._ensure_base()
            img = _sh(["podman", "image", "mount", ct.BASE],
                      what="podman image mount").strip()
            try:
                check(os.path.isdir(os.path.join(img, "etc")),
                      "podman image mount gave %r" % img)
                os.makedirs(self.dir)
                _sh(["cp", "-a", img + "/.", self.dir + "/"], timeout=120,
                    what="copying the base")
            finally:
                lab.run(["podman", "image", "unmount", ct.BASE])
        finally:
            os.close(fd)
        for f in ("etc/dpkg/dpkg.cfg.d/docker",
                  "etc/apt/apt.conf.d/docker-clean"):
            try:
                os.unlink(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass
        lab.write_file(os.path.join(self.dir, "etc/apt/sources.list.d/"
                                    "debian.sources"), ct.SOURCES)
        # the mirror by name, as debootstrap leaves it
        shutil.copy("/etc/resolv.conf", os.path.join(self.dir, "etc"))

    def _mounts(self):
        proc = os.path.join(self.dir, "proc")
        os.makedirs(proc, exist_ok=True)
        _sh(["mount", "-t", "proc", "proc", proc])
        _undo.append(lambda: lab.run(["umount", "-l", proc]))
        for name in ("null", "zero", "random", "urandom"):
            target = os.path.join(self.dir, "dev", name)
            if os.path.lexists(target):
                os.unlink(target)
            open(target, "w").close()
            _sh(["mount", "--bind", "/dev/" + name, target])
            _undo.append(lambda t=target: lab.run(["umount", "-l", t]))

    def _remove(self):
        left = _mounted_under(self.dir)
        if left:
            print("cleanup: %s still mounted, not removed" % left,
                  flush=True)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def chroot(self, *argv):
        return [shutil.which("chroot"), self.dir] + list(argv)

    def sh(self, argv, **kw):
        kw.setdefault("env", ENV)
        return _sh(self.chroot(*argv), **kw)

    def run(self, argv, env=None, timeout=30):
        return lab.run(self.chroot(*argv), env=env or ENV, timeout=timeout)


def root():
    b = build()
    return _once("the root", lambda: Root(b))


# ---------------------------------------------------------------- tests


@lab.timeout(420)
def test_builds_lintian_clean():
    """dpkg-buildpackage builds the package from the tracked files, in the
    version CMakeLists.txt declares; lintian finds no error or warning in
    the .deb, the dbgsym package or the .buildinfo, and every override
    says why."""
    b = build()
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(dohstub VERSION ([0-9.]+)", f.read())
    check(m and m.group(1) == b.version,
          "debian/changelog says %s, CMakeLists.txt %s" % (
              b.version, m and m.group(1)))

    for ov in glob.glob(os.path.join(ROOT, "debian", "*lintian-overrides")):
        with open(ov) as f:
            lines = [l.rstrip("\n") for l in f]
        for i, l in enumerate(lines):
            if l.strip() and not l.startswith("#"):
                check(i > 0 and lines[i - 1].startswith("#"),
                      "%s:%d: an override without a comment saying why: %s"
                      % (os.path.basename(ov), i + 1, l))

    t0 = time.monotonic()
    r = lab.run(["lintian", "--fail-on", "error,warning", "--info",
                 "--display-info", b.changes], timeout=300)
    tags = [l for l in r.stdout.splitlines() if re.match(r"[EWIPX]: ", l)]
    lab.note("lintian: %.0f s, %d tags%s" % (
        time.monotonic() - t0, len(tags),
        "".join("\n    " + t for t in tags)))
    bad = [t for t in tags if t[0] in "EW"]
    check(r.returncode == 0 and not bad, "lintian (exit %d):\n%s" % (
        r.returncode, "\n".join(bad) or r.stderr.strip()))
    # it looked at everything the build made
    with open(b.changes) as f:
        listed = re.findall(r"\S+\.(?:deb|buildinfo)$", f.read(), re.M)
    check(os.path.basename(b.deb) in listed and
          any(f.endswith(".buildinfo") for f in listed),
          ".changes lists %r" % listed)


@lab.timeout(420)
def test_installs_into_fresh_root():
    """apt installs the package and its dependencies into a fresh
    minbase root: the files are there, everything `cmake --install`
    installs is packaged, the units name the installed paths, the
    dohstub system user exists, the configuration is a conffile and no
    unit is enabled or started."""
    b = build()
    r = root()
    have = set(r.sh(["dpkg-query", "-L", PKG]).split())
    for f in FILES:
        check(f in have, "%s is not in the package" % f)
        check(os.path.isfile(r.path(f)), "%s is not installed" % f)
    # what cmake --install makes (a man page is packaged compressed);
    # dh_missing --fail-missing fails the build on the rest already
    lost = [p for p in b.manifest if p not in have and p + ".gz" not in have]
    check(not lost, "installed by cmake, not in the package: %r" % lost)
    for f in ("/usr/sbin/dohstub", "/usr/bin/dohq"):
        st = os.stat(r.path(f))
        check(st.st_uid == 0 and st.st_mode & 0o7777 == 0o755,
              "%s: mode %o uid %d" % (f, st.st_mode, st.st_uid))

    for u in UNITS:
        with open(r.path(UNITDIR + "/" + u)) as f:
            text = f.read()
        check("/usr/local" not in text, "%s names /usr/local:\n%s" % (
            u, text))
    with open(r.path(UNITDIR + "/dohstub.service")) as f:
        execs = re.findall(r"^Exec\w*=(.*)$", f.read(), re.M)
    check(any(e.startswith("/usr/sbin/dohstub -c %s" % CONF)
              for e in execs) and
          "/usr/sbin/dohstub -n -c %s" % CONF in execs,
          "dohstub.service runs %r" % execs)

    pw = r.sh(["getent", "passwd", "dohstub"]).strip().split(":")
    check(len(pw) == 7 and 0 < int(pw[2]) < 1000 and
          pw[6] == "/usr/sbin/nologin" and pw[5] == "/nonexistent",
          "dohstub user: %r" % pw)
    gr = r.sh(["getent", "group", "dohstub"]).strip().split(":")
    check(gr[2] == pw[3], "dohstub's group %r, passwd %r" % (gr, pw))

    with open(r.path("/var/lib/dpkg/info/%s.conffiles" % PKG)) as f:
        conffiles = f.read().split()
    check(conffiles == [CONF], "conffiles: %r" % conffiles)
    reg = r.sh(["dpkg-query", "-W", "-f=${Conffiles}", PKG]).split()
    check(reg[:1] == [CONF] and re.fullmatch(r"[0-9a-f]{32}", reg[1]),
          "dpkg -s: Conffiles %r" % reg)

    # not enabled: nothing in any .wants, systemctl says disabled
    wants = [p for p in glob.glob(r.path("/etc/systemd/system/*.wants/*"))
             if os.path.basename(p).startswith("dohstub")]
    check(not wants, "enabled: %r" % wants)
    for u in UNITS:
        s = lab.run(["systemctl", "--root=" + r.dir, "is-enabled", u])
        check(s.stdout.strip() == "disabled", "%s is %r, want disabled" % (
            u, s.stdout.strip() or s.stderr.strip()))
    # not started: the maintainer scripts start nothing; they restart on
    # upgrade only what the administrator enabled and ran (try-restart)
    for script in glob.glob(r.path("/var/lib/dpkg/info/%s.*inst" % PKG)) + \
            glob.glob(r.path("/var/lib/dpkg/info/%s.*rm" % PKG)):
        with open(script) as f:
            text = f.read()
        verbs = set(re.findall(r"deb-systemd-invoke\s+(\S+)", text))
        check(verbs <= {"try-restart", "stop"},
              "%s runs deb-systemd-invoke %r" % (
                  os.path.basename(script), verbs))
        check(not re.search(r"systemctl\s+(?:\S+\s+)*(?:start|enable)\b",
                            text), "%s starts or enables a unit" %
              os.path.basename(script))

    # the shipped configuration is valid as installed (the unit's
    # ExecStartPre), and dohq reads it by default
    chk = r.run(["/usr/sbin/dohstub", "-n", "-c", CONF])
    check(chk.returncode == 0, "dohstub -n -c %s: %s" % (CONF, chk.stderr))
    # and dohstub too, without -c: a line it cannot read names the file
    with open(r.path(CONF)) as f:
        shipped = f.read()
    try:
        with open(r.path(CONF), "a") as f:
            f.write("no-such-setting 1\n")
        bad = r.run(["/usr/sbin/dohstub", "-n"])
        check(bad.returncode != 0 and CONF + ":" in bad.stderr,
              "dohstub -n without -c: %r" % bad.stderr)
    finally:
        with open(r.path(CONF), "w") as f:
            f.write(shipped)
    h = r.run(["/usr/bin/dohq", "--help"])
    check("default configuration: %s;" % CONF in h.stdout + h.stderr,
          "dohq's default configuration: %r" % (h.stdout + h.stderr))


@lab.timeout(60)
def test_installed_daemon_answers():
    """The installed /usr/sbin/dohstub, started as root in the root with
    the shipped configuration, drops to the dohstub user and answers
    from the lab's DoH server; SIGTERM ends it with status 0."""
    r = root()
    u = lab.Unbound("unbound-pkg", plain=False).start()
    _undo.append(u.stop)
    shutil.copy(lab.certs().ca_pem, r.path(LAB_CA))
    os.chmod(r.path(LAB_CA), 0o644)
    port = lab.free_port()
    env = dict(ENV, DOHSTUB_LISTEN="127.0.0.1:%d" % port,
               DOHSTUB_UPSTREAM=u.url, DOHSTUB_RESOLVE=u.resolve,
               DOHSTUB_CA_FILE=LAB_CA,
               DOHSTUB_DNSSEC="process")	# the lab's zones are unsigned
    log = os.path.join(lab.tmpdir(), "dohstub-pkg.log")
    logf = open(log, "ab")
    p = lab.spawn(r.chroot("/usr/sbin/dohstub", "-c", CONF), env=env,
                  stdout=logf, stderr=subprocess.STDOUT,
                  stdin=subprocess.DEVNULL)

    def kill():
        if p.poll() is None:
            p.kill()
            p.wait(5)
        logf.close()
    _undo.append(kill)

    def answered():
        if p.poll() is not None:
            raise AssertionError("dohstub exited %d: %s" % (
                p.returncode, lab.tail(log)))
        q = lab.kdig(port, "+short", "www.lab.test", "A")
        return q if lab.WWW_A in q.stdout.split() else None
    q = lab.wait_for(answered, 10, interval=0.2,
                     what="an answer from the installed dohstub")
    check(q.stdout.split() == [lab.WWW_A], "kdig: %r" % q.stdout)
    q = lab.kdig(port, "+tcp", "alias.lab.test", "A")
    check("status: NOERROR" in q.stdout and lab.WWW_A in q.stdout,
          "kdig +tcp: %s" % (q.stdout or q.stderr))

    uid = int(r.sh(["id", "-u", "dohstub"]).strip())
    with open("/proc/%d/status" % p.pid) as f:
        st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    check(st["Uid"].split() == [str(uid)] * 4,
          "runs as Uid %r, want the dohstub user's %d" % (st["Uid"], uid))
    check(re.search(r"dropped privileges to dohstub \(uid %d\)" % uid,
                    lab.tail(log, 40)), "no privilege drop in the log: %s"
          % lab.tail(log))

    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        raise AssertionError("still running 5 s after SIGTERM")
    check(rc == 0, "exit status %d: %s" % (rc, lab.tail(log)))


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        lab.main(globals())
    finally:
        _cleanup()
        lab.note("test_package: %.0f s" % (time.monotonic() - t0))
