#!/usr/bin/env python3
"""End-to-end test of snoozing (CLINICAL-BASIS.md §6) and of the rules' documentation pages
(§5 "source"), over real HTTP against the built `magnesium-cds serve`.

Snoozing: a card overridden through the feedback endpoint is not returned by the same call
again (feedback posted right after the response already counts); a newer magnesium result shows
it again; a critical card is never snoozed; `?explain=true` lists the snoozed card with the
override it follows; /metrics and `feedback-report --by rule` count it; two service processes
sharing one SQLite file agree (one HMAC key kept in the store) and see each other's overrides;
the database holds no patient id.

Rule pages: GET /rules/{rule-id} is HTML for every rule of the bundled rule set, 404 with an
OperationOutcome for an unknown id; every card's source.url is <listen address>/rules/<id>, or
under --public-url when given.

Usage: test_snooze_e2e.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import copy
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import e2e_support
from e2e_support import JSON, Server

PATIENT_VIEW = "/cds-services/magnesium-patient-view"


def scenario_request(name):
    with open(os.path.join(e2e_support.FIXTURES, "scenarios", name, "request.json"), encoding="utf-8") as f:
        return json.load(f)


def with_newer_magnesium(request, suffix):
    """The request with one more magnesium result, an hour before the fixtures' now: newer
    evidence for the same finding."""
    changed = copy.deepcopy(request)
    bundle = changed["prefetch"]["magnesium"]
    newer = copy.deepcopy(bundle["entry"][0]["resource"])
    newer["id"] = newer["id"] + "-" + suffix
    newer["effectiveDateTime"] = "2026-03-10T08:00:00Z"
    newer["issued"] = "2026-03-10T08:30:00Z"
    newer["meta"] = {"lastUpdated": "2026-03-10T08:30:00Z"}
    bundle["entry"].insert(0, {"fullUrl": "Observation/" + newer["id"], "resource": newer,
                               "search": {"mode": "match"}})
    bundle["total"] = len(bundle["entry"])
    return changed


class SnoozeServer(Server):
    def call(self, request, query=""):
        status, _, body = self.request("POST", PATIENT_VIEW + query, json.dumps(request), JSON)
        if status != 200:
            raise AssertionError("hook call answered %d: %s" % (status, body[:500]))
        return json.loads(body)

    def cards(self, request):
        return self.call(request)["cards"]

    def override(self, card):
        entry = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-03-10T09:01:00Z"}
        if card.get("overrideReasons"):
            entry["overrideReason"] = {"reason": card["overrideReasons"][0]}
        status, _, body = self.request("POST", PATIENT_VIEW + "/feedback", json.dumps({"feedback": [entry]}), JSON)
        if status != 200:
            raise AssertionError("feedback answered %d: %s" % (status, body[:500]))

    def metric(self, name, labels):
        _, _, body = self.request("GET", "/metrics")
        prefix = name + "{" + labels + "} "
        for line in body.decode().splitlines():
            if line.startswith(prefix):
                return int(line[len(prefix):])
        return 0


def by_rule(cards, rule_id):
    return [c for c in cards if c["source"]["topic"]["code"] == rule_id]


class Snoozing(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="magnesium-cds-snooze-")
        self.db = os.path.join(self.dir, "feedback.sqlite3")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.stop_expecting_clean_exit(log_tail=4000)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self):
        server = SnoozeServer("--feedback-db", self.db, "--enable-explain")
        self.servers.append(server)
        return server

    def test_override_snoozes_the_same_card_until_newer_evidence(self):
        server = self.start()
        mild = scenario_request("fires_pv_mild_oral_oxide_400mg")
        first = by_rule(server.cards(mild), "hypomagnesemia")
        self.assertEqual(len(first), 1)
        self.assertEqual(first[0]["indicator"], "warning")
        # Sent right after the response: the card's ledger entry may still be queued.
        server.override(first[0])

        again = server.call(mild, "?explain=true")
        self.assertEqual(by_rule(again["cards"], "hypomagnesemia"), [])
        suppressed = again["explain"]["suppressed"]
        self.assertEqual(len(suppressed), 1)
        self.assertEqual(suppressed[0]["card"]["summary"], first[0]["summary"])
        self.assertEqual(suppressed[0]["override"]["card"], first[0]["uuid"])
        self.assertEqual(suppressed[0]["override"]["reason"]["code"], first[0]["overrideReasons"][0]["code"])
        self.assertIn("snoozedUntil", suppressed[0])
        self.assertEqual(server.metric("magnesium_cds_cards_snoozed_total",
                                       'rule="hypomagnesemia",indicator="warning"'), 1)

        # A newer magnesium result is new evidence: the card shows again, and is snoozable again.
        newer = with_newer_magnesium(mild, "newer")
        rearmed = by_rule(server.cards(newer), "hypomagnesemia")
        self.assertEqual(len(rearmed), 1)
        self.assertEqual(rearmed[0]["indicator"], "warning")
        server.override(rearmed[0])
        self.assertEqual(by_rule(server.cards(newer), "hypomagnesemia"), [])

        # Another patient with the same results is another patient.
        patient = mild["context"]["patientId"]
        other = json.loads(json.dumps(mild).replace(patient, patient + "-other"))
        self.assertEqual(len(by_rule(server.cards(other), "hypomagnesemia")), 1)

        # The ledger is written off the request path: the last snoozed card may still be on its way.
        deadline = time.monotonic() + 10
        while True:
            report = subprocess.run([e2e_support.BINARY, "feedback-report", "--feedback-db", self.db,
                                     "--by", "rule", "--format", "json"],
                                    capture_output=True, text=True, timeout=60, check=True)
            rows = [r for r in json.loads(report.stdout)["rules"] if r["ruleId"] == "hypomagnesemia"]
            if sum(r["cardsSuppressed"] for r in rows) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(sum(r["cardsSuppressed"] for r in rows), 2)
        self.assertEqual(sum(r["overridden"] for r in rows), 2)

    def test_critical_cards_are_never_snoozed(self):
        server = self.start()
        severe = scenario_request("fires_pv_severe_iv_2g")
        first = [c for c in server.cards(severe) if c["indicator"] == "critical"]
        self.assertEqual(len(first), 1)
        server.override(first[0])
        again = [c for c in server.cards(severe) if c["indicator"] == "critical"]
        self.assertEqual(len(again), 1)
        self.assertEqual(again[0]["summary"], first[0]["summary"])

    def test_two_processes_sharing_one_database_agree(self):
        first_server = self.start()
        second_server = self.start()
        mild = scenario_request("fires_pv_mild_oral_oxide_400mg")
        card = by_rule(first_server.cards(mild), "hypomagnesemia")[0]
        first_server.override(card)
        self.assertEqual(by_rule(second_server.cards(mild), "hypomagnesemia"), [])

        stale = scenario_request("fires_stale_low_89_days")
        info = [c for c in second_server.cards(stale) if c["indicator"] == "info"]
        self.assertTrue(info)
        second_server.override(info[0])
        shown = [c["summary"] for c in first_server.cards(stale)]
        self.assertNotIn(info[0]["summary"], shown)

        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM shared_secret").fetchone()[0], 1)
            keys = db.execute("SELECT DISTINCT patient_key FROM card_ledger").fetchall()
            dump = "\n".join(db.iterdump())
        self.assertEqual(len(keys), 2)
        self.assertTrue(all(len(k[0]) == 64 for k in keys))
        for patient in (mild["context"]["patientId"], stale["context"]["patientId"]):
            self.assertNotIn(patient, dump)

    def test_a_configured_secret_file_is_used_and_never_shown(self):
        secret_file = os.path.join(self.dir, "snooze.key")
        secret = "a-configured-secret-of-more-than-32-bytes"
        with open(secret_file, "w", encoding="ascii") as f:
            f.write(secret + "\n")
        server = SnoozeServer("--feedback-db", self.db, "--snooze-secret-file", secret_file)
        self.servers.append(server)
        mild = scenario_request("fires_pv_mild_oral_oxide_400mg")
        server.override(by_rule(server.cards(mild), "hypomagnesemia")[0])
        self.assertEqual(by_rule(server.cards(mild), "hypomagnesemia"), [])
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM shared_secret").fetchone()[0], 0)
        printed = subprocess.run([e2e_support.BINARY, "serve", "--feedback-db", self.db,
                                  "--snooze-secret-file", secret_file, "--print-config"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
        self.assertEqual(json.loads(printed)["snooze-secret-file"]["value"], secret_file)
        self.assertNotIn(secret, printed + server.read_log())

        short_file = os.path.join(self.dir, "short.key")
        with open(short_file, "w", encoding="ascii") as f:
            f.write("too short")
        refused = subprocess.run([e2e_support.BINARY, "serve", "--listen", "127.0.0.1:0", "--feedback-db",
                                  self.db, "--snooze-secret-file", short_file],
                                 capture_output=True, text=True, timeout=60)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("at least 32 bytes", refused.stderr)
        self.assertNotIn("too short", refused.stderr)


def rule_ids():
    with open(os.path.join(e2e_support.REPO, "rules", "config", "magnesium-rules.json"), encoding="utf-8") as f:
        return sorted(json.load(f)["rules"])


class RulePages(unittest.TestCase):
    def test_every_rule_has_a_page_and_cards_link_to_it(self):
        server = Server()
        try:
            base = "http://127.0.0.1:%d" % server.port
            for rule_id in rule_ids():
                status, headers, body = server.request("GET", "/rules/" + rule_id)
                self.assertEqual(status, 200, rule_id)
                self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
                page = body.decode()
                self.assertIn("<code>%s</code>" % rule_id, page)
                self.assertIn("<h1>", page)
                self.assertNotIn("<script", page)
            status, headers, body = server.request("GET", "/rules/no-such-rule")
            self.assertEqual(status, 404)
            self.assertEqual(json.loads(body)["resourceType"], "OperationOutcome")
            status, _, _ = server.request("POST", "/rules/hypomagnesemia", "{}", JSON)
            self.assertEqual(status, 405)

            status, _, body = server.request("POST", PATIENT_VIEW,
                                             json.dumps(scenario_request("fires_pv_severe_iv_2g")), JSON)
            self.assertEqual(status, 200)
            cards = json.loads(body)["cards"]
            self.assertTrue(cards)
            for card in cards:
                url = card["source"]["url"]
                self.assertEqual(url, base + "/rules/" + card["source"]["topic"]["code"])
                self.assertNotIn("example.org", url)
                path = url[len(base):]
                self.assertEqual(server.request("GET", path)[0], 200, path)
        finally:
            server.stop_expecting_clean_exit()

    def test_public_url_is_the_base_of_the_links(self):
        server = Server("--public-url", "https://cds.hospital.test/magnesium/")
        try:
            status, _, body = server.request("POST", PATIENT_VIEW,
                                             json.dumps(scenario_request("fires_pv_severe_iv_2g")), JSON)
            self.assertEqual(status, 200)
            for card in json.loads(body)["cards"]:
                self.assertEqual(card["source"]["url"],
                                 "https://cds.hospital.test/magnesium/rules/" + card["source"]["topic"]["code"])
        finally:
            server.stop_expecting_clean_exit()


if __name__ == "__main__":
    e2e_support.main()
