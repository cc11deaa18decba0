"""A minimal Lambda Runtime API for benchmarks: one function process behind its own port.

- `startup(cmd, env)`: spawn the process and time it from just before the spawn to its first
  `GET /2018-06-01/runtime/invocation/next` (what AWS reports as Init Duration ends there too);
  read its peak RSS so far (VmHWM), then kill it.
- `warm(cmd, env, events, repeat)`: keep one process alive, deliver the events one after the other
  and time each invocation from handing the event out to receiving its response; the process's
  peak RSS over the whole run ("Max Memory Used") is its VmHWM at the end.

Single-purpose and dependency-free (stdlib only), so the figures carry as little harness as possible.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    """A killed client resets its connection: that is expected here, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)

NEXT = "/2018-06-01/runtime/invocation/next"


def lambda_env(name: str, runtime_api: str) -> dict[str, str]:
    """The variables the Lambda service sets for a function (as tests/local/driver.cjs does)."""
    return {
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
    }


class _Api:
    """The Runtime API state shared by the handler threads."""

    def __init__(self, name: str):
        self.name = name
        self.first_next_ns: int | None = None
        self.first_next = threading.Event()
        self.events: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.closing = threading.Event()


def _handler(api: _Api):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _reply(self, code: int, body: bytes = b"", headers: dict | None = None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self._reply(404)
            if api.first_next_ns is None:
                api.first_next_ns = time.perf_counter_ns()
                api.first_next.set()
            while True:  # long poll, as Lambda does
                try:
                    ev = api.events.get(timeout=0.2)
                    break
                except queue.Empty:
                    if api.closing.is_set():
                        self.close_connection = True
                        return
            req_id, payload = ev
            self._reply(200, json.dumps(payload).encode(), {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": req_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{api.name}",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            })

        def do_POST(self):
            body = self._body()
            parts = self.path.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-1] in ("response", "error"):
                t = time.perf_counter_ns()
                self._reply(202, b'{"status":"OK"}')
                api.results.put((parts[-2], parts[-1], body, t))
                return
            self._reply(202, b'{"status":"OK"}')  # init/error

    return Handler


class Runtime:
    """One Runtime API endpoint and the process behind it."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: str | None = None):
        self.api = _Api(name)
        self.server = QuietServer(("127.0.0.1", 0), _handler(self.api))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        self.cmd = cmd
        self.env = {**env, **lambda_env(name, f"127.0.0.1:{port}")}
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc: subprocess.Popen | None = None
        self.spawn_ns = 0
        self.reaped = False

    def _reap(self, block: bool) -> bool:
        """Reap the child if it has exited (or wait for it); True once it is gone."""
        if self.reaped:
            return True
        pid, status = os.waitpid(self.proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.reaped = True
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def spawn(self):
        self.spawn_ns = time.perf_counter_ns()
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, close_fds=True)

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Milliseconds from spawn to the first GET /next."""
        deadline = time.monotonic() + timeout
        while not self.api.first_next.wait(0.05):
            if self._reap(block=False) or time.monotonic() > deadline:
                raise RuntimeError(f"{self.api.name}: no GET /next within {timeout}s "
                                   f"(exit code {self.proc.returncode}); see its log")
        return (self.api.first_next_ns - self.spawn_ns) / 1e6

    def invoke(self, payload, timeout: float = 60.0) -> tuple[float, str, bytes]:
        """(ms from handing the event out to the response, 'response'|'error', body)."""
        req_id = str(uuid.uuid4())
        t0 = time.perf_counter_ns()
        self.api.events.put((req_id, payload))
        deadline = time.monotonic() + timeout
        while True:
            try:
                rid, kind, body, t1 = self.api.results.get(timeout=0.1)
                break
            except queue.Empty:
                if self._reap(block=False) or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.api.name}: no response within {timeout}s "
                                       f"(exit code {self.proc.returncode}); see its log") from None
        if rid != req_id:
            raise RuntimeError(f"{self.api.name}: response for {rid}, expected {req_id}")
        return (t1 - t0) / 1e6, kind, body

    def stop(self):
        """Kill the process and close the endpoint."""
        self.api.closing.set()
        if self.proc is not None:
            if not self._reap(block=False):
                self.proc.send_signal(signal.SIGKILL)
                self._reap(block=True)
        self.server.shutdown()
        self.server.server_close()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM) so far. Not wait4's ru_maxrss: on Linux that also
    counts the memory of the (Python) parent it was forked from, recorded at exec."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def startup(name: str, cmd: list[str], env: dict[str, str], log_path: str | None = None) -> tuple[float, int]:
    """One cold start: (ms to the first GET /next, peak RSS KiB until then)."""
    rt = Runtime(name, cmd, env, log_path)
    try:
        rt.spawn()
        ms = rt.wait_ready()
        rss = vm_hwm_kib(rt.proc.pid)
    finally:
        rt.stop()
    return ms, rss


def warm(name: str, cmd: list[str], env: dict[str, str], events: list, repeat: int,
         log_path: str | None = None) -> dict:
    """One process, `repeat` rounds over `events`. The first invocation is reported apart (it
    opens the connections); returns latencies of the rest, errors and the peak RSS."""
    rt = Runtime(name, cmd, env, log_path)
    out = {"first_ms": None, "ms": [], "errors": [], "init_ms": None, "maxrss_kib": 0}
    try:
        rt.spawn()
        out["init_ms"] = rt.wait_ready()
        n = 0
        for _ in range(repeat):
            for ev in events:
                ms, kind, body = rt.invoke(ev)
                if kind == "error":
                    out["errors"].append(body.decode(errors="replace")[:300])
                if n == 0:
                    out["first_ms"] = ms
                else:
                    out["ms"].append(ms)
                n += 1
                out["last_response"] = body.decode(errors="replace")[:2000]
        out["maxrss_kib"] = vm_hwm_kib(rt.proc.pid)
    finally:
        rt.stop()
    return out


def canary() -> tuple[socket.socket, list[int]]:
    """A listening socket that counts connections: pointed at by AWS_ENDPOINT_URL during start-up
    runs, it proves that a function's init makes no network call."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    hits = [0]

    def loop():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            hits[0] += 1
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return s, hits
