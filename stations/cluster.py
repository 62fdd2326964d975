"""The embedded PostgreSQL + PostGIS cluster that a fresh checkout runs on.

A real server (Debian's ``postgresql-15`` with ``postgresql-15-postgis-3``), kept in a
folder of the project (``var/pg``) and listening only on a Unix socket, so a new user needs
no database administrator and nothing else on the machine can reach it over the network.
PostgreSQL refuses to run as root; when we are root (as CI is) the cluster runs as an
unprivileged system user (``STATIONS_PG_USER``, ``postgres`` by default).

Everything here is idempotent: ``up`` on a running cluster does nothing, ``down`` on a
stopped one does nothing, and the data survives ``down`` and ``up``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stations import settings
from stations.errors import ClusterError

LOGGER = logging.getLogger(__name__)

SUPERUSER = "stations"
INSTALL_HINT = (
    "PostgreSQL with PostGIS is not installed; run: "
    "sudo apt-get install -y postgresql-15 postgresql-15-postgis-3 (or ./run setup)"
)
# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100


def find_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl`` of a PostgreSQL that has PostGIS."""
    override = settings.get("STATIONS_PG_BIN")
    candidates = [Path(override)] if override else _debian_bin_dirs()
    for bin_dir in candidates:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            if override or _has_postgis(bin_dir):
                return bin_dir
    raise ClusterError(INSTALL_HINT)


def _debian_bin_dirs() -> list[Path]:
    """Debian's ``/usr/lib/postgresql/<major>/bin`` folders, newest first."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    majors = sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name))
    return [p / "bin" for p in majors]


def _has_postgis(bin_dir: Path) -> bool:
    """True when PostGIS's extension control file is installed for this major version."""
    major = bin_dir.parent.name
    return any(Path(f"/usr/share/postgresql/{major}/extension").glob("postgis.control"))


@dataclass(frozen=True)
class Cluster:
    """One embedded cluster: its folder, socket port and the user it runs as."""

    root: Path
    port: int
    run_as: str | None

    @classmethod
    def from_settings(cls) -> Cluster:
        """The project's cluster as the environment configures it."""
        var_dir = Path(settings.get("STATIONS_VAR_DIR") or "var").resolve()
        run_as = settings.get("STATIONS_PG_USER") if os.geteuid() == 0 else None
        return cls(var_dir / "pg", settings.get_int("STATIONS_PG_PORT"), run_as)

    @property
    def data_dir(self) -> Path:
        """PGDATA."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The server log; the first place to look when ``up`` fails."""
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """Where the Unix socket lives: inside the cluster folder when the path is short."""
        own = self.root / "run"
        if len(str(own)) + len(f"/.s.PGSQL.{self.port}") <= _MAX_SOCKET_PATH:
            return own
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/tmp") / f"stations-pg-{digest}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of a database in this cluster, over the Unix socket."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={host}&port={self.port}"

    def status(self) -> str:
        """``running``, ``stopped`` or ``absent`` (never initialised)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return "absent"
        result = self._pg_ctl("status", check=False)
        return "running" if result.returncode == 0 else "stopped"

    def up(self) -> bool:
        """Initialise when absent and start when stopped; True if this call started it."""
        bin_dir = find_bin_dir()
        state = self.status()
        if state == "running":
            return False
        if state == "absent":
            self._initdb(bin_dir)
        self._prepare_dirs()
        options = f"-k {self.socket_dir} -p {self.port} -c listen_addresses=''"
        result = self._pg_ctl(
            "start", "-w", "-t", "120", "-l", str(self.log_file), "-o", options, check=False
        )
        if result.returncode != 0:
            raise ClusterError(
                f"the embedded PostgreSQL did not start (see {self.log_file}): "
                + _last_line(result.stderr or result.stdout)
            )
        LOGGER.info("embedded PostgreSQL started in %s", self.root)
        return True

    def down(self) -> bool:
        """Stop the cluster (fast shutdown); True if it was running."""
        if self.status() != "running":
            return False
        self._pg_ctl("stop", "-w", "-t", "120", "-m", "fast")
        return True

    # -- internals -------------------------------------------------------------------

    def _initdb(self, bin_dir: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_dirs()
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                # byte-order collation: fast btree on codes; C.UTF-8 classifies characters
                "--lc-collate=C",
                "--lc-ctype=C.UTF-8",
            ]
        )
        LOGGER.info("initialised embedded PostgreSQL cluster in %s", self.data_dir)

    def _prepare_dirs(self) -> None:
        """Create the folders and hand them to the cluster's user, socket dir private."""
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.socket_dir.chmod(0o700)
        if self.run_as:
            try:
                user = pwd.getpwnam(self.run_as)
            except KeyError:
                raise ClusterError(
                    f"system user {self.run_as} does not exist; create it with "
                    f"'useradd --system {self.run_as}' or set STATIONS_PG_USER"
                ) from None
            for path in (self.root, self.socket_dir):
                shutil.chown(path, user.pw_uid, user.pw_gid)
            if self.data_dir.exists():
                _chown_tree(self.data_dir, user.pw_uid, user.pw_gid)
            self._check_reachable()

    def _check_reachable(self) -> None:
        """The unprivileged user must be able to walk into the cluster folder."""
        probe = self._run(["test", "-w", str(self.root)], check=False)
        if probe.returncode != 0:
            raise ClusterError(
                f"user {self.run_as} cannot reach {self.root} (a parent folder is private); "
                "set STATIONS_VAR_DIR to a folder it can reach, e.g. /var/lib/stations"
            )

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        bin_dir = find_bin_dir()
        return self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/", check=False)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{Path(argv[0]).name} failed: " + _last_line(result.stderr or result.stdout)
            )
        return result


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a folder tree to a user, skipping the walk when it already owns the top."""
    if path.stat().st_uid == uid:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        shutil.chown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
