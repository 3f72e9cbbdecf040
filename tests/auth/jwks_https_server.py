#!/usr/bin/env python3
"""Loopback HTTPS server for the JWKS-over-HTTPS tests (started and stopped by auth_tests).

Binds 127.0.0.1 only, on ports chosen by the OS, and prints one JSON line with them:
  good        TLS with a certificate for localhost / 127.0.0.1 from the test CA; serves the
              files of --root, re-read on every request (so the test can rotate keys)
  wrong_name  TLS with a certificate from the same CA for another host name
  stall       accepts connections and never answers (timeouts)
Exits when its standard input closes, so it cannot outlive the test that started it.
"""

import argparse
import http.server
import json
import os
import socket
import ssl
import sys
import threading


def tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def make_handler(root):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = os.path.basename(self.path.split("?", 1)[0])
            path = os.path.join(root, name)
            if not name or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def serve_tls(root, cert, key):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(root))
    server.daemon_threads = True
    server.socket = tls_context(cert, key).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def serve_stall():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def accept_forever():
        while True:
            connection, _ = listener.accept()
            held.append(connection)

    threading.Thread(target=accept_forever, daemon=True).start()
    return listener.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--tls-dir", required=True)
    args = parser.parse_args()
    tls = args.tls_dir
    ports = {
        "good": serve_tls(args.root, os.path.join(tls, "server.crt"), os.path.join(tls, "server.key")),
        "wrong_name": serve_tls(args.root, os.path.join(tls, "wrong-name.crt"),
                                os.path.join(tls, "wrong-name.key")),
        "stall": serve_stall(),
    }
    print(json.dumps(ports), flush=True)
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    os._exit(0)


if __name__ == "__main__":
    main()
