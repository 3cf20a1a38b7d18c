#!/bin/sh
# Superset's start in the container (Dockerfile beside this file): metadata database up to date, the admin user
# (created once, from SUPERSET_ADMIN_PASSWORD), roles, the govreports dashboards imported from YAML (charts are
# matched by uuid: a restart updates them, never duplicates), then gunicorn with 2 workers.
set -eu
: "${SUPERSET_SECRET_KEY:?set SUPERSET_SECRET_KEY (a long random string, kept: it encrypts stored secrets)}"
: "${SUPERSET_ADMIN_PASSWORD:?set SUPERSET_ADMIN_PASSWORD}"
GOVREPORTS_DUCKDB="${GOVREPORTS_DUCKDB:-/bi/govreports.duckdb}"
[ -f "$GOVREPORTS_DUCKDB" ] || { echo "no DuckDB file at $GOVREPORTS_DUCKDB (the bi-views service builds it)" >&2; exit 1; }

superset db upgrade
superset fab create-admin --username "${SUPERSET_ADMIN_USER:-admin}" --firstname govreports --lastname admin \
    --email "${SUPERSET_ADMIN_EMAIL:-admin@localhost}" --password "$SUPERSET_ADMIN_PASSWORD" || true  # exists: kept
superset init
python - "$GOVREPORTS_DUCKDB" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "/opt/superset")
from govreports_superset import dashboards_zip
dashboards_zip(Path(sys.argv[1]), Path("/tmp/govreports-dashboards.zip"), Path("/opt/superset/dashboards"))
PY
superset import-dashboards -p /tmp/govreports-dashboards.zip -u "${SUPERSET_ADMIN_USER:-admin}"
exec gunicorn --workers "${SUPERSET_WORKERS:-2}" --timeout 120 --bind 0.0.0.0:8088 \
    --limit-request-line 0 --limit-request-field_size 0 "superset.app:create_app()"
