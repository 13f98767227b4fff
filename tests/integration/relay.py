#!/usr/bin/python3
"""A TCP relay that holds the server's bytes back: a path with a fixed
one-way delay towards the client, for counting round trips on loopback
(this machine type has no tc netem).

The client's bytes go to the server at once; every chunk the server sends
reaches the client `delay_ms` after it arrived here, in order.  So each
flight of the server's that the client must wait for costs one delay, and
the time from a client's first byte to an answer, divided by the delay,
is the number of flights it waited for.  TLS passes through untouched.
The TCP handshake with the relay is not delayed (the kernel completes it):
the counts are of flights above TCP.

As a module (tests):
    with Relay(target_port, delay_ms=300) as r:
        ... connect to 127.0.0.1:r.port ...
        r.wait_conns(2)      # a second connection was accepted
        r.cut()              # close every connection, both sides
As a program (bench/first-answer):
    relay.py --to PORT --delay MS [--port N]   prints "ready PORT"
"""

import argparse
import asyncio
import socket
import sys
import threading
import time


class Relay:
    def __init__(self, target_port, delay_ms=50, port=0,
                 target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay_ms / 1000.0
        self.want_port = port
        self.port = None
        self.conns = 0          # accepted so far
        self.accepts = []       # time.monotonic() of each accept
        self._open = set()      # (client writer, server writer)
        self._loop = None
        self._thread = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # --- the loop, in its own thread ---

    async def _pipe_up(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass

    async def _pipe_down(self, reader, writer):
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def deliver(data):
            if writer.is_closing():
                return
            if data is None:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                if not done.done():
                    done.set_result(None)
                return
            writer.write(data)

        try:
            while True:
                data = await reader.read(65536)
                loop.call_later(self.delay, deliver, data or None)
                if not data:
                    break
        except (ConnectionError, OSError):
            loop.call_later(self.delay, deliver, None)
        await done

    async def _handle(self, creader, cwriter):
        with self._lock:
            self.accepts.append(time.monotonic())
            self.conns += 1
        sock = cwriter.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sreader, swriter = await asyncio.open_connection(*self.target)
        except OSError:
            cwriter.close()
            return
        ssock = swriter.get_extra_info("socket")
        if ssock is not None:
            ssock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (cwriter, swriter)
        self._open.add(pair)
        try:
            await asyncio.gather(self._pipe_up(creader, swriter),
                                 self._pipe_down(sreader, cwriter))
        except asyncio.CancelledError:
            pass
        finally:
            self._open.discard(pair)
            for w in pair:
                w.close()

    async def _main(self):
        self._stopping = asyncio.get_running_loop().create_future()
        server = await asyncio.start_server(self._handle, "127.0.0.1",
                                            self.want_port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping
        server.close()
        for pair in list(self._open):
            for w in pair:
                w.close()
        tasks = [t for t in asyncio.all_tasks()
                 if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self):
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    # --- the interface ---

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("relay did not start")
        return self

    def cut(self):
        """Close every open connection at once, both sides (no delay)."""
        def close_all():
            for c, s in list(self._open):
                for w in (c, s):
                    sock = w.get_extra_info("socket")
                    try:
                        # RST, not FIN: as a path that went away.
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\1\0\0\0\0\0\0\0")
                    except (OSError, AttributeError):
                        pass
                    w.close()
        self._loop.call_soon_threadsafe(close_all)

    def wait_conns(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.conns >= n:
                return True
            time.sleep(0.005)
        return False

    def stop(self):
        if self._thread is not None and self._thread.is_alive():
            def finish():
                if not self._stopping.done():
                    self._stopping.set_result(None)
            self._loop.call_soon_threadsafe(finish)
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--to", type=int, required=True, help="server port")
    ap.add_argument("--delay", type=float, default=50, help="ms")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    r = Relay(a.to, a.delay, a.port).start()
    print("ready %d" % r.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
