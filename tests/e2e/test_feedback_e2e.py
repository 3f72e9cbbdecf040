#!/usr/bin/env python3
"""End-to-end test of the feedback store: the real `magnesium-cds serve --feedback-db FILE` on a
free loopback port, fed the feedback the CDS Hooks sandbox sends, stopped with SIGTERM; the
database is then read with Python's own sqlite3 module (an independent reader), the server is
restarted on the same file, and `magnesium-cds feedback-report` counts what was stored.

Also: 503 with an OperationOutcome while another process holds the database's write lock, and
meanwhile /healthz answered at once (store calls run off the server's I/O threads); start-up
refusal for an unopenable or read-only --feedback-db; no clinician comment in the database or
the log. Python standard library (and the `chattr` tool when run as root).

The card ledger: hook calls record the cards returned, feedback is joined to them by
`feedback-report --by rule` (json, csv, text), feedback for unknown cards is counted apart, and
a full ledger queue drops and counts without delaying hook calls.

Usage: test_feedback_e2e.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import argparse
import contextlib
import csv
import http.client
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BINARY = None
FIXTURES = None
JSON = {"Content-Type": "application/json"}
SERVICE = "magnesium-order-sign"
COMMENT = "Patient Jane Roe refused, see note"


class Server:
    """A running `magnesium-cds serve --listen 127.0.0.1:0 --feedback-db DB`."""

    def __init__(self, db, log_path, extra=()):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [BINARY, "serve", "--listen", "127.0.0.1:0", "--threads", "2", "--feedback-db", db, *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("server did not start; stdout: %r; log: %s" % (line, read(log_path)))
        self.port = int(match.group(1))

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def feedback(self, entries):
        return self.request("POST", "/cds-services/%s/feedback" % SERVICE,
                            json.dumps({"feedback": entries}), JSON)

    def stop(self):
        try:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()
            self.log.close()


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def run_binary(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60)


# What the sandbox sends (fixtures/cds-hooks-sandbox/README.md).
ACCEPTED = {"card": "6f1c2a9e-0d3b-4a51-9d0e-1b2c3d4e5f60", "outcome": "accepted",
            "acceptedSuggestions": [{"id": "8a7b6c5d-4e3f-4a2b-9c1d-0e1f2a3b4c5d"}],
            "outcomeTimestamp": "2026-03-10T09:05:00Z"}
OVERRIDDEN = {"card": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "outcome": "overridden",
              "overrideReason": {"reason": {"code": "patient-refused", "system": "http://example.org/cds-override"}},
              "outcomeTimestamp": "2026-03-10T09:06:00Z"}
COMMENTED = {"card": "1c2d3e4f-5061-4728-93a4-b5c6d7e8f9a0", "outcome": "overridden",
             "overrideReason": {"reason": {"code": "patient-refused", "system": "http://example.org/cds-override",
                                           "display": "Patient refused"},
                                "userComment": COMMENT},
             "outcomeTimestamp": "2026-03-10T09:07:00Z"}


# Holds the write lock of the database argv[1] for argv[2] seconds, in its own process.
LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


@contextlib.contextmanager
def read_only(path):
    """Makes `path` unwritable to the service. chmod does not stop root, so as root the file
    is made immutable (chattr +i: refused even to root, EPERM); otherwise chmod 0444."""
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        raise AssertionError("running as root without chattr: cannot make a file read-only to root")
    result = subprocess.run([chattr, "+i", path], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError("chattr +i failed (file system or capability): " + result.stderr)
    try:
        with contextlib.suppress(OSError), open(path, "ab"):
            raise AssertionError("chattr +i did not make the file read-only to root")
        yield
    finally:
        subprocess.run([chattr, "-i", path], check=True)


class FeedbackStoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="magnesium-cds-feedback-e2e-")
        self.db = os.path.join(self.dir.name, "feedback.sqlite3")
        self.log = os.path.join(self.dir.name, "server.log")

    def tearDown(self):
        self.dir.cleanup()

    def rows(self, sql):
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql).fetchall()

    def test_stored_durably_survives_restart_and_is_reported(self):
        server = Server(self.db, self.log)
        try:
            status, body = server.request("GET", "/readyz")
            self.assertEqual(status, 200)
            rule_set = json.loads(body)["ruleSet"]
            status, body = server.feedback([ACCEPTED])
            self.assertEqual((status, body), (200, b""))
            status, body = server.feedback([OVERRIDDEN, COMMENTED])
            self.assertEqual((status, body), (200, b""))
            # Invalid feedback is refused before the store and leaves no row.
            status, _ = server.feedback([{"card": "x", "outcome": "accepted", "outcomeTimestamp": "t"}])
            self.assertEqual(status, 400)
        finally:
            self.assertEqual(server.stop(), 0)

        rows = self.rows("SELECT service_id, card_uuid, outcome, outcome_timestamp, override_reason_system, "
                         "override_reason_code, override_reason_display, has_user_comment, rule_set_id, "
                         "rule_set_version, received_at FROM feedback ORDER BY id")
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0][:10], (SERVICE, ACCEPTED["card"], "accepted", "2026-03-10T09:05:00Z", None, None, None,
                                        0, rule_set["id"], rule_set["version"]))
        self.assertEqual(rows[1][:10], (SERVICE, OVERRIDDEN["card"], "overridden", "2026-03-10T09:06:00Z",
                                        "http://example.org/cds-override", "patient-refused", None, 0,
                                        rule_set["id"], rule_set["version"]))
        self.assertEqual(rows[2][6:8], ("Patient refused", 1))
        for row in rows:
            self.assertRegex(row[10], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(self.rows("SELECT f.card_uuid, s.suggestion_uuid FROM feedback_accepted_suggestion s "
                                   "JOIN feedback f ON f.id = s.feedback_id"),
                         [(ACCEPTED["card"], ACCEPTED["acceptedSuggestions"][0]["id"])])
        self.assertEqual(self.rows("SELECT version FROM schema_version ORDER BY version"), [(1,), (2,), (3,)])
        for path in (self.db, self.db + "-wal"):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.assertNotIn(b"Jane Roe", f.read())
        self.assertNotIn("Jane Roe", read(self.log))

        # Restarted on the same file: the schema is not applied twice, old rows stay.
        server = Server(self.db, self.log)
        try:
            status, _ = server.feedback([OVERRIDDEN])
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertEqual(self.rows("SELECT count(*) FROM feedback"), [(4,)])
        self.assertEqual(self.rows("SELECT version FROM schema_version ORDER BY version"), [(1,), (2,), (3,)])

        report = run_binary("feedback-report", "--feedback-db", self.db)
        self.assertEqual(report.returncode, 0, report.stderr)
        summary = json.loads(report.stdout)
        self.assertEqual(summary["totalEntries"], 4)
        self.assertIsNone(summary["since"])
        counts = {(c["serviceId"], c["outcome"], c.get("overrideReason", {}).get("code")): c
                  for c in summary["counts"]}
        self.assertEqual(counts[(SERVICE, "accepted", None)]["entries"], 1)
        self.assertEqual(counts[(SERVICE, "accepted", None)]["acceptedSuggestions"], 1)
        refused = counts[(SERVICE, "overridden", "patient-refused")]
        self.assertEqual((refused["entries"], refused["withUserComment"]), (3, 1))
        self.assertEqual(refused["ruleSet"], rule_set)

        later = run_binary("feedback-report", "--feedback-db", self.db, "--since", "2999-01-01")
        self.assertEqual(later.returncode, 0, later.stderr)
        self.assertEqual(json.loads(later.stdout)["totalEntries"], 0)
        self.assertEqual(json.loads(later.stdout)["since"], "2999-01-01T00:00:00.000Z")

        bad_since = run_binary("feedback-report", "--feedback-db", self.db, "--since", "yesterday")
        self.assertEqual(bad_since.returncode, 2)
        self.assertIn("--since", bad_since.stderr)

    def test_locked_database_gives_503_and_nothing_half_written(self):
        server = Server(self.db, self.log)
        try:
            holder = sqlite3.connect(self.db, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                status, body = server.feedback([ACCEPTED, OVERRIDDEN])
                holder.execute("ROLLBACK")
            finally:
                holder.close()
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body)["resourceType"], "OperationOutcome")
            status, _ = server.feedback([ACCEPTED, OVERRIDDEN])
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertEqual(self.rows("SELECT count(*) FROM feedback"), [(2,)])
        log = read(self.log)
        self.assertIn("were not stored", log)
        # The error line says how many entries failed, never which cards.
        self.assertNotIn(ACCEPTED["card"], log)

    def test_locked_database_never_holds_the_server(self):
        """Another process holds the write lock for 6 s while 8 feedback calls arrive on a
        2-thread server: /healthz keeps answering at once, every feedback call is answered
        within the bounded wait (503 with Retry-After, or 200 once stored), and every 200 is a
        stored row."""
        server = Server(self.db, self.log)
        holder = None
        try:
            # A separate process, as a report or an analytics job would be.
            holder = subprocess.Popen(
                [sys.executable, "-c", LOCK_HOLDER, self.db, "6"], stdout=subprocess.PIPE, text=True)
            self.assertEqual(holder.stdout.readline().strip(), "locked")
            lock_taken = time.monotonic()

            answers = []
            answers_lock = threading.Lock()

            def send(i):
                entry = dict(OVERRIDDEN, card="card-%d" % i)
                started = time.monotonic()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                try:
                    conn.request("POST", "/cds-services/%s/feedback" % SERVICE,
                                 json.dumps({"feedback": [entry]}), JSON)
                    response = conn.getresponse()
                    answer = (response.status, response.getheader("Retry-After"), response.read(),
                              time.monotonic() - started, entry["card"])
                finally:
                    conn.close()
                with answers_lock:
                    answers.append(answer)

            senders = [threading.Thread(target=send, args=(i,)) for i in range(8)]
            for sender in senders:
                sender.start()
            health_times = []
            while time.monotonic() - lock_taken < 4.5:
                started = time.monotonic()
                status, _ = server.request("GET", "/healthz")
                health_times.append(time.monotonic() - started)
                self.assertEqual(status, 200)
                time.sleep(0.2)
            self.assertLess(max(health_times), 1.0, health_times)
            self.assertIsNone(holder.poll(), "the lock is held throughout")
            for sender in senders:
                sender.join(timeout=30)
            self.assertEqual(len(answers), 8)
            for status, retry_after, body, seconds, _ in answers:
                # The default --feedback-max-wait is 1 s; a call never waits for the lock's 6 s.
                self.assertLess(seconds, 3.0)
                self.assertIn(status, (200, 503))
                if status == 503:
                    self.assertEqual(retry_after, "1")
                    self.assertEqual(json.loads(body)["resourceType"], "OperationOutcome")
            self.assertIn(503, [a[0] for a in answers])

            status, body = server.request("GET", "/readyz")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["feedbackStore"]["status"], "busy")

            self.assertEqual(holder.wait(timeout=30), 0)
            status, _ = server.feedback([dict(OVERRIDDEN, card="after-release")])
            self.assertEqual(status, 200)
            status, body = server.request("GET", "/readyz")
            self.assertEqual(json.loads(body)["feedbackStore"], {"status": "ok", "queued": 0})
        finally:
            if holder is not None and holder.poll() is None:
                holder.kill()
                holder.wait()
            self.assertEqual(server.stop(), 0)
        # Every acknowledged call is stored, and nothing else is.
        acknowledged = sorted([a[4] for a in answers if a[0] == 200] + ["after-release"])
        self.assertEqual(sorted(row[0] for row in self.rows("SELECT card_uuid FROM feedback")), acknowledged)

    def test_read_only_database_refuses_to_start(self):
        # A database the service created, then made read-only in a way root respects too.
        server = Server(self.db, self.log)
        try:
            self.assertEqual(server.request("GET", "/readyz")[0], 200)
        finally:
            self.assertEqual(server.stop(), 0)
        with read_only(self.db):
            try:
                result = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--feedback-db", self.db],
                                        capture_output=True, text=True, timeout=15)
            except subprocess.TimeoutExpired as running:
                self.fail("the service started on a read-only database: %r" % running.stdout)
            stdout, stderr = result.stdout, result.stderr
            self.assertNotIn("listening", stdout)
            self.assertEqual(result.returncode, 1)
            self.assertIn("refusing to start", stderr)
            self.assertIn(self.db, stderr)
            self.assertIn("read-only", stderr)
            # A report only reads: it still works on the read-only file.
            report = run_binary("feedback-report", "--feedback-db", self.db)
            self.assertEqual(report.returncode, 0, report.stderr)
            self.assertEqual(json.loads(report.stdout)["totalEntries"], 0)

    def test_unopenable_database_refuses_to_start(self):
        missing = os.path.join(self.dir.name, "no-such-dir", "feedback.sqlite3")
        result = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--feedback-db", missing],
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn("listening", result.stdout)
        self.assertIn(missing, result.stderr)

        absent = run_binary("feedback-report", "--feedback-db", self.db)
        self.assertNotEqual(absent.returncode, 0)
        self.assertIn("does not exist", absent.stderr)
        self.assertFalse(os.path.exists(self.db))

    def test_help_names_the_flag(self):
        result = run_binary("--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("--feedback-db", result.stdout)
        self.assertIn("feedback-report", result.stdout)


# A patient-view call whose evaluation fires (the scenario's own `now`).
HOOK_SCENARIO = "fires_coexisting_hypocalcemia_ionized"
HOOK_NOW = "2026-03-10T09:00:00Z"
HOOK_SERVICE = "magnesium-patient-view"


def hook_request():
    with open(os.path.join(FIXTURES, "scenarios", HOOK_SCENARIO, "request.json"), "rb") as f:
        return f.read()


def card_entry(card, outcome, **extra):
    return dict({"card": card, "outcome": outcome, "outcomeTimestamp": "2026-03-10T09:10:00Z"}, **extra)


class CardLedgerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="magnesium-cds-ledger-e2e-")
        self.db = os.path.join(self.dir.name, "feedback.sqlite3")
        self.log = os.path.join(self.dir.name, "server.log")

    def tearDown(self):
        self.dir.cleanup()

    def rows(self, sql):
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql).fetchall()

    def call_hook(self, server):
        status, body = server.request("POST", "/cds-services/" + HOOK_SERVICE, hook_request(), JSON)
        self.assertEqual(status, 200, body)
        return json.loads(body)["cards"]

    def report(self, *args):
        result = run_binary("feedback-report", "--feedback-db", self.db, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_feedback_is_reported_per_rule_in_each_format(self):
        server = Server(self.db, self.log, ["--now", HOOK_NOW])
        try:
            cards = [card for _ in range(3) for card in self.call_hook(server)]
            self.assertGreaterEqual(len(cards), 3)
            taken = next(card for card in cards if card.get("suggestions"))
            refused = next(card for card in cards if card is not taken)
            rule = taken["source"]["topic"]["code"]
            self.assertEqual(refused["source"]["topic"]["code"], rule, "one rule fired in each call")
            feedback = [card_entry(taken["uuid"], "accepted", acceptedSuggestions=[{"id": taken["suggestions"][0]["uuid"]}]),
                        card_entry(refused["uuid"], "overridden",
                                   overrideReason={"reason": {"system": "http://example.org/cds-override",
                                                              "code": "patient-refused"}}),
                        card_entry("7d1f0c52-5d0e-4c3a-9a53-0a5d8c2f1e44", "overridden")]
            status, _ = server.request("POST", "/cds-services/%s/feedback" % HOOK_SERVICE,
                                       json.dumps({"feedback": feedback}), JSON)
            self.assertEqual(status, 200)
            status, body = server.request("GET", "/readyz")
            self.assertEqual(json.loads(body)["cardLedger"], {"queued": 0, "dropped": 0})
            rule_set = json.loads(body)["ruleSet"]
        finally:
            self.assertEqual(server.stop(), 0)

        ledger = self.rows("SELECT card_uuid, service_id, hook, rule_id, rule_set_version, indicator, client_iss, "
                           "patient_key, evidence_key FROM card_ledger")
        self.assertEqual(sorted(row[0] for row in ledger), sorted(card["uuid"] for card in cards))
        by_uuid = {row[0]: row for row in ledger}
        self.assertEqual(by_uuid[taken["uuid"]][1:7], (HOOK_SERVICE, "patient-view", rule, rule_set["version"],
                                                       taken["indicator"], None))
        # Snoozing's keyed hashes (HMAC-SHA-256, hex) of the patient and of the card's evidence.
        self.assertRegex(by_uuid[taken["uuid"]][7], r"^[0-9a-f]{64}$")
        self.assertRegex(by_uuid[taken["uuid"]][8], r"^[0-9a-f]{64}$")
        self.assertEqual(sorted(r[0] for r in self.rows("SELECT suggestion_uuid FROM card_ledger_suggestion "
                                                        "WHERE card_uuid = '%s'" % taken["uuid"])),
                         sorted(s["uuid"] for s in taken["suggestions"]))
        # The unknown card is accepted and flagged; the others were found in the ledger.
        self.assertEqual(sorted(self.rows("SELECT card_in_ledger FROM feedback")), [(0,), (1,), (1,)])
        # No patient identifier and no clinical text in the ledger.
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            dump = "\n".join(db.iterdump())
        self.assertNotIn("pat-21051", dump)
        self.assertNotIn(taken["summary"], dump)

        cards_of_rule = sum(1 for card in cards if card["source"]["topic"]["code"] == rule)
        report = json.loads(self.report("--by", "rule", "--format", "json"))
        self.assertEqual(report["by"], "rule")
        self.assertEqual(report["totalEntries"], 3)
        self.assertEqual(report["unknownCards"], {"entries": 1, "accepted": 0, "overridden": 1})
        row = next(r for r in report["rules"] if r["ruleId"] == rule)
        self.assertEqual(row["ruleSet"], rule_set)
        self.assertEqual((row["cardsIssued"], row["accepted"], row["overridden"], row["suggestionsTaken"]),
                         (cards_of_rule, 1, 1, 1))
        self.assertEqual(row["acceptanceRate"], 0.5)
        self.assertEqual(row["topOverrideReasons"], [{"system": "http://example.org/cds-override",
                                                      "code": "patient-refused", "entries": 1}])

        table = list(csv.DictReader(io.StringIO(self.report("--by", "rule", "--format", "csv"), newline="")))
        csv_row = next(r for r in table if r["kind"] == "rule" and r["rule_id"] == rule)
        self.assertEqual((csv_row["cards_issued"], csv_row["accepted"], csv_row["overridden"],
                          csv_row["acceptance_rate"], csv_row["suggestions_taken"]),
                         (str(cards_of_rule), "1", "1", "0.500", "1"))
        self.assertEqual(csv_row["top_override_reasons"], "http://example.org/cds-override|patient-refused=1")
        unknown = next(r for r in table if r["kind"] == "unknown-card")
        self.assertEqual((unknown["accepted"], unknown["overridden"]), ("0", "1"))

        text = self.report("--by", "rule", "--format", "text")
        self.assertIn("feedback entries: 3 (1 for cards not in the ledger: 0 accepted, 1 overridden)", text)
        self.assertRegex(text, r"cards issued +%d\n" % cards_of_rule)
        self.assertRegex(text, r"acceptance rate +0\.500\n")

        # The default report is as it was.
        default = json.loads(self.report())
        self.assertEqual(default["totalEntries"], 3)
        self.assertNotIn("rules", default)
        bad = run_binary("feedback-report", "--feedback-db", self.db, "--format", "csv")
        self.assertEqual(bad.returncode, 2)

    def test_a_full_ledger_queue_drops_and_counts_without_delaying_hook_calls(self):
        server = Server(self.db, self.log, ["--now", HOOK_NOW, "--ledger-queue", "1", "--feedback-max-wait", "20s"])
        holder = None
        try:
            started = time.monotonic()
            self.call_hook(server)
            unlocked_call = time.monotonic() - started
            # Another process holds the write lock: the writer waits on the first entry.
            holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, self.db, "8"], stdout=subprocess.PIPE,
                                      text=True)
            self.assertEqual(holder.stdout.readline().strip(), "locked")
            lock_taken = time.monotonic()
            durations = []
            for _ in range(10):
                started = time.monotonic()
                self.call_hook(server)
                durations.append(time.monotonic() - started)
            self.assertLess(time.monotonic() - lock_taken, 6.0, "the calls finished while the lock was held")
            self.assertIsNone(holder.poll())
            self.assertLess(max(durations), max(0.5, 10 * unlocked_call), durations)
            status, body = server.request("GET", "/readyz")
            ledger = json.loads(body)["cardLedger"]
            # One entry held by the writer, one queued, the other eight dropped.
            self.assertEqual(ledger["queued"], 1)
            self.assertGreaterEqual(ledger["dropped"], 8)
            self.assertEqual(holder.wait(timeout=30), 0)
        finally:
            if holder is not None:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait()
                holder.stdout.close()
            self.assertEqual(server.stop(), 0)
        self.assertIn("hook calls' cards dropped so far", read(self.log))
        calls = self.rows("SELECT count(DISTINCT issued_at) FROM card_ledger")[0][0]
        self.assertGreaterEqual(calls, 2)
        self.assertLessEqual(calls, 3)


def main():
    global BINARY, FIXTURES
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--fixtures", required=True)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    FIXTURES = os.path.abspath(args.fixtures)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
