"""Superset's set-up in one process (run by the BI venv's python; tasks/report/superset.py calls it): `superset db upgrade`,
`fab create-admin`, `init` and, given a bundle, `import-dashboards`, as the CLI runs them, but importing Superset
once instead of once a command (each start imports pandas, SQLAlchemy, Flask-AppBuilder …: seconds on a busy
machine). Arguments: admin password, then optionally the dashboards ZIP."""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    from superset.cli.main import superset as cli

    password, bundle = argv[0], (argv[1] if len(argv) > 1 else None)
    steps = [["db", "upgrade"],
             ["fab", "create-admin", "--username", "admin", "--firstname", "govreports", "--lastname", "admin",
              "--email", "admin@localhost", "--password", password],
             ["init"]]
    if bundle:
        steps.append(["import-dashboards", "-p", bundle, "-u", "admin"])
    for step in steps:
        started = time.monotonic()
        try:
            cli.main(args=step, prog_name="superset", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                print(f"bootstrap: superset {step[0]} failed ({exc.code})", file=sys.stderr)
                return int(exc.code) if isinstance(exc.code, int) else 1
        print(f"bootstrap: superset {' '.join(step[:2]) if step[0] == 'fab' else step[0]} "
              f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
