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

import contextlib
import fcntl
import hashlib
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stations import settings
from stations.errors import ClusterError

LOGGER = logging.getLogger(__name__)

SUPERUSER = "stations"
INSTALL_HINT = (
    "PostgreSQL with PostGIS is not installed; run ./run setup, or: sudo apt-get install -y "
    "postgresql postgresql-NN-postgis-3 (NN: the PostgreSQL major version, 15 on Debian 12)"
)
# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100


def find_bin_dir(major: str | None = None) -> Path:
    """The folder holding ``initdb`` and ``pg_ctl`` of a PostgreSQL that has PostGIS.

    ``major`` pins the version an existing cluster was made with: a newer PostgreSQL
    installed later cannot start it.
    """
    override = settings.get("STATIONS_PG_BIN")
    candidates = [Path(override)] if override else _debian_bin_dirs()
    if major and not override:
        candidates = [c for c in candidates if c.parent.name == major]
    for bin_dir in candidates:
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            if override or _has_postgis(bin_dir):
                return bin_dir
    if major and not override:
        raise ClusterError(
            f"the embedded cluster was made with PostgreSQL {major}, which is not installed "
            f"(with PostGIS); run: sudo apt-get install -y postgresql-{major} "
            f"postgresql-{major}-postgis-3"
        )
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
    shared_buffers: str | None = None  # None: PostgreSQL's own default

    @classmethod
    def from_settings(cls) -> Cluster:
        """The project's cluster as the environment configures it.

        As root, when the unprivileged user cannot reach the project (a checkout under
        ``/root``, say), the cluster lives in ``/var/lib/stations`` instead.
        """
        var_dir = Path(settings.path("STATIONS_VAR_DIR")).resolve()
        run_as = settings.get("STATIONS_PG_USER") if os.geteuid() == 0 else None
        root = var_dir / "pg"
        if run_as and not _reachable_by(run_as, var_dir):
            digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
            root = Path("/var/lib/stations") / f"pg-{digest}"
        return cls(
            root,
            settings.value("STATIONS_PG_PORT"),
            run_as,
            settings.get("STATIONS_PG_SHARED_BUFFERS"),
        )

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
        with self._locked():
            state = self.status()
            if state == "running":
                return False
            if state == "absent":
                self._initdb(find_bin_dir())
            self._prepare_dirs()
            return self._start()

    def _start(self) -> bool:
        # pg_ctl hands -o to a shell: quote the socket folder (the checkout may have spaces)
        options = f"-k {shlex.quote(str(self.socket_dir))} -p {self.port} -c listen_addresses=''"
        if self.shared_buffers:
            options += f" -c shared_buffers={shlex.quote(self.shared_buffers)}"
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
        with self._locked():
            if self.status() != "running":
                return False
            self._pg_ctl("stop", "-w", "-t", "120", "-m", "fast")
            return True

    def standby(self, root: Path, port: int) -> Cluster:
        """A streaming replica of this running cluster in ``root``, made on first use.

        ``pg_basebackup -R`` copies the data over the replication protocol and writes the
        standby settings, so the copy follows every change the primary makes. Start it
        with ``up()``; it answers reads only. A way to try read replicas on one machine,
        and the tests' real replica.
        """
        replica = Cluster(root, port, self.run_as, self.shared_buffers)
        with replica._locked():
            if replica.status() == "absent":
                replica._prepare_dirs()
                scratch = root / "data.basebackup"
                shutil.rmtree(scratch, ignore_errors=True)
                self._run(
                    [
                        str(self._bin_dir() / "pg_basebackup"),
                        "-D",
                        str(scratch),
                        "-h",
                        str(self.socket_dir),
                        "-p",
                        str(self.port),
                        "-U",
                        SUPERUSER,
                        "-X",
                        "stream",
                        "-R",  # standby.signal and primary_conninfo
                        "-c",
                        "fast",
                    ]
                )
                scratch.rename(replica.data_dir)
        return replica

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up`` or ``down`` at a time (two shells, or test workers, may race)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    # -- internals -------------------------------------------------------------------

    def _initdb(self, bin_dir: Path) -> None:
        """Initialise into a scratch folder and rename: a crash leaves no half cluster."""
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = self.root / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)  # absent means no PG_VERSION
        self._prepare_dirs()
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(scratch),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                # byte-order collation: fast btree on codes; C.UTF-8 classifies characters
                "--lc-collate=C",
                "--lc-ctype=C.UTF-8",
            ]
        )
        scratch.rename(self.data_dir)
        LOGGER.info("initialised embedded PostgreSQL cluster in %s", self.data_dir)

    def _prepare_dirs(self) -> None:
        """Create the folders and hand them to the cluster's user, socket dir private."""
        user = None
        if self.run_as:
            try:
                user = pwd.getpwnam(self.run_as)
            except KeyError:
                raise ClusterError(
                    f"system user {self.run_as} does not exist; create it with "
                    f"'useradd --system {self.run_as}' or set STATIONS_PG_USER"
                ) from None
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        _check_private(self.socket_dir, {os.geteuid()} | ({user.pw_uid} if user else set()))
        self.socket_dir.chmod(0o700)
        if user:
            for path in (self.root, self.socket_dir):
                shutil.chown(path, user.pw_uid, user.pw_gid)
            if self.data_dir.exists():
                _chown_tree(self.data_dir, user.pw_uid, user.pw_gid)
            self._check_reachable()

    def _check_reachable(self) -> None:
        """The unprivileged user must be able to walk into the cluster folder."""
        if self.run_as and not _reachable_by(self.run_as, self.root):
            raise ClusterError(
                f"user {self.run_as} cannot reach {self.root} (a parent folder is private); "
                "set STATIONS_VAR_DIR to a folder it can reach, e.g. /var/lib/stations"
            )

    def _bin_dir(self) -> Path:
        """The PostgreSQL programs of the version this cluster's data was made with."""
        version = self.data_dir / "PG_VERSION"
        return find_bin_dir(version.read_text().strip() if version.exists() else None)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self._bin_dir() / "pg_ctl"), "-D", str(self.data_dir), *args]
        return self._run(argv, check=check)

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.run_as:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/", check=False)
        if check and result.returncode != 0:
            raise ClusterError(
                f"{Path(argv[0]).name} failed: " + _last_line(result.stderr or result.stdout)
            )
        return result


def _reachable_by(user: str, folder: Path) -> bool:
    """True when ``user`` can walk into ``folder`` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(probe)], capture_output=True, check=False
    )
    return result.returncode == 0


def _check_private(folder: Path, owners: set[int]) -> None:
    """Refuse a socket folder someone else made (a fallback in /tmp could be planted)."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in owners:
        raise ClusterError(f"{folder} is not a folder of ours; remove it and try again")


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
