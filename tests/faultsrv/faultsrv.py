"""
faultsrv.py: start and watch the fault-injecting DoH server (standard
library only).

    from faultsrv import FaultServer
    with FaultServer(bin, cert, key, "goaway-after:2") as srv:
        ... point the client at 127.0.0.1:srv.port ...
        srv.wait_event("goaway")
        assert srv.count("request") == 3
    # stopped here; srv.events() still readable

The log protocol is in README.md: one line per event,
"NAME CONN key=value ... t=MS".  cert is the leaf plus chain in PEM, key
its private key.
"""

import atexit
import os
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time


def default_bin():
    """$FAULTSRV_BIN, else faultsrv in $DOHSTUB_BUILD, else build-fault/."""
    if os.environ.get("FAULTSRV_BIN"):
        return os.environ["FAULTSRV_BIN"]
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("DOHSTUB_BUILD",
                           os.path.join(here, "..", "..", "build-fault"))
    return os.path.join(build, "faultsrv")


class Event:
    """One log line.  .name, .conn (int, 0 for server-wide events),
    .t (ms since start), .kv (dict of str); ev["key"] and ev.int("key")."""

    __slots__ = ("name", "conn", "t", "kv", "line")

    def __init__(self, line):
        self.line = line
        words = shlex.split(line)
        if len(words) < 2:
            raise ValueError("bad faultsrv log line: %r" % line)
        self.name = words[0]
        self.conn = int(words[1])
        self.kv = {}
        for w in words[2:]:
            k, sep, v = w.partition("=")
            self.kv[k] = v if sep else ""
        self.t = int(self.kv.pop("t", "0"))

    def __getitem__(self, key):
        return self.kv[key]

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def int(self, key):
        return int(self.kv[key])

    def __repr__(self):
        return "Event(%r)" % self.line


class FaultServer:
    """faultsrv on 127.0.0.1, a free port, logging to a temporary file.

    fault: "none", "status:503", ... (see README.md).  extra: more
    arguments (["--tls12-only"], ["--alpn", "h2,http/1.1"]).  env: the
    child's environment (e.g. ASAN_OPTIONS)."""

    def __init__(self, bin, cert, key, fault="none", extra=(), env=None,
                 start_timeout=10.0):
        self.bin = bin
        self.fault = fault
        self._dir = tempfile.mkdtemp(prefix="faultsrv-")
        if os.environ.get("FAULTSRV_KEEP") != "1":
            atexit.register(shutil.rmtree, self._dir, True)
        self.log_path = os.path.join(self._dir, "faultsrv.log")
        self._stderr_path = os.path.join(self._dir, "stderr")
        argv = [bin, "--port", "0", "--cert", cert, "--key", key,
                "--fault", fault, "--log", self.log_path] + list(extra)
        self._stderr = open(self._stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env)
        self.port = self._read_ready(start_timeout)
        self.returncode = None

    def _read_ready(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 256)
            if not chunk:	# exited: a start-up error
                break
            buf += chunk
        line = buf.decode(errors="replace")
        if not line.startswith("ready ") or not line.endswith("\n"):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("faultsrv did not start: %r %s"
                               % (line, self.stderr()))
        return int(line.split()[1])

    def stderr(self):
        try:
            with open(self._stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def events(self, name=None, conn=None):
        """Every event so far, optionally only those called name (a str or
        a tuple of str) or on connection conn."""
        try:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        # whole lines only: one being written is left for the next read
        lines = text[:text.rfind("\n") + 1].splitlines()
        out = []
        for line in lines:
            if not line.strip():
                continue
            ev = Event(line)
            if name is not None and ev.name != name and \
                    not (isinstance(name, tuple) and ev.name in name):
                continue
            if conn is not None and ev.conn != conn:
                continue
            out.append(ev)
        return out

    def count(self, name, conn=None):
        return len(self.events(name, conn))

    def wait_event(self, name, pred=None, timeout=5.0, count=1):
        """Wait until count events called name (matching pred, if given)
        are logged; return the last of them."""
        deadline = time.monotonic() + timeout
        while True:
            evs = [e for e in self.events(name) if pred is None or pred(e)]
            if len(evs) >= count:
                return evs[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    "faultsrv: no %d x %r within %.1fs; log:\n%s"
                    % (count, name, timeout,
                       "\n".join(e.line for e in self.events())))
            if self.proc.poll() is not None:
                raise AssertionError("faultsrv exited (%s): %s"
                                     % (self.proc.returncode, self.stderr()))
            time.sleep(0.02)

    def stop(self, timeout=5.0):
        """SIGTERM, then wait: faultsrv closes every connection (logging
        app-bytes and close for each) and exits 0.  Returns the exit
        status; SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc.stdout.close()
        self._stderr.close()
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
