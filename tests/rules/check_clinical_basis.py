#!/usr/bin/env python3
"""Checks that rules/CLINICAL-BASIS.md documents exactly the configured rules.

The service serves each rule's documentation at /rules/{rule-id} from the section headed
`## <rule-id> — <title>` of the clinical basis, and every card links there. So:

- every rule id of rules/config/magnesium-rules.json has exactly one such section, in the
  order of the configuration;
- no such section names a rule id that is not configured;
- every scenario name the document cites exists under fixtures/scenarios/, and every rule
  section cites at least one.

Usage: check_clinical_basis.py REPO_ROOT            check the repository
       check_clinical_basis.py --selftest REPO_ROOT  show that each check can fail
"""

import json
import re
import sys
from pathlib import Path

RULE_HEADING = re.compile(r"^## (\S+) \u2014 \S", re.MULTILINE)
# Scenario folder names start with what they expect (fixtures/scenarios/README.md).
SCENARIO_NAME = re.compile(r"\b(?:fires|silent|rejects)_[A-Za-z0-9_]*[A-Za-z0-9]\b")


def configured_rule_ids(config):
    """Rule ids in configuration order: `rules` is an object keyed by id or a list of {id}."""
    rules = config["rules"]
    if isinstance(rules, dict):
        return [rule_id for rule_id in rules if not rule_id.startswith("_")]
    return [rule["id"] for rule in rules]


def rule_sections(document):
    """(rule id, section text) for every `## <id> — <title>` heading, in document order."""
    headings = list(RULE_HEADING.finditer(document))
    sections = []
    for index, heading in enumerate(headings):
        end = len(document)
        next_level_2 = re.search(r"^## ", document[heading.end():], re.MULTILINE)
        if next_level_2:
            end = heading.end() + next_level_2.start()
        sections.append((heading.group(1), document[heading.start():end]))
    return sections


def problems_with_sections(sections, rule_ids):
    problems = []
    documented = [rule_id for rule_id, _ in sections]
    for rule_id in rule_ids:
        count = documented.count(rule_id)
        if count == 0:
            problems.append(f"rule '{rule_id}' is configured but has no '## {rule_id} \u2014' section")
        elif count > 1:
            problems.append(f"rule '{rule_id}' has {count} sections")
    for rule_id in dict.fromkeys(documented):
        if rule_id not in rule_ids:
            problems.append(f"section '## {rule_id} \u2014' names a rule id that is not configured")
    in_both = [rule_id for rule_id in dict.fromkeys(documented) if rule_id in rule_ids]
    expected_order = [rule_id for rule_id in rule_ids if rule_id in in_both]
    if in_both != expected_order:
        problems.append("rule sections are not in the configuration's order: " + ", ".join(expected_order))
    return problems


def problems_with_scenarios(document, sections, scenario_names):
    problems = []
    for name in sorted(set(SCENARIO_NAME.findall(document))):
        if name not in scenario_names:
            problems.append(f"cited scenario '{name}' does not exist under fixtures/scenarios/")
    for rule_id, text in sections:
        if not any(name in scenario_names for name in SCENARIO_NAME.findall(text)):
            problems.append(f"section '{rule_id}' cites no existing scenario")
    return problems


def find_problems(document, config, scenario_names):
    rule_ids = configured_rule_ids(config)
    sections = rule_sections(document)
    return problems_with_sections(sections, rule_ids) + problems_with_scenarios(document, sections, scenario_names)


def load_inputs(repo):
    document = (repo / "rules" / "CLINICAL-BASIS.md").read_text(encoding="utf-8")
    config = json.loads((repo / "rules" / "config" / "magnesium-rules.json").read_text(encoding="utf-8"))
    scenarios = repo / "fixtures" / "scenarios"
    scenario_names = {p.name for p in scenarios.iterdir() if (p / "expected.json").is_file()}
    return document, config, scenario_names


def check(repo):
    problems = find_problems(*load_inputs(repo))
    for problem in problems:
        print("CLINICAL-BASIS.md: " + problem)
    if not problems:
        print("CLINICAL-BASIS.md: every configured rule has its section; every cited scenario exists")
    return 1 if problems else 0


def selftest(repo):
    """Each broken variant of the real inputs must be reported with the expected message."""
    document, config, scenario_names = load_inputs(repo)
    first, second = configured_rule_ids(config)[:2]
    first_heading = re.search(rf"^## {re.escape(first)} \u2014 .*$", document, re.MULTILINE).group(0)
    second_section = dict(rule_sections(document))[second]
    extra_config = json.loads(json.dumps(config))
    if isinstance(extra_config["rules"], dict):
        extra_config["rules"]["rule-added-to-config"] = {"title": "x", "summary": "x"}
    else:
        extra_config["rules"].append({"id": "rule-added-to-config"})
    variants = [
        ("a configured rule without a section", document.replace(first_heading, "## " + first + " - no em dash"),
         config, "has no '## " + first),
        ("a rule added to the configuration only", document, extra_config, "'rule-added-to-config' is configured"),
        ("a section for an unconfigured rule", document + "\n## not-a-configured-rule \u2014 Title\n\n`fires_pv_severe_iv_2g`\n",
         config, "names a rule id that is not configured"),
        ("a cited scenario that does not exist", document + "\nSee `fires_no_such_scenario_here`.\n", config,
         "'fires_no_such_scenario_here' does not exist"),
        ("two sections swapped", document.replace(second_section, "").replace(first_heading, second_section + first_heading),
         config, "not in the configuration's order"),
    ]
    failures = 0
    if find_problems(document, config, scenario_names):
        print("selftest: the repository's own document does not pass")
        failures += 1
    for description, variant_document, variant_config, expected in variants:
        problems = find_problems(variant_document, variant_config, scenario_names)
        caught = any(expected in problem for problem in problems)
        print(("caught: " if caught else "MISSED: ") + description)
        failures += 0 if caught else 1
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--selftest":
        return selftest(Path(argv[2]))
    if len(argv) == 2:
        return check(Path(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
