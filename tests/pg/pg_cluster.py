"""A throw-away PostgreSQL cluster for tests: initdb into a temporary directory, start it
listening only on a Unix socket in that directory, trust authentication, stop it with
``pg_ctl stop -m immediate`` and remove everything afterwards.

initdb and the server refuse to run as root, so as root the directory belongs to the
``postgres`` system user and the binaries run through ``runuser -u postgres --``
(``setpriv`` when runuser is missing). The URL handed out is
``postgresql+psycopg://postgres@/<db>?host=<socket dir>&port=<port>``, optionally with
``&options=-csearch_path%3D<schema>`` for a schema of its own in a shared database.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PORT = 5432  # only names the socket file; nothing listens on TCP
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    # Throw-away data: durability only costs time here.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


class ClusterError(RuntimeError):
    """The cluster could not be created or started; carries the server log."""


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: from PATH, else the newest
    /usr/lib/postgresql/<version>/bin; None when there is no PostgreSQL server."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")
                  if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()]

    def version(path: Path) -> tuple:
        name = path.parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    return max(candidates, key=version) if candidates else None


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a binary as a user the server accepts."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterError("running as root and there is no 'postgres' system user "
                           "to run initdb and the server as") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", user.pw_name, "--"], user
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                "--init-groups", "--"], user
    raise ClusterError("running as root and neither runuser nor setpriv is available")


@dataclass
class Cluster:
    bin_dir: Path
    base: Path
    prefix: list[str]

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    def run(self, binary: str, *args: str) -> None:
        command = [*self.prefix, str(self.bin_dir / binary), *args]
        # cwd: the server user cannot enter root's working directory.
        result = subprocess.run(command, cwd=self.base, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise ClusterError(f"{' '.join(command)} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}\n{log}")

    def url(self, database: str, schema: str | None = None) -> str:
        """The SQLAlchemy URL of ``database``; with ``schema``, a search_path that puts
        every table, the alembic_version table included, in that schema."""
        url = f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={PORT}"
        return url + (f"&options=-csearch_path%3D{schema}" if schema else "")

    def _admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=PORT, user="postgres",
                             dbname=database, autocommit=True) as connection:
            connection.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its name (CREATE DATABASE takes about 0.3 s)."""
        name = f"gw_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def create_schema(self, database: str) -> str:
        """A new empty schema in ``database`` (milliseconds); returns its name."""
        name = f"gw_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE SCHEMA "{name}"', database)
        return name

    def terminate_connections(self, database: str) -> int:
        """Close, server side, every connection to ``database`` (what a restart or a
        failover does to a pool); returns how many."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=PORT, user="postgres",
                             dbname="postgres", autocommit=True) as connection:
            return len(connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall())

    def drop_database(self, name: str) -> None:
        """Drop ``name``, terminating the connections still open to it."""
        self._admin(f'DROP DATABASE "{name}" WITH (FORCE)')

    def dump(self, name: str) -> str:
        """``pg_dump`` of the database ``name`` as SQL text (what a stolen backup holds)."""
        result = subprocess.run([str(self.bin_dir / "pg_dump"), "--host", str(self.socket_dir),
                                 "--port", str(PORT), "--username", "postgres", name],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=60, check=True)
        return result.stdout


def _parent_for(user: pwd.struct_passwd | None) -> str:
    """Where to make the cluster's directory: the temporary directory, unless the server
    user could not reach it or the socket path would be too long (107 bytes on Linux)."""
    parent = tempfile.gettempdir()
    if len(parent) > 60:
        return "/tmp"
    if user is not None:
        for directory in [Path(parent), *Path(parent).parents]:
            if not directory.stat().st_mode & 0o001:  # others may not traverse it
                return "/tmp"
    return parent


@contextlib.contextmanager
def running_cluster(bin_dir: Path):
    """Create and start a cluster; yields a Cluster; stops and removes it afterwards."""
    prefix, user = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="msisdn-pg-", dir=_parent_for(user)))
    try:
        for sub in ("data", "socket"):
            (base / sub).mkdir(mode=0o700)
        if user is not None:
            for path in (base, base / "data", base / "socket"):
                os.chown(path, user.pw_uid, user.pw_gid)
        cluster = Cluster(bin_dir, base, prefix)
        cluster.run("initdb", "-D", str(cluster.data_dir), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
        settings = "".join(f"{name} = {value}\n" for name, value in SERVER_SETTINGS.items())
        settings += f"unix_socket_directories = '{cluster.socket_dir}'\n"
        with open(cluster.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# msisdn-gateway tests\n" + settings)
        cluster.run("pg_ctl", "start", "-w", "-t", "60", "-D", str(cluster.data_dir),
                    "-l", str(cluster.log_file))
        try:
            yield cluster
        finally:
            cluster.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(cluster.data_dir))
    finally:
        shutil.rmtree(base, ignore_errors=True)
