#!/usr/bin/env python3
"""check_self_contained.py can fail: it is run on throw-away git repositories, each with one
kind of bad file (a reference outside the repository in code, a build file or a document; a
tracked generated file), and must fail naming that file; on a clean one it must pass, and
ordinary system paths and URLs must not trip it.

Usage: check_self_contained_test.py --checker PATH/TO/check_self_contained.py
"""

import argparse
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = None
CLEAN_FILES = {
    "README.md": "# A project\n\nInstall to /usr/local; see https://example.org/home/docs and"
                 " https://hl7.org/fhir/R4/. Logs go to /dev/null, examples use /tmp/seeds.\n",
    "deploy/run.sh": "#!/bin/sh\nexec /usr/bin/env python3 /etc/app/run.py \"$@\"\n",
    "fixtures/data.json": "{\"path\": \"fixtures/shared-examples/a.json\"}\n",
}
# Each bad file's text is assembled here so that this test file itself stays clean.
PARENT = ".." + "/"
SHARED = "shar" + "ed/"
BAD_FILES = {
    "tests/CMakeLists.txt": "set(dir ${PROJECT_SOURCE_DIR}/" + PARENT + SHARED + "fhir-examples)\n",
    "docs/notes.md": "Codes copied from `" + "/" + "work/" + SHARED + "terminology.json`.\n",
    "tests/make.py": "shared = (root / \"..\" / \"" + "shared\").resolve()\n",
    "tests/x.py": "# see " + "shared/" + "interop/cds-hooks-sandbox/README.md\n",
    "tests/bench/README.md": "Written on " + "/" + "home/alice/project.\n",
    "provenance.md": "Downloaded to " + "/" + "root/" + "downloads/ first.\n",
    "scripts/mac.sh": "cp a " + "/" + "Users/bob/\n",
}
GENERATED_FILES = ["tests/e2e/__pycache__/e2e_support.cpython-311.pyc", "tests/bench/report.pyc",
                   "service/main.o", "build/CMakeCache.txt", "tests/validators/node_modules/x/index.js"]


def make_repository(directory, files):
    subprocess.run(["git", "init", "-q", directory], check=True)
    for name, text in files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    # -f: a repository's .gitignore must not hide what a careless commit could still track.
    subprocess.run(["git", "-C", directory, "add", "-f", "--", *files], check=True)


def run_checker(directory):
    return subprocess.run([sys.executable, CHECKER, "--root", directory], capture_output=True, text=True,
                          timeout=60)


class CheckSelfContained(unittest.TestCase):
    def test_a_clean_repository_passes(self):
        with tempfile.TemporaryDirectory(prefix="self-contained-") as repo:
            make_repository(repo, CLEAN_FILES)
            result = run_checker(repo)
            self.assertEqual(result.returncode, 0, result.stdout)

    def test_each_outside_reference_fails_and_is_named(self):
        for name, text in BAD_FILES.items():
            with self.subTest(file=name), tempfile.TemporaryDirectory(prefix="self-contained-") as repo:
                make_repository(repo, dict(CLEAN_FILES, **{name: text}))
                result = run_checker(repo)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(name + ":1:", result.stdout)

    def test_each_tracked_generated_file_fails_and_is_named(self):
        for name in GENERATED_FILES:
            with self.subTest(file=name), tempfile.TemporaryDirectory(prefix="self-contained-") as repo:
                make_repository(repo, dict(CLEAN_FILES, **{name: "generated\n"}))
                result = run_checker(repo)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(name + ": a compiled or generated file is tracked", result.stdout)

    def test_untracked_files_are_not_the_repository(self):
        with tempfile.TemporaryDirectory(prefix="self-contained-") as repo:
            make_repository(repo, CLEAN_FILES)
            os.makedirs(os.path.join(repo, "__pycache__"))
            with open(os.path.join(repo, "__pycache__", "x.pyc"), "w", encoding="utf-8") as f:
                f.write(BAD_FILES["docs/notes.md"])
            self.assertEqual(run_checker(repo).returncode, 0)

    def test_not_a_git_working_tree_is_reported_as_skipped(self):
        with tempfile.TemporaryDirectory(prefix="self-contained-") as directory:
            self.assertEqual(run_checker(directory).returncode, 77)


def main():
    global CHECKER
    parser = argparse.ArgumentParser()
    parser.add_argument("--checker", required=True)
    args, rest = parser.parse_known_args()
    CHECKER = os.path.abspath(args.checker)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
