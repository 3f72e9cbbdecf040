#!/usr/bin/env python3
"""Configuration by environment end to end: every `serve` option is also read from
MAGNESIUM_CDS_<OPTION> (upper case, - as _), a flag wins over the variable, and
`serve --print-config` shows the effective configuration with its sources, secrets redacted.

Usage: test_config_env.py --binary B --fixtures F
"""

import json
import os
import re
import subprocess
import unittest
import urllib.request

import e2e_support as e2e

PREFIX = "MAGNESIUM_CDS_"


def environment(**variables):
    """The test's environment without any inherited MAGNESIUM_CDS_* variable, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update({PREFIX + k: v for k, v in variables.items()})
    return env


def print_config(*args, **variables):
    done = subprocess.run([e2e.BINARY, "serve", *args, "--print-config"], capture_output=True, text=True,
                          env=environment(**variables), timeout=30)
    if done.returncode != 0:
        raise AssertionError("--print-config exited %d: %s" % (done.returncode, done.stderr))
    return json.loads(done.stdout)


def serve_flags():
    text = subprocess.run([e2e.BINARY, "--help"], capture_output=True, text=True, check=True).stdout
    section = text.split("serve options:", 1)[1].split("evaluate options:", 1)[0]
    return set(re.findall(r"^\s+--([a-z0-9-]+)", section, re.M))


class PrintConfig(unittest.TestCase):
    def test_every_serve_option_is_listed_with_its_variable_and_default_source(self):
        config = print_config()
        self.assertEqual(set(config), serve_flags() - {"print-config"})
        for name, entry in config.items():
            self.assertEqual(entry["environment"], PREFIX + name.upper().replace("-", "_"))
        self.assertEqual(config["listen"], {"value": "127.0.0.1:8080", "source": "default",
                                            "environment": "MAGNESIUM_CDS_LISTEN"})
        self.assertEqual(config["rules"]["source"], "unset")

    def test_environment_sets_options_of_every_kind(self):
        config = print_config(LOG_FORMAT="json", MAX_BODY="4096", READ_TIMEOUT="2500ms",
                              ALLOW_UNAUTHENTICATED="true", FHIR_ALLOW="https://a.example/fhir https://b.example/fhir")
        self.assertEqual(config["log-format"], {"value": "json", "source": "env",
                                                "environment": "MAGNESIUM_CDS_LOG_FORMAT"})
        self.assertEqual(config["max-body"]["value"], "4096")
        self.assertEqual(config["read-timeout"]["value"], "2500ms")
        self.assertEqual(config["allow-unauthenticated"]["source"], "env")
        self.assertEqual(config["fhir-allow"]["value"], ["https://a.example/fhir", "https://b.example/fhir"])
        self.assertEqual(config["max-header"]["source"], "default")

    def test_a_flag_beats_the_variable(self):
        config = print_config("--log-level", "warn", "--fhir-allow", "https://flag.example/fhir",
                              LOG_LEVEL="debug", FHIR_ALLOW="https://env.example/fhir")
        self.assertEqual((config["log-level"]["value"], config["log-level"]["source"]), ("warn", "flag"))
        self.assertEqual(config["fhir-allow"]["value"], ["https://flag.example/fhir"])

    def test_secrets_are_redacted(self):
        config = print_config("--tls-key", "/etc/magnesium-cds/tls/tls.key",
                              FEEDBACK_DB="postgresql://cds:s3cr3t-pw@db.example:5432/cds")
        self.assertEqual(config["feedback-db"]["value"], "postgresql://cds:(redacted)@db.example:5432/cds")
        self.assertEqual(config["tls-key"]["value"], "/etc/magnesium-cds/tls/tls.key")  # a path, never contents

    def test_durations_are_shown_with_their_unit(self):
        config = print_config("--rules-watch", "2s", FEEDBACK_MAX_WAIT="750ms")
        shown = {name: config[name]["value"] for name in
                 ("read-timeout", "idle-timeout", "shutdown-timeout", "fhir-deadline", "jwt-clock-skew",
                  "cors-max-age", "rules-watch", "feedback-max-wait")}
        self.assertEqual(shown, {"read-timeout": "10s", "idle-timeout": "30s", "shutdown-timeout": "10s",
                                 "fhir-deadline": "2s", "jwt-clock-skew": "1m", "cors-max-age": "24h",
                                 "rules-watch": "2s", "feedback-max-wait": "750ms"})

    def test_a_duration_without_a_unit_is_refused_naming_the_option_and_the_forms(self):
        for args, env in ((["--read-timeout", "10"], {}), ([], {"FHIR_DEADLINE": "2000"})):
            with self.subTest(args=args, env=env):
                done = subprocess.run([e2e.BINARY, "serve", "--print-config", *args], capture_output=True,
                                      text=True, env=environment(**env), timeout=30)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("has no unit: write a whole number with a unit: 250ms, 10s, 2m or 1h",
                              done.stderr)
                self.assertRegex(done.stderr, "read-timeout|FHIR_DEADLINE|fhir-deadline")

    def test_a_bad_value_in_the_environment_is_a_usage_error(self):
        done = subprocess.run([e2e.BINARY, "serve", "--print-config"], capture_output=True, text=True,
                              env=environment(MAX_BODY="lots"), timeout=30)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("max-body", done.stderr)

    def test_unknown_variables_with_the_prefix_are_ignored(self):
        self.assertNotIn("build-dir", print_config(BUILD_DIR="/tmp"))


class ServeFromEnvironment(unittest.TestCase):
    def start(self, *args, **variables):
        process = subprocess.Popen([e2e.BINARY, "serve", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=environment(**variables))
        self.addCleanup(lambda: (process.kill(), process.wait(), process.stdout.close(), process.stderr.close()))
        return process, process.stdout.readline()

    def test_the_server_listens_where_the_variable_says(self):
        port = e2e.free_port()
        _, line = self.start(LISTEN="127.0.0.1:%d" % port, LOG_FORMAT="json")
        self.assertEqual(line.strip(), "listening on http://127.0.0.1:%d" % port)
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as response:
            self.assertEqual(response.status, 200)

    def test_the_listen_flag_beats_the_variable(self):
        port = e2e.free_port()
        _, line = self.start("--listen", "127.0.0.1:%d" % port, LISTEN="127.0.0.1:1")
        self.assertEqual(line.strip(), "listening on http://127.0.0.1:%d" % port)

    def test_json_log_lines_from_the_environment(self):
        process, line = self.start(LISTEN="127.0.0.1:0", LOG_FORMAT="json")
        port = int(line.rsplit(":", 1)[1])
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as response:
            self.assertEqual(response.status, 200)
        process.terminate()
        process.wait(timeout=30)
        lines = [json.loads(text) for text in process.stderr.read().splitlines()]
        self.assertTrue(lines)
        access = {"requestId", "method", "route", "status", "durationMs"}  # a request's own fields
        for entry in lines:
            self.assertIn(set(entry) - {"time", "level", "message"}, (set(), access))
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIn("GET /healthz 200", "\n".join(entry["message"] for entry in lines))
        (health,) = [entry for entry in lines if entry.get("route") == "/healthz"]
        self.assertEqual((health["method"], health["status"]), ("GET", 200))


if __name__ == "__main__":
    e2e.main()
