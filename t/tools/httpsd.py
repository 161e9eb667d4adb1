#!/usr/bin/env python3
"""httpsd.py - an HTTPS server for the tests' MTA-STS policies.

    httpsd.py --listen 127.0.0.30:443 --cert CRT --key KEY --root DIR

Serves DIR/<Host header>/<path> as text/plain (404 when missing), one
certificate for every name (give it a SAN per mta-sts.DOMAIN).  Where a
file ".cut" sits beside the file, the answer has no Content-Length and
the connection ends with a bare TCP FIN, no TLS close_notify (a body an
on-path attacker cut short looks like that).  Prints "ready" once it
listens; runs until killed.

POST (a TLS-RPT collector): the body is saved as DIR/_posts/<Host>-<n>
with its Content-Type in <Host>-<n>.type, and answered 200; a path
ending in /refuse is answered 503, one ending in /drip gets its status
line a byte a second, and more bytes after it, until the client leaves."""
import argparse
import http.server
import os
import socket
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = os.path.normpath(os.path.join(self.server.root, host, self.path.lstrip("/")))
        if not path.startswith(self.server.root + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        cut = os.path.exists(os.path.join(os.path.dirname(path), ".cut"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if not cut:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if cut:
            self.wfile.flush()
            # close the TCP connection under TLS: FIN without close_notify
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.endswith("/drip"):
            try:
                for b in b"HTTP/1.0 200 OK\r\n" + b"X" * 3600:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            self.close_connection = True
            return
        if self.path.endswith("/refuse"):
            self.send_error(503)
            return
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        posts = os.path.join(self.server.root, "_posts")
        os.makedirs(posts, exist_ok=True)
        with self.server.lock:
            self.server.posts += 1
            name = os.path.join(posts, "%s-%d" % (host, self.server.posts))
        with open(name + ".type", "w") as f:
            f.write((self.headers.get("Content-Type") or "") + "\n" + self.path + "\n")
        with open(name + ".tmp", "wb") as f:
            f.write(body)
        os.rename(name + ".tmp", name)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("httpsd: %s %s\n" % (self.address_string(), fmt % args))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--root", required=True)
    a = p.parse_args()
    host, port = a.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.root = os.path.realpath(a.root)
    server.lock = threading.Lock()
    server.posts = 0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


main()
