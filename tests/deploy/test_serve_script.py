#!/usr/bin/env python3
"""deploy/serve.sh: the user's flags reach `magnesium-cds serve`; its defaults and the
MAGNESIUM_CDS_* environment variables only fill flags the user did not give.

Two levels: the argument merge (deploy/serve-arguments.bash, sourced exactly as serve.sh
sources it) for every precedence case, and serve.sh itself with CDS_SERVE_BINARY set to the
built binary (no install, no build), started with the user's own --listen and store, then
asked for /healthz and stopped with SIGTERM.

Usage: test_serve_script.py --root REPO --binary PATH/TO/magnesium-cds
"""

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

ROOT = None
BINARY = None
ENVIRONMENT_VARIABLES = ("MAGNESIUM_CDS_LISTEN", "MAGNESIUM_CDS_RULES", "MAGNESIUM_CDS_FEEDBACK_DB",
                         "MAGNESIUM_CDS_LOG_LEVEL", "MAGNESIUM_CDS_THREADS", "MAGNESIUM_CDS_PUBLIC_URL",
                         "GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def clean_environment(**variables):
    """The test's environment without the variables serve.sh reads, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    env.update(variables)
    return env


def merged_arguments(*user_args, **variables):
    """What serve.sh would pass to `serve` for these arguments and environment variables."""
    script = ('source "$1/deploy/serve-arguments.bash"; serve_arguments "${@:1}"; '
              'printf "%s\\0" "${serve_args[@]}"; printf "store=%s" "$serve_default_store_dir"')
    result = subprocess.run(["bash", "-c", script, "bash", ROOT, *user_args], env=clean_environment(**variables),
                            capture_output=True, text=True, timeout=30, check=True)
    *args, store = result.stdout.split("\0")
    return args, store[len("store="):]


class ArgumentMerge(unittest.TestCase):
    def test_defaults_when_nothing_is_given(self):
        args, store = merged_arguments()
        default_store = os.path.join(ROOT, "var", "feedback.sqlite3")
        self.assertEqual(args, ["--listen", "127.0.0.1:8080", "--feedback-db", default_store])
        self.assertEqual(store, os.path.join(ROOT, "var"))

    def test_user_flags_replace_the_defaults(self):
        args, store = merged_arguments("--listen", "127.0.0.1:9090", "--feedback-db", "/srv/mg.sqlite3",
                                       "--log-level", "debug")
        self.assertEqual(args, ["--listen", "127.0.0.1:9090", "--feedback-db", "/srv/mg.sqlite3",
                                "--log-level", "debug"])
        self.assertEqual(store, "", "the default store's directory is only made when it is used")

    def test_equals_form_counts_as_given(self):
        args, _ = merged_arguments("--listen=[::1]:9090", "--rules=my-rules.json")
        self.assertEqual(args.count("--listen"), 0)
        self.assertEqual(args[-2:], ["--listen=[::1]:9090", "--rules=my-rules.json"])

    def test_environment_fills_what_the_flags_do_not_give(self):
        args, _ = merged_arguments("--threads", "2", MAGNESIUM_CDS_LISTEN="0.0.0.0:9000",
                                   MAGNESIUM_CDS_RULES="/etc/mg/rules.json",
                                   MAGNESIUM_CDS_FEEDBACK_DB="/srv/fb.sqlite3", MAGNESIUM_CDS_THREADS="8",
                                   MAGNESIUM_CDS_PUBLIC_URL="https://cds.example.org",
                                   MAGNESIUM_CDS_LOG_LEVEL="warn")
        self.assertEqual(args, ["--listen", "0.0.0.0:9000", "--rules", "/etc/mg/rules.json",
                                "--feedback-db", "/srv/fb.sqlite3", "--log-level", "warn",
                                "--public-url", "https://cds.example.org", "--threads", "2"])

    def test_a_flag_wins_over_its_environment_variable(self):
        args, _ = merged_arguments("--listen", "127.0.0.1:7000", MAGNESIUM_CDS_LISTEN="0.0.0.0:9000")
        self.assertEqual(args.count("--listen"), 1)
        self.assertEqual(args[args.index("--listen") + 1], "127.0.0.1:7000")

    def test_empty_variable_leaves_the_flag_out(self):
        args, store = merged_arguments(MAGNESIUM_CDS_FEEDBACK_DB="")
        self.assertNotIn("--feedback-db", args)
        self.assertEqual(store, "")

    def test_other_arguments_pass_through_in_order(self):
        user = ["--trust", "https://a.example=a.json", "--cors-origin", "https://x.example",
                "--cors-origin", "https://y.example", "--allow-unauthenticated"]
        args, _ = merged_arguments(*user)
        self.assertEqual(args[-len(user):], user)


def exported_tunables(**variables):
    """GLIBC_TUNABLES after serve-arguments.bash's export_serve_malloc_tunables."""
    env = clean_environment(**variables)
    script = 'source "$1/deploy/serve-arguments.bash"; export_serve_malloc_tunables; printf "%s" "$GLIBC_TUNABLES"'
    result = subprocess.run(["bash", "-c", script, "bash", ROOT], env=env, capture_output=True, text=True,
                            timeout=30, check=True)
    return result.stdout


SERVE_TUNABLES = ("glibc.malloc.tcache_count=1000:glibc.malloc.trim_threshold=2097152:"
                  "glibc.malloc.mmap_threshold=8388608")


class MallocTunables(unittest.TestCase):
    def test_set_when_the_caller_set_none(self):
        self.assertEqual(exported_tunables(), SERVE_TUNABLES)

    def test_added_to_the_callers_other_tunables(self):
        self.assertEqual(exported_tunables(GLIBC_TUNABLES="glibc.malloc.arena_max=2"),
                         "glibc.malloc.arena_max=2:" + SERVE_TUNABLES)

    def test_the_callers_own_count_is_kept(self):
        self.assertEqual(exported_tunables(GLIBC_TUNABLES="glibc.malloc.tcache_count=64"),
                         "glibc.malloc.tcache_count=64:glibc.malloc.trim_threshold=2097152:"
                         "glibc.malloc.mmap_threshold=8388608")

    def test_each_setting_the_caller_made_is_kept(self):
        mine = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=0"
        self.assertEqual(exported_tunables(GLIBC_TUNABLES=mine), mine + ":glibc.malloc.tcache_count=1000")

    def test_glibcs_older_variables_are_kept(self):
        # glibc reads MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ too, and a value in
        # GLIBC_TUNABLES would override them.
        self.assertEqual(exported_tunables(MALLOC_TRIM_THRESHOLD_="0"),
                         "glibc.malloc.tcache_count=1000:glibc.malloc.mmap_threshold=8388608")
        self.assertEqual(exported_tunables(MALLOC_MMAP_THRESHOLD_="131072"),
                         "glibc.malloc.tcache_count=1000:glibc.malloc.trim_threshold=2097152")

    def test_a_longer_name_is_not_taken_for_a_setting(self):
        self.assertEqual(exported_tunables(GLIBC_TUNABLES="x.glibc.malloc.tcache_count=3"),
                         "x.glibc.malloc.tcache_count=3:" + SERVE_TUNABLES)

    def test_the_image_sets_the_same_value(self):
        with open(os.path.join(ROOT, "deploy", "Dockerfile"), encoding="utf-8") as f:
            dockerfile = f.read()
        self.assertIn("GLIBC_TUNABLES=" + exported_tunables(), dockerfile)


class ServeScript(unittest.TestCase):
    def start(self, *user_args, **variables):
        env = clean_environment(CDS_SERVE_BINARY=BINARY, **variables)
        process = subprocess.Popen([os.path.join(ROOT, "deploy", "serve.sh"), *user_args], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        self.addCleanup(self.reap, process)
        line = process.stdout.readline()
        match = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            process.kill()
            self.fail("serve.sh did not start the service: %r %s" % (line, process.stderr.read()))
        return process, int(match.group(1))

    @staticmethod
    def reap(process):
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)

    def assert_healthy_then_stops(self, process, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().status, 200)
        finally:
            conn.close()
        process.send_signal(signal.SIGTERM)  # serve.sh execs the service: this is its pid
        self.assertEqual(process.wait(timeout=30), 0)

    def test_user_listen_and_store_flags_reach_the_service(self):
        with tempfile.TemporaryDirectory(prefix="magnesium-cds-serve-") as tmp:
            store = os.path.join(tmp, "feedback.sqlite3")
            process, port = self.start("--listen", "127.0.0.1:0", "--feedback-db", store, "--threads", "1")
            with open("/proc/%d/environ" % process.pid, "rb") as f:
                environment = f.read().split(b"\0")
            # glibc's start-up code writes a NUL over each ':' of GLIBC_TUNABLES in the memory
            # /proc/PID/environ shows (Debian 12's 2.36), so the entries are joined back.
            self.assertIn(("GLIBC_TUNABLES=" + SERVE_TUNABLES).encode(), b":".join(environment),
                          "serve.sh did not start the service with its allocator setting")
            self.assert_healthy_then_stops(process, port)
            self.assertTrue(os.path.isfile(store), "the service did not open the store it was given")

    def test_environment_variables_reach_the_service(self):
        with tempfile.TemporaryDirectory(prefix="magnesium-cds-serve-") as tmp:
            store = os.path.join(tmp, "env-feedback.sqlite3")
            rules = os.path.join(ROOT, "rules", "config", "magnesium-rules.json")
            process, port = self.start("--threads", "1", MAGNESIUM_CDS_LISTEN="127.0.0.1:0",
                                       MAGNESIUM_CDS_FEEDBACK_DB=store, MAGNESIUM_CDS_RULES=rules)
            self.assert_healthy_then_stops(process, port)
            self.assertTrue(os.path.isfile(store))

    def test_an_invalid_rules_file_from_the_environment_is_refused(self):
        with tempfile.TemporaryDirectory(prefix="magnesium-cds-serve-") as tmp:
            rules = os.path.join(tmp, "rules.json")
            with open(rules, "w", encoding="utf-8") as f:
                f.write("{}")
            env = clean_environment(CDS_SERVE_BINARY=BINARY, MAGNESIUM_CDS_RULES=rules,
                                    MAGNESIUM_CDS_FEEDBACK_DB="")
            result = subprocess.run([os.path.join(ROOT, "deploy", "serve.sh"), "--listen", "127.0.0.1:0"],
                                    env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn(rules, result.stderr)


def main():
    global ROOT, BINARY
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--binary", required=True)
    args, rest = parser.parse_known_args()
    ROOT = os.path.abspath(args.root)
    BINARY = os.path.abspath(args.binary)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
