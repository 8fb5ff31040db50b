#!/usr/bin/env python3
"""metadata-probe.py: is a Kafka broker ready? One Metadata request over the wire.

usage: metadata-probe.py HOST:PORT PARTITIONS [TOPIC]...

Sends a Metadata v4 request (the version librdkafka 2.0.2 uses) for the TOPICs, asking
the broker to create those that are missing (auto.create.topics.enable). Exits 0 if the
broker lists itself and a controller, and each TOPIC with every partition led; 2 if a
TOPIC has another partition count than PARTITIONS; 1, with the reason on stdout, for
anything else (no answer yet, topics not created yet, partitions without a leader).
Uses only the standard library, so that it runs before anything is built.
"""
import socket
import struct
import sys


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def int32_array(self):
        n = self.take(">i")
        return [self.take(">i") for _ in range(max(n, 0))]


def encode_string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(host, port, topics):
    body = struct.pack(">i", len(topics)) + b"".join(encode_string(t) for t in topics)
    body += b"\x01"  # allow_auto_topic_creation
    # Request header v1: api key 3 (Metadata), version 4, correlation id, client id.
    req = struct.pack(">hhi", 3, 4, 1) + encode_string("pingpong-probe") + body
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
    return Reader(buf[4:])


def main():
    host, port = sys.argv[1].split(",")[0].rsplit(":", 1)
    want = int(sys.argv[2])
    topics = sys.argv[3:]
    try:
        r = request(host, int(port), topics)
    except OSError as e:
        print("no answer: %s" % e)
        return 1
    r.take(">i")  # correlation id
    r.take(">i")  # throttle time
    brokers = []
    for _ in range(r.take(">i")):
        node, bhost, bport = r.take(">i"), r.string(), r.take(">i")
        r.string()  # rack
        brokers.append("%d@%s:%d" % (node, bhost, bport))
    r.string()  # cluster id
    controller = r.take(">i")
    missing = []
    if not brokers:
        missing.append("no broker listed")
    if controller < 0:
        missing.append("no controller")
    for _ in range(r.take(">i")):
        err, name = r.take(">h"), r.string()
        r.take(">b")  # is_internal
        nparts, led = r.take(">i"), 0
        for _ in range(max(nparts, 0)):
            perr, _index, leader = r.take(">hii")
            r.int32_array()  # replicas
            r.int32_array()  # in-sync replicas
            led += perr == 0 and leader >= 0
        if err or nparts <= 0 or led != nparts:
            missing.append("topic %s: error %d, %d of %d partitions led" % (name, err, led, max(nparts, 0)))
        elif nparts != want:
            print("topic %s has %d partitions, not %d" % (name, nparts, want))
            return 2
    if missing:
        print("; ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
