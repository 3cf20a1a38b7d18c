"""Superset over the lake, as a reproducible part (`make bi`): its own pinned environment, the DuckDB file of views,
the dashboards imported from YAML, and the server on 127.0.0.1.

Superset never enters the pipeline's environment (it needs SQLAlchemy 1.4, Prefect 2.0): it lives in its own venv,
installed by uv from deploy/bi/superset/requirements.lock (uv's wheel cache makes a rebuild take seconds), and is
driven here through its command line. Steps, each a function (tests/test_superset.py calls them one by one):

1. ``ensure_env``: the venv (rebuilt when the lock changes; a stamp holds the lock's hash);
2. ``build_database``: the DuckDB file with tasks/report/bi.py's views over the lake, the lake root written in (a folder or
   s3://bucket/prefix; the lake's expected_publishers table is written first when it is missing);
3. ``init_home``: a fresh metadata database (``superset db upgrade``, ``fab create-admin``, ``init``, in one process:
   deploy/bi/superset/bootstrap.py) with a generated secret key and admin password, and the dashboards imported:
   deploy/bi/superset/dashboards/ (YAML exported from Superset) zipped with the database URI pointed at the DuckDB
   file (``dashboards_zip``), then ``import-dashboards``; ``import_dashboards`` imports again into a running home;
5. ``serve``: gunicorn, 2 workers, on 127.0.0.1.

``python -m tasks.report.superset --lake data/demo/lake`` runs them all and prints the address, user and password once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SUPERSET_DIR = REPO / "deploy" / "bi" / "superset"
LOCK = SUPERSET_DIR / "requirements.lock"
CONFIG = SUPERSET_DIR / "superset_config.py"
DASHBOARDS_DIR = SUPERSET_DIR / "dashboards"
DEFAULT_VENV = REPO / ".venv-bi"
DEFAULT_WORKDIR = REPO / "data" / "bi"
DEFAULT_LAKE = REPO / "data" / "demo" / "lake"
DATABASE_NAME = "govreports"
ADMIN = "admin"
STAMP = ".govreports-lock-sha256"


class BIEnvError(RuntimeError):
    """The BI environment could not be built (no network to the registry, no uv, a failing install)."""


def _lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        raise BIEnvError("uv not found (make setup installs it into .venv)")
    return found


def env_ready(venv: Path = DEFAULT_VENV) -> bool:
    stamp = venv / STAMP
    return (venv / "bin" / "superset").exists() and stamp.exists() and stamp.read_text().strip() == _lock_hash()


def ensure_env(venv: Path = DEFAULT_VENV, *, log: Any = print) -> Path:
    """The Superset venv, exactly the locked set (``uv pip sync``). Returns its bin/ folder. About 150 packages:
    ~20 s from uv's cache, a few minutes from the registry."""
    if env_ready(venv):
        return venv / "bin"
    uv = _uv()
    started = time.monotonic()
    log(f"bi: building the Superset environment in {venv} from {LOCK.relative_to(REPO)}")
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True,
                           capture_output=True, text=True)
        subprocess.run([uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), "--compile-bytecode",
                        str(LOCK)], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise BIEnvError(f"could not build the Superset environment: {exc.stderr[-2000:]}") from exc
    (venv / STAMP).write_text(_lock_hash() + "\n")
    log(f"bi: environment ready in {time.monotonic() - started:.0f} s")
    return venv / "bin"


def build_database(lake: Any, database: Path, *, log: Any = print) -> Path:
    """The DuckDB file Superset reads: every view of tasks/report/bi.py with the lake root written in. Rebuilt whole (the
    views hold no data: new partitions show up without a rebuild)."""
    from tasks.report import bi
    from tasks.storage import Store

    store = lake if isinstance(lake, Store) else Store(lake)
    if not store.exists(bi.EXPECTED_PUBLISHERS_KEY):
        log(f"bi: writing {bi.EXPECTED_PUBLISHERS_KEY} (the lake has none yet)")
        bi.write_expected_publishers(store)
    database.parent.mkdir(parents=True, exist_ok=True)
    tmp = database.with_name(database.name + ".tmp")
    tmp.unlink(missing_ok=True)
    bi.connect(store, str(tmp)).close()
    tmp.replace(database)  # readers never see a half-built file
    return database


@dataclass(frozen=True)
class Home:
    path: Path
    secret_key: str
    password: str

    def env(self, lake: str | None = None) -> dict[str, str]:
        env = {**os.environ, "SUPERSET_CONFIG_PATH": str(CONFIG), "SUPERSET_HOME": str(self.path),
               "SUPERSET_SECRET_KEY": self.secret_key, "FLASK_APP": "superset", "PYTHONWARNINGS": "ignore",
               "SUPERSET_LOG_LEVEL": "warning"}
        if lake:
            env["GOVREPORTS_LAKE"] = lake
        env.pop("PYTHONPATH", None)
        return env


