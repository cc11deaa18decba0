"""Time-based resource lifecycles for the local stack, without touching it: an HTTP proxy in front of
moto (RDS) or the emulator (VPC Lattice) that reports a resource as still being created until its
(scaled) creation time has passed.

moto makes a DB instance `available` at once and the emulator settles Lattice resources after a
number of polls; AWS takes minutes for RDS and tens of seconds for Lattice. Run the stack with
instant lifecycles (emulator `--polls-to-active 0`), point `AWS_ENDPOINT_URL_RDS` /
`AWS_ENDPOINT_URL_VPC_LATTICE` at these proxies, and every Get/List/Describe answer shows the
resource as `creating` / `CREATE_IN_PROGRESS` for `seconds × scale` after it was first created.
Everything else passes through untouched (bodies, status codes, headers).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from lambda_harness import QuietServer

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}

# Lattice id prefix → the latency key.
LATTICE_KINDS = {"rgw": "resourceGateway", "snva": "vpcAssociation", "rcfg": "resourceConfiguration",
                 "snra": "resourceAssociation"}


class Shaper:
    """One proxy: `kind` is "rds" or "lattice"; `latency` maps a resource kind to real-world
    seconds; `scale` shrinks them for the run (0.05 = 20× faster)."""

    def __init__(self, kind: str, upstream: str, latency: dict[str, float], scale: float):
        self.kind, self.latency, self.scale = kind, latency, scale
        u = urllib.parse.urlparse(upstream)
        self.up_host, self.up_port = u.hostname, u.port
        self.born: dict[str, float] = {}      # resource id → monotonic time it was created
        self.ready_seen: dict[str, float] = {}  # resource id → first time it was reported ready
        self.lock = threading.Lock()
        self.calls = 0
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # ---- lifecycle bookkeeping
    def _delay(self, key: str) -> float:
        return self.latency.get(key, 0.0) * self.scale

    def _pending(self, rid: str, key: str) -> bool:
        """True while `rid` (created through this proxy) is younger than its scaled latency."""
        now = time.monotonic()
        with self.lock:
            born = self.born.setdefault(rid, now) if self.kind == "lattice" else self.born.get(rid)
            if born is None:
                return False
            if now - born < self._delay(key):
                return True
            self.ready_seen.setdefault(rid, now)
            return False

    def _on_request(self, method: str, body: bytes):
        if self.kind != "rds" or method != "POST":
            return
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = (form.get("Action") or [""])[0]
        key = {"CreateDBInstance": "DBInstanceIdentifier", "CreateDBCluster": "DBClusterIdentifier"}.get(action)
        if key and form.get(key):
            with self.lock:
                self.born.setdefault(form[key][0].lower(), time.monotonic())

    def _rewrite(self, body: bytes, ctype: str) -> bytes:
        if self.kind == "rds" and b"<DB" in body:
            text = body.decode()

            def inst(m):
                block = m.group(0)
                ident = re.search(r"<DBInstanceIdentifier>([^<]+)</DBInstanceIdentifier>", block)
                if ident and self._pending(ident.group(1).lower(), "database"):
                    block = block.replace("<DBInstanceStatus>available</DBInstanceStatus>",
                                          "<DBInstanceStatus>creating</DBInstanceStatus>")
                return block

            def clus(m):
                block = m.group(0)
                ident = re.search(r"<DBClusterIdentifier>([^<]+)</DBClusterIdentifier>", block)
                if ident and self._pending(ident.group(1).lower(), "database"):
                    block = block.replace("<Status>available</Status>", "<Status>creating</Status>")
                return block

            text = re.sub(r"<DBInstance>.*?</DBInstance>", inst, text, flags=re.S)
            text = re.sub(r"<DBCluster>.*?</DBCluster>", clus, text, flags=re.S)
            return text.encode()
        if self.kind == "lattice" and "json" in ctype and body:
            try:
                doc = json.loads(body)
            except ValueError:
                return body

            def walk(node):
                if isinstance(node, dict):
                    rid = node.get("id")
                    if isinstance(rid, str) and "-" in rid:
                        key = LATTICE_KINDS.get(rid.split("-", 1)[0])
                        if key and node.get("status") == "ACTIVE" and self._pending(rid, key):
                            node["status"] = "CREATE_IN_PROGRESS"
                            node.pop("dnsEntry", None)
                    for v in node.values():
                        walk(v)
                elif isinstance(node, list):
                    for v in node:
                        walk(v)

            walk(doc)
            return json.dumps(doc).encode()
        return body

    def _handler(self):
        shaper = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self):
                body = self._read_body()
                shaper.calls += 1
                shaper._on_request(self.command, body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn = http.client.HTTPConnection(shaper.up_host, shaper.up_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body if body or self.command in ("POST", "PUT", "PATCH") else None,
                                 headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    rheaders = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
                    status = resp.status
                finally:
                    conn.close()
                if 200 <= status < 300:
                    data = shaper._rewrite(data, resp.getheader("Content-Type") or "")
                self.send_response(status)
                for k, v in rheaders:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        return Handler
