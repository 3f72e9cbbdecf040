#!/usr/bin/env python3
"""Fails when the repository depends on something outside itself, or tracks generated files.

    check_self_contained.py --root REPO

Looks at every file `git ls-files` lists (code, build files, scripts, documents, provenance
notes alike) and reports, with file and line:
  - a reference to the reference-material folder that sits beside a working copy on the
    machine that wrote the project (its relative path, or a path naming its contents);
  - an absolute path of one machine: home directories (Linux, macOS), root's home, the
    work area the project was written in;
  - a tracked compiled or generated file: Python bytecode, object files and libraries, a
    build tree, node_modules, CMake's generated files.
System paths (/usr, /etc, /dev, /proc, /tmp in examples) are fine: every machine has them.

Exit status: 0 clean, 1 problems found, 77 when REPO is not a git working tree (nothing to
list; CTest reports the test as skipped).
"""

import argparse
import re
import subprocess
import sys

# Built from pieces so that this file does not match its own patterns.
_PARENT = r"\.\." + "/"
FORBIDDEN_TEXT = [
    ("the reference folder beside the repository",
     re.compile(_PARENT + r"shared\b")),
    ("the reference folder beside the repository",
     re.compile(r"\.\.[\"']\s*[/,+]\s*[\"']" + r"shared\b")),
    ("the reference folder beside the repository",
     re.compile(r"(?<![\w.-])shared/(?:interop|fhir-examples|hooks|terminology\.json|clinical-rules\.md)")),
    ("an absolute path of one machine",
     re.compile(r"(?<![\w.~-])/(?:" + "home|root|work|Users" + r")/")),
    ("an absolute path of one machine",
     re.compile(r"(?<![\w])[A-Za-z]:\\\\?(?:" + "Users" + r")\\")),
]

GENERATED_PATH = re.compile(
    r"(?:^|/)(?:__pycache__|node_modules|CMakeFiles|build|build-[^/]*|cmake-build-[^/]*)/"
    r"|\.(?:pyc|pyo|o|obj|a|so|dylib|dll|exe|gcda|gcno|profraw)$"
    r"|(?:^|/)(?:CMakeCache\.txt|compile_commands\.json|cmake_install\.cmake|CTestTestfile\.cmake)$")


def tracked_files(root):
    result = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True)
    if result.returncode != 0:
        return None
    return [p for p in result.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def text_lines(path):
    """The file's lines, or nothing when it is binary (a NUL byte) or cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if b"\0" in data:
        return []
    return data.decode("utf-8", "replace").splitlines()


def problems_in(root):
    problems = []
    files = tracked_files(root)
    if files is None:
        return None
    for name in files:
        if GENERATED_PATH.search(name):
            problems.append("%s: a compiled or generated file is tracked" % name)
            continue
        for number, line in enumerate(text_lines("%s/%s" % (root, name)), 1):
            for what, pattern in FORBIDDEN_TEXT:
                if pattern.search(line):
                    problems.append("%s:%d: %s: %s" % (name, number, what, line.strip()[:160]))
                    break
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True)
    root = parser.parse_args().root
    problems = problems_in(root)
    if problems is None:
        print("%s is not a git working tree: nothing to check" % root)
        return 77
    for problem in problems:
        print(problem)
    if problems:
        print("FAILED: %d problem(s); the repository must stand on its own (copy what it needs into it,"
              " with its provenance) and track no generated files" % len(problems))
        return 1
    print("self-contained: no reference outside the repository, no generated file tracked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
