"""Parsing: bytes → text, attachments, HTML, metadata, tables, cells, the batch reader, OCR."""
