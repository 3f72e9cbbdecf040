#!/usr/bin/env python3
"""The explain trace's JSON layout, through the real binary: `magnesium-cds evaluate
REQUEST.json --explain --format json` for every scenario of the case library validates against
the documented JSON Schema (rules/explain.schema.json, checked by python3-jsonschema, an
independent validator), names every registered rule once, and every rule that fired met every
condition it recorded. Also `--format text` prints the sections a reader looks for.

Usage: test_explain_layout.py --binary B --fixtures F --schema rules/explain.schema.json
"""

import argparse
import json
import pathlib
import subprocess
import sys
import unittest

import jsonschema

ARGS = None


def evaluate(request, now, *extra):
    result = subprocess.run([ARGS.binary, "evaluate", str(request), "--now", now, *extra],
                            capture_output=True, text=True, timeout=60)
    return result


def scenario_now(directory):
    expected = json.loads((directory / "expected.json").read_text())
    return expected.get("now", "2026-03-10T09:00:00Z")


class ExplainLayout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        schema = json.loads(pathlib.Path(ARGS.schema).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        cls.validator = jsonschema.Draft202012Validator(schema)
        cls.scenarios = sorted(p.parent for p in pathlib.Path(ARGS.fixtures, "scenarios").glob("*/request.json"))

    def test_every_scenario_trace_matches_the_schema(self):
        self.assertGreater(len(self.scenarios), 100)
        rule_ids = None
        for directory in self.scenarios:
            with self.subTest(scenario=directory.name):
                result = evaluate(directory / "request.json", scenario_now(directory), "--explain", "--format", "json")
                if result.returncode != 0:
                    continue  # a scenario of a refused request: no trace to check
                document = json.loads(result.stdout)
                explain = document["explain"]
                errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                          for e in self.validator.iter_errors(explain)]
                self.assertEqual(errors, [])
                rule_entries = [e for e in explain["entries"] if e["section"] == "rule" and e["subject"] == "rule"]
                ids = sorted(e["rule"] for e in rule_entries)
                self.assertEqual(len(ids), len(set(ids)), "one entry per rule")
                rule_ids = rule_ids or ids
                self.assertEqual(ids, rule_ids, "every registered rule, every time")
                fired = [e for e in rule_entries if e["decision"] == "fired"]
                # Every card's rule fired; a rule that fired without a card of its own joined
                # another rule's card (one card per problem) and says which.
                card_rules = {c["source"]["topic"]["code"] for c in document["cards"]}
                self.assertLessEqual(card_rules, {e["rule"] for e in fired})
                for entry in fired:
                    if entry["rule"] not in card_rules:
                        self.assertRegex(entry["message"], r"joined the \w+ card of (%s)" % "|".join(card_rules))
                for entry in fired:
                    unmet = [c["what"] for c in entry["compared"] if not c["holds"]]
                    self.assertEqual(unmet, [], entry["rule"] + " fired with a condition not met")

    def test_the_schema_rejects_an_entry_without_its_decision(self):
        directory = self.scenarios[0]
        document = json.loads(evaluate(directory / "request.json", scenario_now(directory), "--explain").stdout)
        broken = json.loads(json.dumps(document["explain"]))
        del broken["entries"][0]["decision"]
        self.assertFalse(self.validator.is_valid(broken))
        skipped = json.loads(json.dumps(document["explain"]))
        skipped["entries"][0]["decision"] = "skipped"
        skipped["entries"][0].pop("reason", None)
        self.assertFalse(self.validator.is_valid(skipped), "a skip without its reason")

    def test_text_form_has_the_sections_a_reader_looks_for(self):
        directory = pathlib.Path(ARGS.fixtures, "scenarios", "fires_pv_severe_iv_2g")
        result = evaluate(directory / "request.json", scenario_now(directory), "--explain", "--format", "text")
        self.assertEqual(result.returncode, 0, result.stderr)
        for heading in ("Patient", "Results read", "Serum magnesium used", "Kidney function", "Rules"):
            self.assertRegex(result.stdout, r"(?m)^" + heading)
        self.assertRegex(result.stdout, r"\[met\] +serum magnesium below the low threshold: 1\.1 mg/dL < 1\.8 mg/dL")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--schema", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest])
