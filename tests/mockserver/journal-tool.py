#!/usr/bin/python3
"""Reads and writes the agent's journal segments, for scenarios that play
a power cut, a bad sector or a hostile user who can write the state
directory.  The record format is journal.c's: length (4 bytes LE, type and
payload), CRC-32C (4 bytes LE, over them), a type byte, the payload.

    journal-tool.py records DIR
        print each record of DIR's segments: segment offset type task
    journal-tool.py forge-start DIR ID [pid=N] [start=T] [cgroup=P]
            [marker=M] [tmpfile=F] [seq=N] [reserved=N]
        append a new segment holding one START record with these fields
        (valid checksum: what a user who can write DIR could make)
    journal-tool.py keep DIR ID N
        cut the newest segment just after task ID's N-th message record:
        the tail a power cut loses when it was never synced
    journal-tool.py corrupt DIR N
        flip a byte inside the newest segment's N-th record (from 1)
"""

import os
import struct
import sys

TYPES = {1: "MSG", 2: "ACK", 3: "START", 4: "FINAL"}


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record(rtype, payload):
    body = bytes([rtype]) + payload
    return struct.pack("<II", len(body), crc32c(body)) + body


def enc_str(s):
    b = s.encode()
    return struct.pack("<H", len(b)) + b


def enc_u64(v):
    return struct.pack("<Q", v)


def segments(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.endswith(".seg") and len(n) == 20)


def parse(path):
    """(offset, length, type, task ID) of each intact record in order."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 0
    while off + 9 <= len(data):
        n, crc = struct.unpack_from("<II", data, off)
        body = data[off + 8:off + 8 + n]
        if n == 0 or len(body) != n or crc32c(body) != crc:
            break
        idlen = struct.unpack_from("<H", body, 1)[0]
        out.append((off, 8 + n, body[0], body[3:3 + idlen].decode()))
        off += 8 + n
    return out


def main(argv):
    cmd, d = argv[0], argv[1]
    if cmd == "records":
        for seg in segments(d):
            for off, _, rtype, tid in parse(seg):
                print(os.path.basename(seg), off, TYPES.get(rtype, rtype),
                      tid)
    elif cmd == "forge-start":
        tid = argv[2]
        kv = dict(a.split("=", 1) for a in argv[3:])
        payload = (enc_str(tid) + enc_str("agent1") + enc_u64(0) +
                   enc_u64(int(kv.get("pid", "0"))) +
                   enc_u64(int(kv.get("start", "0"))) +
                   enc_str(kv.get("cgroup", "")) +
                   enc_str(kv.get("marker", "")) +
                   enc_u64(int(kv.get("seq", "0"))) +
                   enc_str(kv.get("tmpfile", "")) +
                   enc_u64(int(kv.get("reserved", "0"))))
        segs = segments(d)
        last = int(os.path.basename(segs[-1])[:16], 16) if segs else 0
        path = os.path.join(d, "%016x.seg" % (last + 1))
        with open(path, "wb") as f:
            f.write(record(3, payload))
        os.chmod(path, 0o600)
    elif cmd == "keep":
        tid, n = argv[2], int(argv[3])
        seg = segments(d)[-1]
        seen = 0
        for off, length, rtype, rid in parse(seg):
            if rtype == 1 and rid == tid:
                seen += 1
                if seen == n:
                    os.truncate(seg, off + length)
                    return 0
        sys.exit("task %s has fewer than %d messages in %s" % (tid, n, seg))
    elif cmd == "corrupt":
        n = int(argv[2])
        seg = segments(d)[-1]
        off, length, _, _ = parse(seg)[n - 1]
        with open(seg, "r+b") as f:
            f.seek(off + length - 1)
            b = f.read(1)
            f.seek(off + length - 1)
            f.write(bytes([b[0] ^ 0xFF]))
    else:
        sys.exit("unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