def _run(bin_dir: Path, args: list[str], home: Home, what: str) -> None:
    done = subprocess.run([str(bin_dir / "superset"), *args], env=home.env(), capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"superset {what} failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")


def init_home(bin_dir: Path, path: Path, database: Path | None = None, *, log: Any = print) -> Home:
    """A fresh Superset home: metadata database, admin user with a generated password, roles and permissions, and
    with `database` the dashboards imported, pointed at it. One process (deploy/bi/superset/bootstrap.py runs the
    CLI's commands in it: Superset is imported once, not once a command)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    home = Home(path, secrets.token_urlsafe(42), secrets.token_urlsafe(12))
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        args = [home.password]
        if database is not None:
            args.append(str(dashboards_zip(database, Path(tmp) / "dashboards.zip")))
        done = subprocess.run([str(bin_dir / "python"), str(SUPERSET_DIR / "bootstrap.py"), *args], env=home.env(),
                              capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Superset set-up failed ({done.returncode}): {(done.stdout + done.stderr)[-3000:]}")
    steps = ", ".join(line.removeprefix("bootstrap: superset ") for line in done.stderr.splitlines()
                      if line.startswith("bootstrap: "))
    log(f"bi: Superset set up in {time.monotonic() - started:.0f} s ({steps})")
    return home


def dashboards_zip(database: Path, target: Path, source: Path = DASHBOARDS_DIR) -> Path:
    """The exported YAML as the ZIP `superset import-dashboards` reads, the database URI set to `database`."""
    import yaml  # PyYAML: a pipeline dependency through prefect

    root = "dashboard_export"
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(source.rglob("*.yaml")):
            rel = path.relative_to(source).as_posix()
            text = path.read_text(encoding="utf-8")
            if rel.startswith("databases/"):
                doc = yaml.safe_load(text)
                doc["sqlalchemy_uri"] = f"duckdb:///{database.resolve()}"
                text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
            zf.writestr(f"{root}/{rel}", text)
    return target


def import_dashboards(bin_dir: Path, home: Home, database: Path, *, log: Any = print) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = dashboards_zip(database, Path(tmp) / "dashboards.zip")
        _run(bin_dir, ["import-dashboards", "-p", str(bundle), "-u", ADMIN], home, "import-dashboards")
    log(f"bi: imported {len(list((DASHBOARDS_DIR / 'dashboards').glob('*.yaml')))} dashboards from "
        f"{DASHBOARDS_DIR.relative_to(REPO)}")


def serve(bin_dir: Path, home: Home, port: int, *, lake: str | None = None, workers: int = 2,
          log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """gunicorn on 127.0.0.1:port (its own process group, so stopping it stops its workers)."""
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--workers", str(workers), "--timeout", "120", "--bind", f"127.0.0.1:{port}",
         "--limit-request-line", "0", "--limit-request-field_size", "0", "superset.app:create_app()"],
        env=home.env(lake), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Superset exited with {proc.returncode} before it answered")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Superset did not answer on {url}/health within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Superset with the govreports dashboards over a lake (make bi).")
    parser.add_argument("--lake", default=os.environ.get("GOVREPORTS_LAKE", str(DEFAULT_LAKE)),
                        help="lake root: a folder or s3://bucket/prefix (S3 settings from the environment, as the "
                             "pipeline reads them); default: the demo lake")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="the DuckDB file and Superset's home go here (default: data/bi)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--port", type=int, default=int(os.environ.get("SUPERSET_PORT", "8088")))
    parser.add_argument("--no-serve", action="store_true", help="set up and import, then exit")
    args = parser.parse_args(argv)
    from tasks.storage import Store

    started = time.monotonic()
    lake = Store(args.lake)
    if lake.is_local and not Path(lake.uri()).is_dir():
        parser.error(f"no lake at {args.lake} (run `make demo` first, or pass --lake / GOVREPORTS_LAKE)")
    try:
        bin_dir = ensure_env(args.venv)
    except BIEnvError as exc:
        print(f"bi: {exc}", file=sys.stderr)
        return 2
    database = build_database(args.lake, args.workdir / "govreports.duckdb")
    print(f"bi: DuckDB views over {Store.redact(lake.uri())} in {database}")
    home = init_home(bin_dir, args.workdir / "superset-home", database)
    if args.no_serve:
        print(f"bi: ready in {time.monotonic() - started:.0f} s (not serving)")
        return 0
    url = f"http://127.0.0.1:{args.port}"

    def terminate(signum: int, frame: Any) -> None:  # a service manager's SIGTERM stops the server like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    proc = serve(bin_dir, home, args.port, lake=lake.uri(), log_file=args.workdir / "superset.log")
    try:
        wait_healthy(url, proc)
        print(f"bi: Superset up in {time.monotonic() - started:.0f} s at {url}/dashboard/list/ "
              f"(log: {args.workdir / 'superset.log'})")
        print(f"bi: user {ADMIN}, password {home.password}   (generated now, shown once; Ctrl-C stops the server)")
        sys.stdout.flush()
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
