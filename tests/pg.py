"""A throwaway PostgreSQL cluster for the tests, started from the installed server binaries.

``pg_server`` (session-scoped) runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``
on a temporary directory and a free port on 127.0.0.1, and removes it all afterwards. Tests
that need PostgreSQL skip with a message when no server binaries are installed (``.ci/run``
installs the Debian ``postgresql`` package, so CI always runs them). initdb refuses to run as
root: as root the cluster is run by the ``postgres`` system user (created by the package).

Each test gets a database of its own: ``pg_server.new_url()``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="aggregator-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and no 'postgres' system user to run initdb") from None
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self._user = "postgres"
        self._ids = itertools.count(1)

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        self._run(self.bindir / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.tmp} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.tmp / "log", "-w", "-t", "60",
                  "-o", opts, "start")

    def stop(self) -> None:
        try:
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_url(self) -> str:
        """A fresh, empty database."""
        import psycopg

        name = f"t{next(self._ids)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]'); PostgreSQL tests skipped")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin: "
                    "apt-get install postgresql to run the PostgreSQL tests (.ci/run does)")
    server = PgServer(bindir)
    try:
        server.start()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        server.stop()
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc} {err.decode(errors='replace')[-500:]}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    return pg_server.new_url()
