#!/usr/bin/env python3
"""Write seed inputs for fuzz_h2client: byte 0 (read size, method), then
HTTP/2 frames as a DoH server would send them after the handshake."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "corpus", "h2client")

DATA, HEADERS, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = \
    0, 1, 3, 4, 5, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return (struct.pack(">I", len(payload))[1:] +
            struct.pack(">BBI", ftype, flags, stream) + payload)


def lit(name, value):
    """HPACK literal without indexing, new name, no Huffman."""
    assert len(name) < 127 and len(value) < 127
    return (b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) +
            value)


def hpack(status=b"200", ctype=b"application/dns-message", extra=b""):
    block = lit(b":status", status)
    if ctype is not None:
        block += lit(b"content-type", ctype)
    return block + extra


def answer(qid=0, qr=True, name=b"\x03www\x03lab\x04test\x00", qtype=1):
    flags = 0x8180 if qr else 0x0100
    msg = struct.pack(">HHHHHH", qid, flags, 1, 1, 0, 0)
    msg += name + struct.pack(">HH", qtype, 1)
    msg += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes(
        [192, 0, 2, 1])
    return msg


def response(stream, **kw):
    body = kw.pop("body", answer())
    return (frame(HEADERS, END_HEADERS, stream, hpack(**kw)) +
            frame(DATA, END_STREAM, stream, body))


PRE = frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0)
SEEDS = {
    "ok_three": PRE + response(1) + response(3) + response(5),
    "ok_out_of_order": PRE + response(5) + response(1) + response(3),
    "status_404": PRE + response(1, status=b"404"),
    "status_301": PRE + response(1, status=b"301"),
    "ctype_text": PRE + response(1, ctype=b"text/plain"),
    "ctype_params": PRE + response(
        1, ctype=b"application/dns-message; charset=x"),
    "no_ctype": PRE + response(1, ctype=None),
    "empty_body": PRE + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                              hpack()),
    "qr0": PRE + response(1, body=answer(qr=False)),
    "other_question": PRE + response(
        1, body=answer(name=b"\x05other\x04test\x00")),
    "split_body": PRE + frame(HEADERS, END_HEADERS, 1, hpack()) +
    frame(DATA, 0, 1, answer()[:10]) + frame(DATA, END_STREAM, 1,
                                            answer()[10:]),
    "goaway_last1": PRE + response(1) + frame(
        GOAWAY, 0, 0, struct.pack(">II", 1, 0)),
    "goaway_first": PRE + frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)),
    "rst_refused": PRE + frame(RST, 0, 1, struct.pack(">I", 7)) +
    response(3),
    "rst_internal": PRE + frame(RST, 0, 3, struct.pack(">I", 2)),
    "ping": PRE + frame(PING, 0, 0, b"12345678") + response(1),
    "ping_ack": PRE + frame(PING, ACK, 0, b"\0" * 8),
    "window_update": PRE + frame(WINDOW, 0, 0, struct.pack(">I", 1000)),
    "max_streams_1": frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 1)) +
    frame(SETTINGS, ACK, 0) + response(1) + response(3),
    "max_streams_0": frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 0)),
    "push_promise": PRE + frame(PUSH, END_HEADERS, 1,
                                struct.pack(">I", 2) + hpack()),
    "continuation": PRE + frame(HEADERS, 0, 1, hpack()) +
    frame(CONT, 0, 1, lit(b"x-a", b"b")) +
    frame(CONT, END_HEADERS, 1, b"") + frame(DATA, END_STREAM, 1,
                                             answer()),
    "big_header": PRE + frame(HEADERS, END_HEADERS, 1, hpack(
        extra=lit(b"x-big", b"v" * 120) * 200)),
    "bad_frame_len": PRE + b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",
    "data_no_headers": PRE + frame(DATA, END_STREAM, 1, answer()),
    "not_h2": b"HTTP/1.1 200 OK\r\n\r\n",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, frames in SEEDS.items():
        for prefix, suffix in ((0x00, "post_whole"), (0x01, "get_whole"),
                               (0x0e, "post_8")):
            path = os.path.join(OUT, "%s_%s" % (name, suffix))
            with open(path, "wb") as f:
                f.write(bytes([0xfe | (prefix & 1)]) if suffix.endswith(
                    "whole") else bytes([prefix]))
                f.write(frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
