#!/usr/bin/env python3
"""`cmake --install` gives a working magnesium-cds: installed into a fresh prefix, run from an
unrelated directory through PATH (nothing of the source or build tree at hand), the binary
answers --help and --version, checks the installed rule set, evaluates a request, and serves
with the installed trust file; the manual page is installed, is valid roff, and describes
every flag --help lists.

Usage: test_install.py --build-dir BUILD --cmake CMAKE --fixtures FIXTURES
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

ARGS = None
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="magnesium-cds-install-")
        cls.prefix = os.path.join(cls.tmp.name, "prefix")
        cls.elsewhere = os.path.join(cls.tmp.name, "elsewhere")
        os.makedirs(cls.elsewhere)
        result = subprocess.run([ARGS.cmake, "--install", ARGS.build_dir, "--prefix", cls.prefix],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError("cmake --install failed:\n%s%s" % (result.stdout, result.stderr))
        cls.env = dict(os.environ, PATH=os.path.join(cls.prefix, "bin") + os.pathsep + os.environ["PATH"])
        cls.data = os.path.join(cls.prefix, "share", "magnesium-cds")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_installed(self, *args, stdin=None):
        return subprocess.run(["magnesium-cds", *args], cwd=self.elsewhere, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    def test_the_expected_files_are_installed(self):
        binary = os.path.join(self.prefix, "bin", "magnesium-cds")
        self.assertTrue(os.access(binary, os.X_OK), binary)
        self.assertEqual(shutil.which("magnesium-cds", path=self.env["PATH"]), binary)
        for relative in ("rules/magnesium-rules.json", "rules/rule-set.schema.json",
                         "trust/cds-hooks-sandbox-jwks.json", "trust/README.md"):
            self.assertTrue(os.path.isfile(os.path.join(self.data, relative)), relative)
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "share", "man", "man1", "magnesium-cds.1")))
        installed = {os.path.relpath(os.path.join(d, f), self.prefix)
                     for d, _, files in os.walk(self.prefix) for f in files}
        self.assertFalse([f for f in installed if f.endswith(".pem")], "no private key may be installed")

    def test_help_and_version(self):
        help_run = self.run_installed("--help")
        self.assertEqual(help_run.returncode, 0, help_run.stderr)
        for command in ("serve", "evaluate", "check-rules", "feedback-report"):
            self.assertIn("magnesium-cds " + command, help_run.stdout)
        version = self.run_installed("--version")
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^magnesium-cds \d+\.\d+\.\d+\n$")

    def test_check_rules_on_the_installed_rule_set(self):
        result = self.run_installed("check-rules", os.path.join(self.data, "rules", "magnesium-rules.json"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(": OK (rule set ", result.stdout)

    def test_evaluate_with_the_embedded_rules(self):
        with open(os.path.join(ARGS.fixtures, "requests", "patient-view-severe.json"), encoding="utf-8") as f:
            request = f.read()
        result = self.run_installed("evaluate", "-", "--now", "2026-03-10T09:00:00Z", stdin=request)
        self.assertEqual(result.returncode, 0, result.stderr)
        cards = json.loads(result.stdout)["cards"]
        self.assertEqual([c["indicator"] for c in cards], ["critical"])

    def test_serve_with_the_installed_trust_file(self):
        jwks = os.path.join(self.data, "trust", "cds-hooks-sandbox-jwks.json")
        server = subprocess.Popen(["magnesium-cds", "serve", "--listen", "127.0.0.1:0", "--threads", "1",
                                   "--public-url", "http://localhost:8080", "--trust", SANDBOX_ISSUER + "=" + jwks],
                                  cwd=self.elsewhere, env=self.env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            match = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
            self.assertIsNotNone(match, "serve did not start: %r" % line)
            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=20)
            conn.request("GET", "/healthz")
            health = conn.getresponse()
            health.read()
            self.assertEqual(health.status, 200)
            conn.request("POST", "/cds-services/magnesium-patient-view", body="{}",
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            conn.close()
            self.assertEqual(response.status, 401, "the trust file did not turn authentication on")
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=30)
        self.assertEqual(server.returncode, 0, stderr)

    def test_the_manual_page_describes_every_flag(self):
        page_path = os.path.join(self.prefix, "share", "man", "man1", "magnesium-cds.1")
        with open(page_path, encoding="utf-8") as f:
            page = f.read().replace("\\-", "-")
        help_text = self.run_installed("--help").stdout
        flags = sorted(set(re.findall(r"^\s+(--[a-z][a-z0-9-]*)", help_text, flags=re.M)))
        self.assertGreater(len(flags), 30, "--help lists too few flags to be the real list")
        missing = [flag for flag in flags if not re.search(re.escape(flag) + r"(?![a-z0-9-])", page)]
        self.assertEqual(missing, [], "flags --help lists that the manual page does not describe")
        if shutil.which("groff"):
            result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page_path], capture_output=True,
                                    text=True, timeout=60)
            self.assertEqual((result.returncode, result.stderr), (0, ""), "groff warnings in the manual page")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--cmake", required=True)
    parser.add_argument("--fixtures", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
