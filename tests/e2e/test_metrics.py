#!/usr/bin/env python3
"""End-to-end test of `GET /metrics`: the real `magnesium-cds serve` answers a known mix of
calls, then its /metrics is parsed with Prometheus' own parser (Debian's
python3-prometheus-client, `text_string_to_metric_families`), an independent reader of the
text exposition format 0.0.4, and the counts are checked against the calls made.

Also: ids a client makes up never become label values ("unknown"); no patient data in the
exposition; `serve --disable-metrics` turns the endpoint off.

Usage: test_metrics.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import json
import os
import sys
import tempfile
import time
import unittest

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's python3-prometheus-client (pure Python) installs for the system interpreter;
    # an interpreter of another prefix (pyenv, a virtualenv) finds it there.
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

import e2e_support
from e2e_support import JSON, Server, fixture_text
from test_auth_e2e import AuthServer

ACCEPTED = {"card": "6f1c2a9e-0d3b-4a51-9d0e-1b2c3d4e5f60", "outcome": "accepted",
            "acceptedSuggestions": [{"id": "8a7b6c5d-4e3f-4a2b-9c1d-0e1f2a3b4c5d"}],
            "outcomeTimestamp": "2026-03-10T09:05:00Z"}
OVERRIDDEN = {"card": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "outcome": "overridden",
              "outcomeTimestamp": "2026-03-10T09:06:00Z"}


def scrape(server):
    status, headers, body = server.request("GET", "/metrics")
    if status != 200:
        raise AssertionError("GET /metrics answered %d" % status)
    families = {f.name: f for f in text_string_to_metric_families(body.decode("utf-8"))}
    return headers, body.decode("utf-8"), families


def scrape_when(server, ready, seconds=5.0):
    """Scrapes until `ready(families)` holds or `seconds` pass: the server counts a request after
    writing its response, so the last answer can reach the client before its count is recorded.
    Returns the last scrape and how many scrapes it took."""
    deadline = time.monotonic() + seconds
    scrapes = 0
    while True:
        headers, text, families = scrape(server)
        scrapes += 1
        if ready(families) or time.monotonic() >= deadline:
            return headers, text, families, scrapes


def samples(family, name=None):
    return [s for s in family.samples if name is None or s.name == name]


def value(family, name, **labels):
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples(family, name) if all(s.labels.get(k) == v for k, v in labels.items()))


class MetricsTest(unittest.TestCase):
    def test_counts_match_the_calls_made(self):
        severe = fixture_text("patient-view-severe.json")
        with Server() as server:
            for _ in range(3):
                status, _, body = server.request("POST", "/cds-services/magnesium-patient-view", severe, JSON)
                self.assertEqual(status, 200)
            cards = json.loads(body)["cards"]
            # Ids a client invents, one with characters that would need escaping: one series.
            for made_up in ("no-such-service", "x%22y%0Az", "another"):
                status, _, _ = server.request("POST", "/cds-services/" + made_up, severe, JSON)
                self.assertEqual(status, 404)
            status, _, _ = server.request("POST", "/cds-services/magnesium-order-sign/feedback",
                                          json.dumps({"feedback": [ACCEPTED, OVERRIDDEN, OVERRIDDEN]}), JSON)
            self.assertEqual(status, 200)
            self.assertEqual(server.request("GET", "/healthz")[0], 200)

            # Every call above counted: the server counts each after writing its answer, on
            # whichever thread served it, so the last answer's count is not always the last made.
            def all_counted(f):
                total = samples(f["magnesium_cds_http_requests"], "magnesium_cds_http_requests_total")
                hook_calls = sum(s.value for s in total if s.labels.get("route") == "/cds-services/{id}")
                healthz = sum(s.value for s in total if s.labels.get("route") == "/healthz")
                return hook_calls >= 6 and healthz >= 1

            headers, text, families, scrapes = scrape_when(server, all_counted)
            self.assertEqual(headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")

            requests = families["magnesium_cds_http_requests"]
            self.assertEqual(requests.type, "counter")
            self.assertEqual(value(requests, "magnesium_cds_http_requests_total", route="/cds-services/{id}",
                                   service="magnesium-patient-view", hook="patient-view", status="200"), 3)
            unknown = [s for s in samples(requests, "magnesium_cds_http_requests_total")
                       if s.labels["route"] == "/cds-services/{id}" and s.labels["status"] == "404"]
            self.assertEqual([(s.labels["service"], s.labels["hook"], s.value) for s in unknown],
                             [("unknown", "unknown", 3)])
            self.assertEqual(value(requests, "magnesium_cds_http_requests_total", route="/healthz",
                                   service="none", status="200"), 1)
            known_services = {s.labels["service"] for s in samples(requests)}
            self.assertLessEqual(known_services, {"magnesium-patient-view", "magnesium-order-select",
                                                  "magnesium-order-sign", "unknown", "none"})

            latency = families["magnesium_cds_http_request_duration_seconds"]
            self.assertEqual(latency.type, "histogram")
            self.assertEqual(value(latency, "magnesium_cds_http_request_duration_seconds_count",
                                   route="/cds-services/{id}"), 6)
            self.assertEqual(value(latency, "magnesium_cds_http_request_duration_seconds_bucket",
                                   route="/cds-services/{id}", le="+Inf"), 6)
            self.assertGreater(value(latency, "magnesium_cds_http_request_duration_seconds_sum",
                                     route="/cds-services/{id}"), 0)

            card_family = families["magnesium_cds_cards"]
            self.assertTrue(cards)
            for card in cards:
                rule = card["extension"]["magnesium-cds"]["ruleId"]
                expected = 3 * sum(1 for c in cards if c["extension"]["magnesium-cds"]["ruleId"] == rule
                                   and c["indicator"] == card["indicator"])
                self.assertEqual(value(card_family, "magnesium_cds_cards_total", rule=rule,
                                       indicator=card["indicator"]), expected)
            self.assertEqual(sum(s.value for s in samples(card_family, "magnesium_cds_cards_total")), 3 * len(cards))

            feedback = families["magnesium_cds_feedback_entries"]
            self.assertEqual(value(feedback, "magnesium_cds_feedback_entries_total", outcome="accepted"), 1)
            self.assertEqual(value(feedback, "magnesium_cds_feedback_entries_total", outcome="overridden"), 2)

            rule_set = samples(families["magnesium_cds_rule_set_info"])
            self.assertEqual(len(rule_set), 1)
            self.assertEqual(rule_set[0].value, 1)
            status, _, ready = server.request("GET", "/readyz")
            self.assertEqual(rule_set[0].labels, json.loads(ready)["ruleSet"])
            self.assertIn("magnesium_cds_fhir_fetch_duration_seconds", families)
            self.assertIn("magnesium_cds_fhir_fetch_failures", families)

            # Nothing about the patient: not the fixture's patient id, not the made-up path.
            patient_id = json.loads(severe)["context"]["patientId"]
            self.assertNotIn(patient_id, text)
            self.assertNotIn("no-such-service", text)

            # Scrapes are counted on their own route, each after its answer: a later scrape sees
            # every scrape made before it once the last one's count is recorded, and no more.
            made = scrapes
            deadline = time.monotonic() + 5
            while True:
                _, _, again = scrape(server)
                counted = value(again["magnesium_cds_http_requests"], "magnesium_cds_http_requests_total",
                                route="/metrics", status="200")
                if counted == made or time.monotonic() >= deadline:
                    break
                made += 1
                time.sleep(0.02)
            self.assertEqual(counted, made)
            self.assertEqual(server.stop(), 0)

    def test_feedback_store_queue_is_a_gauge(self):
        with tempfile.TemporaryDirectory() as directory:
            with Server("--feedback-db", os.path.join(directory, "feedback.db")) as server:
                _, _, families = scrape(server)
                queued = families["magnesium_cds_feedback_store_queued"]
                self.assertEqual(queued.type, "gauge")
                self.assertEqual(samples(queued)[0].value, 0)
                self.assertEqual(server.stop(), 0)

    def test_disable_metrics_removes_the_endpoint(self):
        with Server("--disable-metrics") as server:
            status, _, _ = server.request("GET", "/metrics")
            self.assertEqual(status, 404)
            self.assertEqual(server.stop(), 0)

    def test_metrics_is_public_and_get_only(self):
        with Server() as server:
            status, headers, _ = server.request("POST", "/metrics", "{}", JSON)
            self.assertEqual(status, 405)
            self.assertEqual(headers.get("Allow"), "GET, OPTIONS")
            self.assertEqual(server.stop(), 0)

    def test_authentication_failures_by_reason_and_metrics_need_no_token(self):
        severe = fixture_text("patient-view-severe.json")
        with AuthServer() as server:
            for _ in range(2):
                self.assertEqual(server.call("/cds-services/magnesium-patient-view", body=severe)[0], 401)
            self.assertEqual(server.call("/cds-services/magnesium-patient-view", "not.a-token", body=severe)[0], 401)
            self.assertEqual(server.call("/cds-services/magnesium-patient-view", "abc", body=severe,
                                         scheme="Basic")[0], 401)
            _, text, families = scrape(server)  # no token
            failures = families["magnesium_cds_auth_failures"]
            self.assertEqual(value(failures, "magnesium_cds_auth_failures_total", reason="missing_token"), 2)
            self.assertEqual(value(failures, "magnesium_cds_auth_failures_total", reason="not_bearer"), 1)
            self.assertEqual(sum(s.value for s in samples(failures, "magnesium_cds_auth_failures_total")), 4)
            self.assertNotIn('reason="ok"', text)
            self.assertNotIn("not.a-token", text)
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    e2e_support.main()
