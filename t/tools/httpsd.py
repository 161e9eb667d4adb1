#!/usr/bin/env python3
"""httpsd.py - an HTTPS server for the tests' MTA-STS policies.

    httpsd.py --listen 127.0.0.30:443 --cert CRT --key KEY --root DIR

Serves DIR/<Host header>/<path> as text/plain (404 when missing), one
certificate for every name (give it a SAN per mta-sts.DOMAIN).  Where a
file ".cut" sits beside the file, the answer has no Content-Length and
the connection ends with a bare TCP FIN, no TLS close_notify (a body an
on-path attacker cut short looks like that).  Prints "ready" once it
listens; runs until killed."""
import argparse
import http.server
import os
import socket
import ssl
import sys


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
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


main()
