# CI runs these targets verbatim (.ci/run calls `make test`).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
SHARED ?= ../shared
DEMO_DIR ?= data/demo
DEMO_REPORTS ?= 3000

export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=90
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required

.PHONY: setup demo test test-fast lint score bench-parse bench bench-text bench-hostile bench-ocr bench-ocr-scaling clean docs browser fonts bi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==0.13.9"

# Installs exactly the locked set (uv.lock) into .venv, the project editable. Bytecode is compiled at install: uv
# leaves it out, and where PYTHONDONTWRITEBYTECODE is set (as on this machine) every process would compile every
# module it imports, every time (a task worker's start-up, matplotlib in the post-run step: seconds each).
setup: $(BIN)/python fonts
	$(UV) sync --frozen --extra dev --extra ocr --extra synth --python $(BIN)/python --compile-bytecode
	$(BIN)/python -m compileall -q flows tasks schemas

# The main job on the embedded default (local folders).
demo: setup
	$(BIN)/govreports demo --reports $(DEMO_REPORTS) --workdir $(DEMO_DIR) --shared $(SHARED)

test: setup browser
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check flows tasks schemas tests

score: setup
	$(BIN)/python $(SHARED)/tools/score_parse.py --labels $(SHARED)/samples/expected --raw $(SHARED)/samples -- $(BIN)/govreports parse --json

bench-parse: setup
	$(BIN)/python -m tests.bench.bench_parse

# The pipeline end to end: 20,000 reports of the realistic mix with OCR off and the pypdf ratio (issue 15), then
# 2,000 with OCR off and on (issue 17: scans landed, values right/null/wrong, text throughput), then SeaweedFS.
bench: setup
	$(BIN)/python -m tests.bench.bench_pipeline

# The 100,000-report text-only run (orchestration share, memory, no-op rerun), then SeaweedFS.
bench-text: setup
	BENCH_TEXT_ONLY=1 $(BIN)/python -m tests.bench.bench_pipeline

# Every hostile input of tests/hostile.py parsed alone under the default per-file budget: seconds, peak MiB, outcome
bench-hostile: setup
	$(BIN)/python -m tests.bench.bench_hostile
# Scanned reports (the ocr extra): accuracy over every shared sample in every scan variant, seconds a page, the
# engine's share; `--compare` (rapidocr against tesseract) and `--malloc N` (Dask's allocator setting) by hand.
bench-ocr: setup
	$(BIN)/python -m tests.bench.bench_ocr

# A folder of 12 scans read by the nightly flow on a Dask LocalCluster, 1 against 2 workers, 3 interleaved rounds
bench-ocr-scaling: setup
	$(BIN)/python -m tests.bench.bench_ocr --scaling 12 --rounds 3

# The data dictionary (docs/data-dictionary.md) and the BI views (deploy/bi/views.sql), both generated from schemas/;
# tests fail when either drifts.
docs: setup
	$(BIN)/python -m schemas.dictionary
	$(BIN)/python -m tasks.report.bi --write-views

# Superset over the lake (deploy/bi/superset/): its own pinned venv (.venv-bi, from requirements.lock; never in
# uv.lock), the DuckDB file of views over BI_LAKE (a folder or s3://bucket/prefix, S3 settings from the environment
# as the pipeline reads them), the three dashboards imported from YAML, Superset on 127.0.0.1:BI_PORT with a
# generated secret key and admin password, printed once. Ctrl-C stops it. Production: deploy/bi/superset/README.md.
BI_LAKE ?= $(DEMO_DIR)/lake
BI_PORT ?= 8088
bi: setup
	$(BIN)/python -m tasks.report.superset --lake $(BI_LAKE) --port $(BI_PORT)

# Headless Chromium, which tests/test_quality.py uses to render the data-quality report: the Debian package,
# installed only when $(CHROMIUM) is absent (as root, or through sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser: $(CHROMIUM) present"; \
	else \
		echo "browser: installing chromium (apt-get; about 30 s)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null && \
		test -x "$(CHROMIUM)" || { echo "browser: could not install chromium; tests/test_quality.py will fail" >&2; exit 1; }; \
	fi

# Chinese fonts (Debian's packages, as root or through sudo), installed only when absent: the corpus generator
# draws PDF attachments with an embedded CJK subset font (WenQuanYi Micro Hei, TrueType), and headless Chromium
# needs CJK glyphs (Noto CJK) to render Chinese labels instead of empty boxes. Nothing downloads at run time.
CJK_FONT ?= /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
NOTO_CJK ?= /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
fonts:
	@if [ -f "$(CJK_FONT)" ] && [ -f "$(NOTO_CJK)" ]; then \
		echo "fonts: CJK fonts present"; \
	else \
		echo "fonts: installing fonts-wqy-microhei fonts-noto-cjk (apt-get)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends fonts-wqy-microhei fonts-noto-cjk >/dev/null && \
		test -f "$(CJK_FONT)" || { echo "fonts: could not install the CJK fonts" >&2; exit 1; }; \
	fi

clean:
	rm -rf $(VENV) .venv-bi data .pytest_cache
