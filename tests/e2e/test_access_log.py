#!/usr/bin/env python3
"""The per-request log line: serve's log is written to stderr in batches by a
background thread, so a request never waits for stderr. When stderr does not keep up (here a
pipe that nobody reads), requests are still answered, lines beyond the sink's capacity are
dropped and counted, and the count is written as a warning once stderr takes data again:
every request is either logged or counted. Lines are written promptly, and everything is
written at shutdown.

Usage: test_access_log.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import datetime
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import e2e_support as e2e
from e2e_support import Server

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ACCESS_LINE = re.compile(r"(?m)^\S+ info GET /healthz 200 \d+\.\d{3}ms$")
# spdlog's "%Y-%m-%dT%H:%M:%S.%e%z %l %v": local time with its UTC offset, the level, the message.
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) "
                  r"(trace|debug|info|warning|error|critical) \S.*$")
DROPPED = re.compile(r"(?m)^\S+ warning (\d+) log lines dropped: stderr did not keep up$")


def pipelined_health_checks(port, total, batch=200, timeout=10):
    """Sends `total` GET /healthz on one keep-alive connection, `batch` at a time, and reads
    every answer. Returns how many 200 answers arrived; raises socket.timeout if the server
    stops answering for `timeout` seconds."""
    answered = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        pending = b""
        while answered < total:
            count = min(batch, total - answered)
            sock.sendall(HEALTH * count)
            got = 0
            while got < count:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise AssertionError("the server closed the connection after %d answers" % answered)
                pending += chunk
                # Every answer ends with the same 17-byte body.
                while True:
                    end = pending.find(b'{"status":"pass"}')
                    if end < 0:
                        break
                    if not pending.startswith(b"HTTP/1.1 200 OK\r\n"):
                        raise AssertionError("unexpected answer: %r" % pending[:200])
                    pending = pending[end + 17:]
                    got += 1
            answered += got
    return answered


class AccessLogTest(unittest.TestCase):
    def test_a_stderr_that_nobody_reads_blocks_no_request_and_losses_are_counted(self):
        process = subprocess.Popen([e2e.BINARY, "serve", "--listen", "127.0.0.1:0", "--threads", "2"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        drained = []
        try:
            match = re.match(rb"listening on http://127\.0\.0\.1:(\d+)", process.stdout.readline())
            self.assertIsNotNone(match)
            port = int(match.group(1))
            # A pipe holds 64 KiB and the sink 1 MiB: at ~60 bytes a line, 30,000 lines cannot
            # all be kept while nobody reads. A server that waited for stderr would stop
            # answering after about a thousand requests.
            total = 30000
            started = time.monotonic()
            self.assertEqual(pipelined_health_checks(port, total), total)
            print("\n%d requests answered in %.1f s with stderr blocked" % (total, time.monotonic() - started))

            reader = threading.Thread(target=lambda: drained.append(process.stderr.read()), daemon=True)
            reader.start()
            # Once stderr is read again, the count of dropped lines is written (a warning goes
            # out at once). Then one more request shows the log flowing again.
            time.sleep(1.0)
            self.assertEqual(pipelined_health_checks(port, 1), 1)
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(timeout=20), 0)
            reader.join(20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()

        log = drained[0].decode("utf-8", "replace")
        logged = len(ACCESS_LINE.findall(log))
        dropped = sum(int(n) for n in DROPPED.findall(log))
        self.assertGreater(dropped, 0, "nothing was dropped: the test did not block stderr")
        # Every request is either logged or counted as dropped.
        self.assertEqual(logged + dropped, total + 1)
        self.assertTrue(log.rstrip().endswith("info stopped"), log[-300:])

    def test_lines_are_written_promptly_and_in_full_at_shutdown(self):
        with Server() as server:
            for _ in range(3):
                status, _, _ = server.request("GET", "/healthz")
                self.assertEqual(status, 200)
            # The sink writes at least every 50 ms; allow for a loaded machine.
            self.assertTrue(server.wait_for_log(r"(?s)(GET /healthz 200 .*){3}", timeout=5))
            self.assertEqual(server.stop(), 0)
            log = server.read_log()
        self.assertEqual(len(ACCESS_LINE.findall(log)), 3)
        self.assertTrue(log.rstrip().endswith("info stopped"), log[-300:])
        # Every line has the log's format, and its time (with its offset) is now.
        now = datetime.datetime.now(datetime.timezone.utc)
        for line in log.splitlines():
            match = LINE.match(line)
            self.assertIsNotNone(match, line)
            written = datetime.datetime.fromisoformat(match.group(1))
            self.assertLess(abs((now - written).total_seconds()), 120, line)

    def test_warn_level_writes_no_access_line(self):
        with Server("--log-level", "warn") as server:
            status, _, _ = server.request("GET", "/healthz")
            self.assertEqual(status, 200)
            self.assertEqual(server.stop(), 0)
            log = server.read_log()
        self.assertEqual(ACCESS_LINE.findall(log), [])
        self.assertNotIn(" info ", log)


if __name__ == "__main__":
    e2e.main()
