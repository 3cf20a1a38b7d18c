"""The data dictionary: docs/data-dictionary.md is exactly what schemas/ declares, and documents every column."""

from __future__ import annotations

from pathlib import Path

from schemas import dictionary
from schemas.tables import CROSS_YEAR_FINDINGS, FAILURES, TABLES

REPO = Path(__file__).resolve().parents[1]


def _section(text: str, table: str) -> str:
    start = text.index(f"### `{table}`")
    end = text.find("\n### ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_file_on_disk_matches_the_declarations():
    on_disk = dictionary.DOC_PATH.read_text(encoding="utf-8") if dictionary.DOC_PATH.exists() else ""
    assert on_disk == dictionary.render(), (
        f"{dictionary.DOC_PATH.relative_to(REPO)} is out of date with schemas/: regenerate it with "
        f"`{dictionary.REGENERATE}` and commit the result")


def test_every_column_of_every_table_appears_in_its_section():
    text = dictionary.render()
    tables = dictionary.all_tables()
    assert {t.name for t in tables} >= {*TABLES, FAILURES.name, CROSS_YEAR_FINDINGS.name, "state", "runs"}
    for table in tables:
        section = _section(text, table.name)
        assert table.description in section
        for column in table.columns:
            row = next((line for line in section.splitlines() if line.startswith(f"| `{column.name}` |")), None)
            assert row is not None, f"{table.name}.{column.name} missing from the dictionary"
            assert f"| {dictionary.dtype_name(column.dtype)} |" in row
            assert f"| {'yes' if column.nullable else 'no'} |" in row
            assert column.description.replace("|", "\\|") in row
            assert column.source.replace("|", "\\|") in row


def test_partition_keys_are_marked_as_living_in_the_path():
    section = _section(dictionary.render(), "applications")
    year = next(line for line in section.splitlines() if line.startswith("| `year` |"))
    assert "path (partition key)" in year
    assert "applications/year=YYYY/admin_level=LEVEL/part-0.parquet" in section
    assert "failures/<run_id>.parquet" in _section(dictionary.render(), "failures")
    # the state holds year and admin_level as columns of its one object, not in a path
    state = _section(dictionary.render(), "state")
    assert "_state/processed.parquet" in state
    year = next(line for line in state.splitlines() if line.startswith("| `year` |"))
    assert "| int32 |" in year and "path (partition key)" not in year


def test_grains_are_the_declared_tuples():
    """The grain the dictionary states is the one the lake checks: findings' includes the message."""
    text = dictionary.render()
    assert "- grain (one row per): `report_id, rule, field, message`" in _section(text, "findings")
    for table in dictionary.all_tables():
        assert f"- grain (one row per): `{', '.join(table.grain)}`" in _section(text, table.name)


def test_codes_list_every_row_key_and_item():
    from schemas import form

    text = dictionary.render()
    for version in form.FORMAT_VERSIONS:
        for row in form.APPLICATION_ROWS[version]:
            assert f"| `{row.key}` |" in text
        for item in form.ACTIVE_DISCLOSURE[version]:
            assert f"| {version} | `{item.key}` |" in text


def test_check_mode_reports_drift(tmp_path, capsys):
    stale = tmp_path / "dd.md"
    stale.write_text("old\n", encoding="utf-8")
    assert dictionary.main(["--output", str(stale), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert dictionary.main(["--output", str(stale)]) == 0
    assert dictionary.main(["--output", str(stale), "--check"]) == 0


def test_readme_links_the_dictionary():
    assert "docs/data-dictionary.md" in (REPO / "README.md").read_text(encoding="utf-8")
