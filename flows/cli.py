"""The `govreports` command line: parse files, run the nightly flow, backfill years, generate a corpus."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


JSON_KEYS = ("source", "year", "format_version", "organ", "admin_level", "province", "published_date", "index_number",
             "layout", "active_disclosure", "applications", "review_litigation", "findings")


def cmd_parse(args: argparse.Namespace) -> int:
    from tasks.extract import finding
    from tasks.parse import Document, parse_documents, parse_sidecar

    docs: list[Document] = []
    unreadable: dict[int, str] = {}
    for i, p in enumerate(args.files):
        try:
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            unreadable[i] = f"{type(exc).__name__}: {exc.strerror or exc}"
            docs.append(Document(source=p, data=b""))
            continue
        try:
            with open(p + ".meta.json", "rb") as fh:
                meta, _ = parse_sidecar(fh.read())
        except OSError:
            meta = None
        docs.append(Document(source=p, data=data, meta=meta))
    batch = parse_documents(docs)
    out = sys.stdout
    for i, rec in enumerate(batch.records):
        if i in unreadable:
            rec = dict(rec, findings=[finding("unreadable_file", f"cannot read the file: {unreadable[i]}")])
        line = {k: rec.get(k) for k in JSON_KEYS}
        if args.json:
            out.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
        else:
            rules = ", ".join(sorted({f["rule"] for f in line["findings"]})) or "no findings"
            out.write(f"{rec['source']}: {line['year']} {line['format_version']} {line['organ']} ({line['admin_level']}) "
                      f"[{line['layout']}] — {rules}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="govreports", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse report files and print what they say")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object a line per file")
    p.set_defaults(func=cmd_parse)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
