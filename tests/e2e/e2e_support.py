"""Shared by the issue-5 end-to-end tests (test_tls, test_limits, test_auth_e2e, test_hostile,
test_log_hygiene): start the real `magnesium-cds serve` on loopback, talk to it, read its log.
Python standard library only (plus `cryptography` in test_auth_e2e).
Run as a script, it is the ThreadSanitizer build's launcher of every e2e test (see the end)."""

import argparse
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# The fixture requests are dated relative to this time (fixtures/requests/README.md).
FIXTURE_NOW = "2026-03-10T09:00:00Z"
JSON = {"Content-Type": "application/json"}

BINARY = None
FIXTURES = None
REPO = None
ARGS = None  # the parsed command line, for test-specific arguments


def free_port():
    """A loopback port that was free a moment ago (for tests that must know the port before
    the server starts, e.g. for --public-url)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `magnesium-cds serve` on 127.0.0.1; its port read from the line it prints.
    stdout and stderr both go to one log file, so tests can grep everything it wrote."""

    def __init__(self, *extra_args, port=0, now=FIXTURE_NOW, threads=2, ssl_context=None):
        self.log = tempfile.NamedTemporaryFile(prefix="magnesium-cds-e2e-", suffix=".log", delete=False)
        args = [BINARY, "serve", "--listen", "127.0.0.1:%d" % port, "--threads", str(threads)]
        if now:
            args += ["--now", now]
        self.args = args + list(extra_args)
        self.ssl_context = ssl_context
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True)
        self.first_line = self.process.stdout.readline()
        match = re.match(r"listening on (https?)://127\.0\.0\.1:(\d+)", self.first_line)
        if not match:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("server did not report its port; stdout: %r; log: %s"
                               % (self.first_line, self.read_log()))
        self.scheme = match.group(1)
        self.port = int(match.group(2))
        # Whatever else it prints on stdout is kept (the log-hygiene test reads everything).
        self.stdout_rest = []
        self.stdout_reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self.stdout_reader.start()

    def _drain_stdout(self):
        for line in self.process.stdout:
            self.stdout_rest.append(line)

    def all_output(self):
        """Everything the process wrote, stdout and stderr (complete once it has exited)."""
        if self.process.poll() is not None:
            self.stdout_reader.join(10)
        return self.first_line + "".join(self.stdout_rest) + self.read_log()

    @property
    def pid(self):
        return self.process.pid

    def connection(self, timeout=20):
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=20):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def read_log(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_for_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.read_log())
            if match or time.monotonic() > deadline:
                return match
            time.sleep(0.05)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid, encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def stop_expecting_clean_exit(self, log_tail=None):
        """SIGTERM, then fail unless the service exited 0: a graceful stop is checked by every
        suite that starts one. `log_tail` limits how much of the log the failure quotes."""
        code = self.stop()
        log = self.read_log()
        self.cleanup()
        if code != 0:
            raise AssertionError("server exited %s after SIGTERM; log:\n%s"
                                 % (code, log if log_tail is None else log[-log_tail:]))

    def cleanup(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stdout_reader.join(10)
        self.process.stdout.close()
        self.log.close()
        os.unlink(self.log.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


def fixture_text(name):
    with open(os.path.join(FIXTURES, "requests", name), encoding="utf-8") as f:
        return f.read()


def without_uuids(value):
    """The value with every `uuid` member's text replaced: cards compared apart from uuids."""
    if isinstance(value, dict):
        return {k: ("-" if k == "uuid" else without_uuids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value


def without_link_base(value):
    """The value with each card's source.url cut to its path (/rules/<rule-id>): `evaluate`
    links under serve's default address, a server under the address it listens on."""
    if isinstance(value, dict):
        out = {k: without_link_base(v) for k, v in value.items()}
        url = out.get("url")
        if "topic" in out and isinstance(url, str) and "/rules/" in url:
            out["url"] = url[url.index("/rules/"):]
        return out
    if isinstance(value, list):
        return [without_link_base(v) for v in value]
    return value


def fixture_names():
    return sorted(n for n in os.listdir(os.path.join(FIXTURES, "requests")) if n.endswith(".json"))


def outcome_code(body):
    return json.loads(body)["issue"][0]["details"]["coding"][0]["code"]


def recv_all(sock, limit=1 << 24):
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def severe_call_ok(server):
    """A normal hook call gets its normal answer (the critical card of the severe fixture)."""
    status, headers, body = server.request("POST", "/cds-services/magnesium-patient-view",
                                           fixture_text("patient-view-severe.json"), JSON)
    if status != 200:
        return False
    cards = json.loads(body)["cards"]
    return bool(cards) and cards[0]["indicator"] == "critical" and headers.get("Access-Control-Allow-Origin") == "*"


def main(extra_arguments=()):
    """Parses --binary/--fixtures (and `extra_arguments` names) then runs unittest."""
    global BINARY, FIXTURES, REPO, ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--fixtures", required=True)
    for name in extra_arguments:
        parser.add_argument(name)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    FIXTURES = os.path.abspath(args.fixtures)
    REPO = os.path.dirname(FIXTURES)
    ARGS = args
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


def run_failing_on_thread_sanitizer_reports(command, suppressions=None):
    """Runs `command` (a whole e2e test) with ThreadSanitizer's reports, from every process it
    starts (`serve`, `evaluate`), written to files in a fresh directory instead of stderr; any
    report fails the test, whether or not the test itself noticed (a race at shutdown, or in a
    server whose exit status the test does not check). Returns the exit status to use."""
    with tempfile.TemporaryDirectory(prefix="magnesium-cds-tsan-") as reports:
        options = [os.environ.get("TSAN_OPTIONS", ""), "log_path=" + os.path.join(reports, "report")]
        if suppressions:
            options.append("suppressions=" + suppressions)
        env = dict(os.environ, TSAN_OPTIONS=":".join(o for o in options if o))
        code = subprocess.call(command, env=env)
        found = sorted(os.listdir(reports))
        for name in found:
            with open(os.path.join(reports, name), encoding="utf-8", errors="replace") as f:
                sys.stderr.write("==> ThreadSanitizer report of process %s:\n%s\n" % (name.rsplit(".", 1)[-1], f.read()))
        if found:
            sys.stderr.write("FAILED: ThreadSanitizer reported %d process(es) of this test; see above\n" % len(found))
            return 1
        return code


if __name__ == "__main__":
    # The TSan build's e2e launcher (tests/e2e/CMakeLists.txt):
    #   e2e_support.py --fail-on-thread-sanitizer-reports [--tsan-suppressions FILE] -- COMMAND...
    launcher = argparse.ArgumentParser()
    launcher.add_argument("--fail-on-thread-sanitizer-reports", action="store_true", required=True)
    launcher.add_argument("--tsan-suppressions")
    launcher.add_argument("command", nargs=argparse.REMAINDER)
    launched = launcher.parse_args()
    if launched.command[:1] == ["--"]:
        launched.command = launched.command[1:]
    if not launched.command:
        launcher.error("no command after --")
    sys.exit(run_failing_on_thread_sanitizer_reports(launched.command, launched.tsan_suppressions))


class EmptyFhirServer(http.server.ThreadingHTTPServer):
    """A FHIR server on loopback that answers every search with an empty searchset Bundle and
    keeps each request's headers (request_headers, in arrival order)."""

    def __init__(self):
        self.request_headers = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.request_headers.append(self.headers)
                body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
