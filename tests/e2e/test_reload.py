#!/usr/bin/env python3
"""Hot reload of the rule file over the real binary: `serve --rules FILE` re-reads FILE on
SIGHUP and, with `--rules-watch DURATION`, when it changes. A valid file replaces the rules without a
failed call (reloads under a steady stream of hook calls); /readyz, the cards' source.topic
version and the feedback store follow the new version. An invalid file (broken JSON, a rule
the build expects taken out) changes nothing, and the log names each problem.

Usage: test_reload.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import e2e_support as e2e
from e2e_support import JSON, Server

SERVICE = "/cds-services/magnesium-patient-view"


def bundled_rules():
    with open(os.path.join(e2e.REPO, "rules", "config", "magnesium-rules.json"), encoding="utf-8") as f:
        return json.load(f)


def write_atomically(path, text):
    """As a deployment tool does: the new file is renamed over the old one."""
    temporary = path + ".new"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def served_version(server):
    status, _, body = server.request("GET", "/readyz")
    assert status == 200, body
    return json.loads(body)["ruleSet"]["version"]


def card_versions(body):
    return {card["source"]["topic"]["version"] for card in json.loads(body)["cards"]}


class CallsUnderReload:
    """Hook calls on `threads` keep-alive connections until stopped: every status and the
    rule-set versions the cards named, in order."""

    def __init__(self, server, threads=2):
        self.server = server
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.versions = []  # (time, version set) per successful call
        self.request = e2e.fixture_text("patient-view-severe.json")
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self):
        conn = self.server.connection()
        try:
            while not self.stop_event.is_set():
                try:
                    conn.request("POST", SERVICE, body=self.request, headers=JSON)
                    response = conn.getresponse()
                    body = response.read()
                except OSError as e:  # a dropped connection is a failed call
                    with self.lock:
                        self.failures.append(repr(e))
                    conn.close()
                    conn = self.server.connection()
                    continue
                with self.lock:
                    if response.status != 200:
                        self.failures.append("%d %s" % (response.status, body[:200]))
                    else:
                        self.versions.append(card_versions(body))
        finally:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)
        return False


class Reload(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="magnesium-cds-reload-")
        self.rules_path = os.path.join(self.directory, "rules.json")
        self.rules = bundled_rules()
        self.original_version = self.rules["version"]
        write_atomically(self.rules_path, json.dumps(self.rules))

    def tearDown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def write_version(self, version):
        self.rules["version"] = version
        write_atomically(self.rules_path, json.dumps(self.rules, indent=2))

    def test_sighup_under_load_fails_no_call(self):
        database = os.path.join(self.directory, "feedback.db")
        server = Server("--rules", self.rules_path, "--feedback-db", database)
        try:
            self.assertEqual(served_version(server), self.original_version)
            versions = ["%s-reload.%d" % (self.original_version, i) for i in range(1, 5)]
            with CallsUnderReload(server) as calls:
                time.sleep(0.3)
                for version in versions:
                    self.write_version(version)
                    server.process.send_signal(signal.SIGHUP)
                    pattern = r"info SIGHUP: reloaded \S+: serving rule set \S+ version " + re.escape(version) + " "
                    self.assertTrue(server.wait_for_log(pattern), server.read_log()[-3000:])
                    time.sleep(0.4)  # calls on the new rules before the next reload
            self.assertEqual(calls.failures, [], "calls failed during the reloads")
            self.assertGreater(len(calls.versions), 20, "too few calls to say anything")
            # Every call saw one rule set, and the cards moved from the old version to the new.
            self.assertTrue(all(len(v) == 1 for v in calls.versions), calls.versions[:5])
            seen = [next(iter(v)) for v in calls.versions]
            self.assertEqual(seen[0], self.original_version)
            self.assertEqual(seen[-1], versions[-1])
            self.assertEqual(served_version(server), versions[-1])

            status, _, body = server.request("POST", SERVICE, e2e.fixture_text("patient-view-severe.json"), JSON)
            self.assertEqual(status, 200)
            self.assertEqual(card_versions(body), {versions[-1]})
            card = json.loads(body)["cards"][0]["uuid"]
            feedback = {"feedback": [{"card": card, "outcome": "overridden",
                                      "outcomeTimestamp": "2026-03-10T09:01:00Z"}]}
            status, _, body = server.request("POST", SERVICE + "/feedback", json.dumps(feedback), JSON)
            self.assertEqual(status, 200, body)
        finally:
            server.stop_expecting_clean_exit()
        with sqlite3.connect(database) as db:
            recorded = db.execute("SELECT rule_set_version FROM feedback WHERE card_uuid = ?", (card,)).fetchall()
        self.assertEqual(recorded, [(versions[-1],)])

    def test_invalid_files_keep_the_loaded_rules(self):
        server = Server("--rules", self.rules_path)
        try:
            with open(self.rules_path, "w", encoding="utf-8") as f:
                f.write(json.dumps(self.rules)[:-40])  # cut short: broken JSON
            server.process.send_signal(signal.SIGHUP)
            self.assertTrue(server.wait_for_log(r"warn.*SIGHUP: .*rules\.json / ?: not valid JSON"),
                            server.read_log())
            self.assertRegex(server.read_log(), r"still serving rule set magnesium-cds-rules version "
                             + self.original_version.replace(".", r"\."))
            self.assertEqual(served_version(server), self.original_version)
            self.assertTrue(e2e.severe_call_ok(server))

            broken = bundled_rules()
            broken["version"] = "9.9.9"
            del broken["rules"]["hypomagnesemia"]
            write_atomically(self.rules_path, json.dumps(broken))
            server.process.send_signal(signal.SIGHUP)
            self.assertTrue(server.wait_for_log(r"warn.*SIGHUP: \S*rules\.json /rules\S*: .*hypomagnesemia"),
                            server.read_log())
            self.assertEqual(served_version(server), self.original_version)
            self.assertTrue(e2e.severe_call_ok(server))
            self.assertNotIn("9.9.9", server.request("GET", "/readyz")[2].decode())
        finally:
            server.stop_expecting_clean_exit()

    def test_rules_watch_reloads_a_changed_file_without_a_signal(self):
        server = Server("--rules", self.rules_path, "--rules-watch", "50ms")
        try:
            self.assertEqual(served_version(server), self.original_version)
            self.write_version("watched-1")
            deadline = time.monotonic() + 10
            while served_version(server) != "watched-1" and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(served_version(server), "watched-1", server.read_log())
            self.assertTrue(server.wait_for_log(r"rules file changed: reloaded"), server.read_log())
            status, _, body = server.request("GET", "/cds-services")
            self.assertEqual(status, 200)
            self.assertTrue(e2e.severe_call_ok(server))
        finally:
            server.stop_expecting_clean_exit()

    def test_a_start_that_cannot_listen_ends_cleanly_while_watching(self):
        # The watch polls on its own thread from before the listening socket is opened. A
        # start that fails there ends with the error and status 2, that thread stopped: under
        # the sanitizers, with no report. (The window in which a poll runs as the reloader
        # goes is too short for this to catch reliably.)
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        try:
            for _ in range(3):
                result = subprocess.run(
                    [e2e.BINARY, "serve", "--listen", "127.0.0.1:%d" % port, "--rules",
                     self.rules_path, "--rules-watch", "1ms"],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 2, result.stderr)  # a start-up error
                self.assertIn("cannot listen on 127.0.0.1:%d" % port, result.stderr)
                self.assertNotIn("Sanitizer", result.stderr)
        finally:
            taken.close()


if __name__ == "__main__":
    e2e.main()
