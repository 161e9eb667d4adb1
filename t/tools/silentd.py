#!/usr/bin/env python3
"""silentd.py - servers that never answer, for the hostile tests.

    silentd.py tcp ADDR:PORT    accepts connections and never sends a byte
    silentd.py udp ADDR:PORT    reads datagrams and never answers (a name
                                server that has gone quiet: no ICMP error,
                                so the asker waits for its timeout)

Prints "ready" once it listens; runs until killed."""
import socket
import sys
import time

if len(sys.argv) != 3 or sys.argv[1] not in ("tcp", "udp"):
    sys.exit(__doc__)
host, port = sys.argv[2].rsplit(":", 1)
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
held = []
if kind == socket.SOCK_STREAM:
    s.listen(1024)
print("ready", flush=True)
while True:
    if kind == socket.SOCK_STREAM:
        held.append(s.accept()[0])  # kept open, never written to
    else:
        s.recv(65536)
