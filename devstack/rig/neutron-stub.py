#!/usr/bin/env python3
"""neutron-stub.py — the smallest Networking API that lets Nova serve servers without ports.

The rig has no Neutron (servers are created with --nic none), but nova-api still asks the network service
about a server's security groups on every `server show`, and the stock nova-compute lists ports on delete.
This answers, on 127.0.0.1:9696, the version document, and every collection GET (/v2.0/<collection>) with an
empty list; single resources are 404 in Neutron's error format; writes are refused (nothing here may pretend
to create a network).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, PORT = "127.0.0.1", 9696


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("", "/"):
            base = f"http://{HOST}:{PORT}/v2.0/"
            return self._send(200, {"versions": [
                {"id": "v2.0", "status": "CURRENT", "links": [{"href": base, "rel": "self"}]}]})
        parts = [p for p in path.split("/") if p]
        if parts[0] != "v2.0":
            return self._send(404, {"NeutronError": {"type": "HTTPNotFound", "message": path, "detail": ""}})
        if len(parts) == 1:
            return self._send(200, {"resources": []})
        collection = parts[1].removesuffix(".json")
        if len(parts) == 2:
            return self._send(200, {collection.replace("-", "_"): []})
        kind = collection.rstrip("s").replace("-", " ").title().replace(" ", "")
        return self._send(404, {"NeutronError": {"type": f"{kind}NotFound",
                                                 "message": f"{kind} {parts[2]} could not be found.", "detail": ""}})

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(501, {"NeutronError": {"type": "NotImplemented",
                                          "message": "this cloud has no networking service", "detail": ""}})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
