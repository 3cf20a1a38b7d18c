"""What one document's extraction yields (`Extracted`, the record and its findings) and the finding row every step appends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Extracted:
    """What one document yields before validation; `record` has the shape of shared/samples/expected/*.json."""

    record: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    layout: str | None = None
    title: str | None = None
    organ_context: str = ""
    supported: bool = True
    organ_missing: bool = False  # no title, page metadata, signature or compiler's sentence names the organ


def finding(rule: str, message: str, *, severity: str = "error", table: str | None = None, row: str | None = None,
            column: str | None = None, field_: str | None = None, expected: Any = None, actual: Any = None) -> dict[str, Any]:
    return {
        "rule": rule, "severity": severity, "table": table, "row": row, "column": column, "field": field_,
        "expected": None if expected is None else str(expected), "actual": None if actual is None else str(actual),
        "message": message,
    }
