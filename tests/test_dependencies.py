"""Dependencies honest (issue 16): every third-party import of the package is declared in pyproject.toml, and the
runtime (flows, the parser, `govreports parse`) never imports the synthetic-data code or what only it needs."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import SAMPLES

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("flows", "tasks", "schemas")
# Extras a module may rely on: the synth extra only under tasks/synth/ (corpus generation), never the dev extra.
PACKAGE_EXTRAS = {"ocr": ("",), "synth": ("tasks/synth/",)}
# Modules the runtime must never load: the synthetic-data package and what only it, the tests or cpca brought.
NOT_IN_RUNTIME = ("tasks.synth", "hypothesis", "reportlab", "cpca", "pandas")


def _dist(requirement: str) -> str:
    """The normalised distribution name of a requirement (`pypdf[crypto]>=5` -> `pypdf`)."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group()).lower()


def third_party_imports(roots: tuple[str, ...] = FIRST_PARTY) -> dict[str, set[str]]:
    """Top-level module name -> the files importing it (lazy imports inside functions included)."""
    found: dict[str, set[str]] = {}
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in (*FIRST_PARTY, "__future__"):
                        continue
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def undeclared(pyproject: dict, imports: dict[str, set[str]]) -> list[str]:
    """The imports no declaration covers, as `module (distribution) in file` lines."""
    project = pyproject["project"]
    runtime = {_dist(r) for r in project["dependencies"]}
    extras = {extra: {_dist(r) for r in reqs} for extra, reqs in project.get("optional-dependencies", {}).items()}
    owners = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(imports.items()):
        dists = {_dist(d) for d in owners.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)}) is not installed: no distribution provides it"
        for file in sorted(files):
            allowed = set(runtime)
            for extra, prefixes in PACKAGE_EXTRAS.items():
                if file.startswith(prefixes):
                    allowed |= extras.get(extra, set())
            if not dists & allowed:
                missing.append(f"{module} ({', '.join(sorted(dists))}) in {file}")
    return missing


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_third_party_import_is_declared():
    imports = third_party_imports()
    assert {"polars", "ahocorasick", "reportlab"} <= set(imports)  # the scan sees lazy imports too
    assert undeclared(_pyproject(), imports) == []


def test_a_removed_declaration_is_caught():
    """Each declaration the package's imports need, taken out of pyproject.toml, makes the check fail."""
    imports = third_party_imports()
    owners = importlib.metadata.packages_distributions()
    used = {_dist(d) for module in imports for d in owners.get(module, [])}
    pyproject = _pyproject()
    project = pyproject["project"]
    checked = 0
    for req in project["dependencies"]:
        if _dist(req) not in used:
            continue  # a pin or a transitive constraint (fastapi, sqlalchemy, dask), not imported by name
        cut = dict(pyproject, project=dict(project, dependencies=[r for r in project["dependencies"] if r != req]))
        assert undeclared(cut, imports), f"removing {req!r} went unnoticed"
        checked += 1
    assert checked >= 15
    # an extra's package counts only where that extra applies: hypothesis (dev) in the package would be caught
    assert undeclared(pyproject, {**imports, "hypothesis": {"tasks/parse/divisions.py"}})
    assert undeclared(pyproject, {**imports, "reportlab": {"tasks/parse/documents.py"}})


RUNTIME_SCRIPT = r"""
import json, sys
import flows.pipeline, flows.cli, tasks.parse.documents
from flows.cli import main
forbidden, files = json.loads(sys.argv[1]), sys.argv[2:]
rc = main(["parse", "--json", *files])
bad = sorted(m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in forbidden))
print(json.dumps({"rc": rc, "bad": bad}), file=sys.stderr)
"""


def test_the_runtime_never_imports_synthetic_data_code():
    """A fresh interpreter imports the flows and the parser and runs `govreports parse` on shared samples (text,
    HTML, PDF): nothing of tasks.synth, hypothesis, reportlab, cpca or pandas is loaded."""
    files = sorted(str(p) for p in (SAMPLES / "seeds").glob("*.txt"))[:3] + sorted(
        str(p) for p in (SAMPLES / "real").glob("*") if p.suffix in (".pdf", ".html", ".txt"))[:4]
    assert len(files) >= 4
    proc = subprocess.run([sys.executable, "-c", RUNTIME_SCRIPT, json.dumps(NOT_IN_RUNTIME), *files],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert len(proc.stdout.strip().splitlines()) == len(files)
    assert all(json.loads(line)["layout"] for line in proc.stdout.strip().splitlines())
    assert result["bad"] == []


def test_generate_and_demo_say_what_to_install_without_the_synth_extra(monkeypatch, tmp_path, capsys):
    import tasks.synth.corpus as corpus
    from flows.cli import main

    real = corpus.find_spec
    monkeypatch.setattr(corpus, "find_spec", lambda name: None if name == "reportlab" else real(name))
    assert main(["generate", "--reports", "3", "--dest", str(tmp_path / "corpus")]) == 2
    assert "pip install 'govreports[synth]'" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())
    assert main(["demo", "--reports", "3", "--workdir", str(tmp_path / "demo")]) == 2
    assert "reportlab (the synth extra)" in capsys.readouterr().err
    assert main(["generate", "--reports", "3", "--dest", str(tmp_path / "text"), "--text-only"]) == 0
    assert len(list((tmp_path / "text").rglob("*.*"))) >= 3
