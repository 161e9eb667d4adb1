#!/usr/bin/env python3
"""smflood.py - socketmap load for the hostile tests (t/hostile.t).

    smflood.py flood SOCKET KEYFILE [CONNS]
        asks "transport KEY" for every line of KEYFILE, spread over CONNS
        connections (default 4), 100 requests in flight per connection;
        prints "answers=N" and the count of each reply's first word
        ("OK=.. NOTFOUND=.. TEMP=.."), exits 1 when an answer is missing.
    smflood.py probe SOCKET KEY STOPFILE
        asks "transport KEY" one request at a time until STOPFILE exists
        (at least 20 times), timing each; prints "n=.. p50_ms=.. p99_ms=..
        max_ms=.. replies=REPLY|REPLY..." (the distinct replies).
    smflood.py ask SOCKET QUERY
        asks QUERY ("TABLE KEY") once and prints the reply."""
import os
import socket
import sys
import threading
import time


def netstring(text):
    data = text.encode()
    return b"%d:%s," % (len(data), data)


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                n = int(self.buf[:colon])
                end = colon + 1 + n
                if len(self.buf) > end:
                    text = self.buf[colon + 1:end].decode(errors="replace")
                    self.buf = self.buf[end + 1:]
                    return text
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def flood(path, keyfile, conns=4):
    with open(keyfile) as f:
        keys = [line.strip() for line in f if line.strip()]
    counts = {}
    lock = threading.Lock()
    answered = [0]

    def worker(part):
        s = connect(path)
        r = Reader(s)
        local = {}
        done = 0
        for at in range(0, len(part), 100):
            batch = part[at:at + 100]
            s.sendall(b"".join(netstring("transport " + k) for k in batch))
            for _ in batch:
                word = r.reply().split(" ", 1)[0]
                local[word] = local.get(word, 0) + 1
                done += 1
        s.close()
        with lock:
            answered[0] += done
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(keys[i::conns],)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("answers=%d %s" % (answered[0], " ".join("%s=%d" % kv for kv in sorted(counts.items()))))
    return 0 if answered[0] == len(keys) else 1


def probe(path, key, stopfile):
    s = connect(path)
    r = Reader(s)
    times, replies = [], set()
    while len(times) < 20 or not os.path.exists(stopfile):
        start = time.monotonic()
        s.sendall(netstring("transport " + key))
        replies.add(r.reply())
        times.append((time.monotonic() - start) * 1000)
        time.sleep(0.002)
    times.sort()
    print("n=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f replies=%s" % (
        len(times), times[len(times) // 2], times[int(len(times) * 0.99)], times[-1], "|".join(sorted(replies))))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "flood":
        sys.exit(flood(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 4))
    if len(sys.argv) == 4 and sys.argv[1] == "ask":
        sock = connect(sys.argv[2])
        sock.sendall(netstring(sys.argv[3]))
        print(Reader(sock).reply())
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "probe":
        sys.exit(probe(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(__doc__)
