#!/usr/bin/python3
"""md5_http_server.py - the anchor for inline hpush: the md5 function of the
benchmarks in a plain stdlib ThreadingHTTPServer, as an AIStore-style hpush
transformer would serve it (PUT body in, lowercase hex digest out).

Design: one thread per connection, HTTP/1.1 keep-alive, TCP_NODELAY and the
reply written as one segment: without TCP_NODELAY a reply split over two
writes stalls ~40 ms per request on Linux loopback (delayed ACK).

usage: md5_http_server.py PORT
"""
import hashlib
import http.server
import sys


def transform(data):
    return hashlib.md5(data).hexdigest().encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, body):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def do_GET(self):
        self.reply(b"Running")

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.reply(transform(self.rfile.read(n)))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
