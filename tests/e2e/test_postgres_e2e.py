#!/usr/bin/env python3
"""Replicas sharing one PostgreSQL feedback store, end to end: a real PostgreSQL server
(tests/postgres/pg_cluster.py: Debian's postgresql, initdb into a temporary directory, a free
loopback port, stopped and removed afterwards) and two `magnesium-cds serve --feedback-db
postgresql://...` processes, one given the password by PGPASSWORD, the other by
--feedback-db-password-file.

- Hook calls to either replica are recorded in the one card ledger; feedback posted to each is
  in the one store, and `feedback-report` (both forms) agrees whichever replica's view is asked.
- kill -9 of a replica right after its 200s loses none of the acknowledged feedback.
- The server stopped: feedback is answered 503 with Retry-After, hook calls still get cards;
  the server started again: feedback is stored again, without restarting the service.
- The password is in neither log nor --print-config.

Exits 77 (skipped) when PostgreSQL's server binaries are not installed.

Usage: test_postgres_e2e.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import e2e_support as e2e

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postgres"))
import pg_cluster  # noqa: E402

SERVICE = "magnesium-patient-view"
CLUSTER = None


def feedback_entry(card, outcome):
    entry = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-03-10T09:05:00Z"}
    if outcome == "accepted":
        entry["acceptedSuggestions"] = [{"id": str(uuid.uuid4())}]
    else:
        entry["overrideReason"] = {"reason": {"system": "http://example.org/cds-override",
                                              "code": "patient-refused"}}
    return entry


def post_feedback(server, entries):
    status, headers, _ = server.request("POST", "/cds-services/%s/feedback" % SERVICE,
                                        json.dumps({"feedback": entries}), e2e.JSON)
    return status, headers


def hook_cards(server):
    status, _, body = server.request("POST", "/cds-services/%s" % SERVICE,
                                     e2e.fixture_text("patient-view-severe.json"), e2e.JSON)
    assert status == 200, status
    return json.loads(body)["cards"]


def eventually(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class ReplicasSharingPostgres(unittest.TestCase):
    def setUp(self):
        # Each test case on an empty database of its own.
        name = "cds_e2e_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", CLUSTER.url, "-qc", "CREATE DATABASE " + name], check=True,
                       env=CLUSTER.environment())
        self.url = CLUSTER.url.rsplit("/", 1)[0] + "/" + name
        self.password_file = tempfile.NamedTemporaryFile("w", suffix=".password", delete=False)
        self.password_file.write(CLUSTER.password + "\n")
        self.password_file.close()
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.cleanup()
        os.unlink(self.password_file.name)

    def start_replica(self, by_file):
        """A replica given the password by file (and no PGPASSWORD) or by PGPASSWORD."""
        saved = os.environ.pop("PGPASSWORD", None)
        try:
            if not by_file:
                os.environ["PGPASSWORD"] = CLUSTER.password
            extra = ["--feedback-db", self.url, "--feedback-max-wait", "2s"]
            if by_file:
                extra += ["--feedback-db-password-file", self.password_file.name]
            server = e2e.Server(*extra)
        finally:
            os.environ.pop("PGPASSWORD", None)
            if saved is not None:
                os.environ["PGPASSWORD"] = saved
        self.servers.append(server)
        return server

    def report(self, *extra):
        done = subprocess.run([e2e.BINARY, "feedback-report", "--feedback-db", self.url,
                               "--feedback-db-password-file", self.password_file.name, *extra],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout)

    def test_two_replicas_share_the_store_and_their_reports_agree(self):
        first = self.start_replica(by_file=True)
        second = self.start_replica(by_file=False)
        cards_first = hook_cards(first)
        cards_second = hook_cards(second)
        self.assertTrue(cards_first and cards_second)
        # The ledger is written off the request path: wait for both calls' cards.
        issued = len(cards_first) + len(cards_second)
        self.assertTrue(eventually(lambda: sum(r["cardsIssued"] for r in self.report("--by", "rule")["rules"])
                                   == issued))

        self.assertEqual(post_feedback(first, [feedback_entry(cards_second[0]["uuid"], "accepted")])[0], 200)
        self.assertEqual(post_feedback(second, [feedback_entry(cards_first[0]["uuid"], "overridden"),
                                                feedback_entry("never-issued-card", "overridden")])[0], 200)

        summary = self.report()
        self.assertEqual(summary["totalEntries"], 3)
        by_rule = self.report("--by", "rule")
        self.assertEqual(by_rule["totalEntries"], 3)
        self.assertEqual(by_rule["unknownCards"]["entries"], 1)
        self.assertEqual(sum(r["accepted"] for r in by_rule["rules"]), 1)
        self.assertEqual(sum(r["overridden"] for r in by_rule["rules"]), 1)
        # The same report with the password from the environment instead of the file.
        from_environment = subprocess.run([e2e.BINARY, "feedback-report", "--feedback-db", self.url, "--by", "rule"],
                                          capture_output=True, text=True, env=CLUSTER.environment(), timeout=120)
        self.assertEqual(from_environment.returncode, 0, from_environment.stderr)
        self.assertEqual(json.loads(from_environment.stdout), by_rule)

        for server in self.servers:
            self.assertEqual(server.stop(), 0)
            log = server.read_log()
            self.assertNotIn(CLUSTER.password, log)
            self.assertIn("feedback is stored in PostgreSQL", log)

    def test_kill_9_after_200_loses_no_acknowledged_feedback(self):
        replica = self.start_replica(by_file=True)
        acknowledged = 0
        for i in range(40):
            status, _ = post_feedback(replica, [feedback_entry("card-%d" % i, "accepted"),
                                                feedback_entry("card-%d-o" % i, "overridden")])
            self.assertEqual(status, 200)
            acknowledged += 2
        os.kill(replica.pid, signal.SIGKILL)
        replica.process.wait(20)
        self.assertEqual(self.report()["totalEntries"], acknowledged)

    def test_store_down_gives_503_and_cards_then_recovers_without_restart(self):
        replica = self.start_replica(by_file=True)
        self.assertEqual(post_feedback(replica, [feedback_entry("before", "accepted")])[0], 200)
        CLUSTER.stop()
        try:
            status, headers = post_feedback(replica, [feedback_entry("while-down", "accepted")])
            self.assertEqual(status, 503)
            self.assertIn("Retry-After", headers)
            self.assertTrue(hook_cards(replica))
            status, _, body = replica.request("GET", "/readyz")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["feedbackStore"]["status"], "failing")
        finally:
            CLUSTER.start()
        self.assertEqual(post_feedback(replica, [feedback_entry("after", "accepted")])[0], 200)
        self.assertTrue(hook_cards(replica))
        self.assertEqual(replica.stop(), 0)
        self.assertEqual(self.report()["totalEntries"], 2)
        self.assertNotIn(CLUSTER.password, replica.read_log())

    def test_print_config_redacts_the_url_password(self):
        secret_url = self.url.replace("postgresql://postgres@",
                                      "postgresql://postgres:%s@" % CLUSTER.password)
        done = subprocess.run([e2e.BINARY, "serve", "--feedback-db", secret_url, "--print-config"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn(CLUSTER.password, done.stdout + done.stderr)
        self.assertIn("postgres:(redacted)@127.0.0.1", done.stdout)


def main():
    global CLUSTER
    try:
        cluster = pg_cluster.Cluster()
    except FileNotFoundError as e:
        print("SKIP: %s" % e, file=sys.stderr)
        sys.exit(pg_cluster.SKIP)
    with cluster:
        CLUSTER = cluster
        os.environ.pop("PGPASSWORD", None)
        try:
            e2e.main()
        except SystemExit as done:
            code = done.code
    sys.exit(code)


if __name__ == "__main__":
    main()
