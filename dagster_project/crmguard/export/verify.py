"""`crmguard export verify DIR...`: prove an export is exactly what was signed, and in chain order.

Checks, each naming what is wrong: the detached Ed25519 signature over manifest.json's exact bytes
(catches an edited, reordered or foreign manifest), every listed file's SHA-256 and row count (a
flipped byte, a truncation), files missing or not listed (removed, added, renamed: a missing file and
an unlisted one with the same hash is reported as a rename), and the link to the previous manifest
(given in order on the command line, or found at the recorded path).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

import duckdb
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crmguard.export import keys, manifest

_OWN_FILES = {manifest.MANIFEST, manifest.SIGNATURE, manifest.PUBLIC_KEY_COPY}


def _signature_findings(export_dir: Path, data: bytes, public_key: Ed25519PublicKey) -> list[str]:
    sig_path = export_dir / manifest.SIGNATURE
    if not sig_path.is_file():
        return [f"{manifest.SIGNATURE} is missing: the manifest is unsigned"]
    try:
        public_key.verify(base64.b64decode(sig_path.read_bytes().strip(), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        return [f"signature does not match {manifest.MANIFEST} (the manifest was edited, reordered or "
                "swapped, or signed by another key)"]
    return []


def _file_findings(con: duckdb.DuckDBPyConnection, export_dir: Path, body: dict) -> list[str]:
    findings: list[str] = []
    listed = {entry["path"]: entry for entry in body.get("files", [])}
    present = {p.name for p in export_dir.iterdir() if p.is_file()} - _OWN_FILES
    unlisted = {name: manifest.file_sha256(export_dir / name) for name in sorted(present - set(listed))}
    for name, entry in sorted(listed.items()):
        path = export_dir / name
        if not path.is_file():
            renamed = [u for u, digest in unlisted.items() if digest == entry["sha256"]]
            if renamed:
                findings.append(f"{name} was renamed to {renamed[0]}")
                unlisted.pop(renamed[0])
            else:
                findings.append(f"{name} is missing (removed)")
            continue
        digest = manifest.file_sha256(path)
        if digest != entry["sha256"]:
            size = path.stat().st_size
            how = "truncated" if size < entry.get("bytes", size + 1) else "altered"
            findings.append(f"{name} was {how}: sha256 {digest[:16]}... != signed {entry['sha256'][:16]}... "
                            f"({size} bytes, signed {entry.get('bytes')})")
        rows = _rows_or_none(con, path, body.get("format", ""))
        if rows != entry["rows"]:
            findings.append(f"{name}: {rows if rows is not None else 'unreadable'} rows, signed {entry['rows']}")
    findings.extend(f"{name} is not in the manifest (added or renamed)" for name in sorted(unlisted))
    return findings


def _rows_or_none(con: duckdb.DuckDBPyConnection, path: Path, file_format: str) -> int | None:
    try:
        return manifest.count_rows(con, path, file_format if file_format != "ocsf" else "jsonl")
    except duckdb.Error:
        return None


def _link_findings(body: dict, previous_dir: Path | None) -> list[str]:
    link = body.get("previous_manifest")
    if previous_dir is None:
        return []
    prev_path = previous_dir / manifest.MANIFEST
    if link is None:
        return [f"the manifest names no previous export, but {previous_dir} precedes it"]
    if not prev_path.is_file():
        return [f"previous export {previous_dir} has no {manifest.MANIFEST}"]
    data = prev_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != link["sha256"]:
        return [f"link to previous export broken: {prev_path} is not the manifest this one follows "
                f"(exports out of order, or the previous manifest was replaced)"]
    try:
        prev_seq = json.loads(data).get("sequence")
    except json.JSONDecodeError:
        prev_seq = None
    if prev_seq is not None and prev_seq + 1 != body.get("sequence"):
        return [f"sequence {body.get('sequence')} does not follow previous sequence {prev_seq}"]
    return []


def verify_export(con: duckdb.DuckDBPyConnection, export_dir: Path, public_key: Ed25519PublicKey,
                  previous_dir: Path | None = None) -> dict:
    """All findings for one export directory (empty list: the export is intact)."""
    if not export_dir.is_dir():
        return {"dir": str(export_dir), "ok": False, "findings": [f"{export_dir} is not a directory"]}
    path = export_dir / manifest.MANIFEST
    if not path.is_file():
        return {"dir": str(export_dir), "ok": False, "findings": [f"{manifest.MANIFEST} is missing"]}
    data = path.read_bytes()
    findings = _signature_findings(export_dir, data, public_key)
    try:
        body = json.loads(data)
    except json.JSONDecodeError as exc:
        findings.append(f"{manifest.MANIFEST}: line {exc.lineno}: not valid JSON ({exc.msg})")
        return {"dir": str(export_dir), "ok": False, "findings": findings}
    findings += _file_findings(con, export_dir, body)
    findings += _link_findings(body, previous_dir)
    copy = export_dir / manifest.PUBLIC_KEY_COPY
    if copy.is_file() and copy.read_bytes() != keys.public_pem(public_key):
        findings.append(f"{manifest.PUBLIC_KEY_COPY} in the export is not the pinned public key")
    return {"dir": str(export_dir), "ok": not findings, "findings": findings,
            "sequence": body.get("sequence"), "files": len(body.get("files", [])),
            "rows": sum(f.get("rows", 0) for f in body.get("files", []))}


def verify_exports(export_dirs: list[Path], public_key_path: Path) -> dict:
    """Verify each export; given several, each must link to the one before it (chain order)."""
    public_key = keys.load_public_key(public_key_path)
    con = duckdb.connect()
    try:
        results = [verify_export(con, d, public_key, export_dirs[i - 1] if i else None)
                   for i, d in enumerate(export_dirs)]
    finally:
        con.close()
    return {"ok": all(r["ok"] for r in results), "exports": results, "public_key": str(public_key_path)}
