#!/usr/bin/env python3
"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, `initdb` into
a temporary directory, `pg_ctl` on a free loopback port, password authentication (SCRAM) for
TCP, and removal afterwards. As root, the server runs as an unprivileged user (PostgreSQL
refuses to run as root).

As a wrapper for a test command:

    pg_cluster.py run -- COMMAND [ARG...]

starts a server, runs COMMAND with CDS_TEST_POSTGRES_URL (a postgresql:// URL of the
`postgres` database, without password) and PGPASSWORD set, stops the server and exits with
COMMAND's status. Exits 77 (ctest's SKIP_RETURN_CODE) when no PostgreSQL server binaries are
installed (`deploy/install-deps.sh --test` installs them)."""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile

SKIP = 77
SUPERUSER = "postgres"


def server_bin_dir():
    """The directory of initdb and pg_ctl: Debian keeps them under /usr/lib/postgresql/N/bin."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unprivileged_user():
    """The account the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class Cluster:
    """One server in a temporary directory. Small (shared_buffers 8MB, 30 connections): the
    test machines are shared. fsync is off: the tests kill the service, never the server's
    machine, so the server's own flushes only cost time here."""

    def __init__(self):
        self.bin_dir = server_bin_dir()
        if self.bin_dir is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb) installed")
        self.user = unprivileged_user()
        self.root = tempfile.mkdtemp(prefix="magnesium-cds-pg-")
        self.data = os.path.join(self.root, "data")
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        try:
            if self.user is not None:
                os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
            self._init()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _as_server_user(self, argv, **kwargs):
        if self.user is not None:
            argv = ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}",
                    "--clear-groups", "--"] + argv
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=self.root, **kwargs)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}")
        return done

    def _init(self):
        pwfile = os.path.join(self.root, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        os.makedirs(self.data, mode=0o700)
        if self.user is not None:
            for path in (pwfile, self.data):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._as_server_user([os.path.join(self.bin_dir, "initdb"), "-D", self.data, "-U",
                              SUPERUSER, "--pwfile", pwfile, "--auth-host=scram-sha-256",
                              "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8",
                              "--no-instructions"])
        os.unlink(pwfile)

    def start(self):
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories='{self.root}' -c shared_buffers=8MB "
                   "-c max_connections=30 -c fsync=off -c full_page_writes=off")
        self._as_server_user([os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data, "-o", options,
                              "-l", os.path.join(self.root, "server.log"), "-w", "-t", "60",
                              "start"])

    def stop(self):
        try:
            self._as_server_user([os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data, "-m",
                                  "fast", "-w", "-t", "60", "stop"])
        except RuntimeError:
            pass  # not running

    def environment(self):
        env = dict(os.environ)
        env["CDS_TEST_POSTGRES_URL"] = self.url
        env["PGPASSWORD"] = self.password
        return env

    def remove(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or argv[2] != "--" or len(argv) < 4:
        print("usage: pg_cluster.py run -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        cluster = Cluster()
    except FileNotFoundError as e:
        print(f"SKIP: {e}; deploy/install-deps.sh --test installs Debian's postgresql",
              file=sys.stderr)
        return SKIP
    with cluster:
        return subprocess.run(argv[3:], env=cluster.environment()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
