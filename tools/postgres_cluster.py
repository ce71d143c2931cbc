"""Start (or stop) a throwaway PostgreSQL cluster for the store's tests, and print its URL.

    python tools/postgres_cluster.py start DIR   # initdb into DIR, start on a unix socket in DIR
    python tools/postgres_cluster.py stop DIR

Uses the distribution's server binaries (``initdb``/``pg_ctl`` on PATH, else the newest
``/usr/lib/postgresql/*/bin``). The server listens on a unix socket in DIR only (no TCP), trusts
local connections and runs as the current user, or as the ``postgres`` user through
``runuser`` when run as root (PostgreSQL refuses to run as root). ``.ci/run`` and the tests'
fixture (``tests/conftest.py``) both use it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["binaries", "start", "stop"]


def binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name or 0))
    return Path(dirs[-1]) if dirs else None


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}")


def start(directory: str | Path) -> str:
    """Create and start a cluster in ``directory``; return its SQLAlchemy URL."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL is not installed: install the distribution's package (apt-get install -y postgresql) "
            "or set COCM_TEST_POSTGRES_URL to a server to test against"
        )
    base = Path(directory).resolve()
    data, sock = base / "data", base / "socket"
    base.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o755)  # noqa: S103 - the server user must reach the socket
    port = _free_port()
    _run(_as_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]))
    options = f"-c listen_addresses='' -c unix_socket_directories={sock} -p {port} -c fsync=off"
    _run(
        _as_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start"]
        )
    )
    return f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"


def stop(directory: str | Path) -> None:
    """Stop the cluster started in ``directory`` (fast shutdown)."""
    bin_dir = binaries()
    data = Path(directory).resolve() / "data"
    if bin_dir is not None and data.exists():
        subprocess.run(  # noqa: S603 - fixed arguments
            _as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: postgres_cluster.py start|stop DIR")
    if sys.argv[1] == "start":
        print(start(sys.argv[2]))
    else:
        stop(sys.argv[2])
