"""The export manifest: what was exported, its hashes, the chain heads, the link to the previous export.

The manifest is canonical JSON (sorted keys) and the Ed25519 signature over its exact bytes is stored
beside it (`manifest.json.sig`, base64), never inside it, so the signed bytes are the file's bytes.
Exports form a chain like CloudTrail digest files: each manifest names the SHA-256 and sequence of the
previous one, kept per key directory in `export_chain.json`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import duckdb

from crmguard.errors import BadInput

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY_COPY = "public_key.pem"
CHAIN_STATE = "export_chain.json"
FORMAT_VERSION = 1


def canonical_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_rows(con: duckdb.DuckDBPyConnection, path: Path, file_format: str) -> int:
    """Rows in an exported file, read the way an auditor's tool would (not trusted from the manifest)."""
    readers = {
        "parquet": "select count(*) from read_parquet(?)",
        "csv": "select count(*) from read_csv(?, header = true, all_varchar = true)",
    }
    if file_format in readers:
        return int(con.execute(readers[file_format], [str(path)]).fetchone()[0])
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def previous_link(key_directory: Path) -> dict | None:
    """The last export made with this key directory: its manifest hash, sequence and path."""
    path = key_directory / CHAIN_STATE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def record_link(key_directory: Path, manifest_sha256: str, manifest: dict, export_dir: Path) -> None:
    state = {"sha256": manifest_sha256, "sequence": manifest["sequence"], "export_id": manifest["export_id"],
             "path": str(export_dir / MANIFEST)}
    tmp = key_directory / (CHAIN_STATE + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True, indent=2) + "\n")
    tmp.replace(key_directory / CHAIN_STATE)


def sign_and_write(export_dir: Path, manifest: dict, sign: callable, public_pem: bytes) -> str:
    """Write manifest.json, its detached signature and the public key; return the manifest's SHA-256."""
    data = canonical_bytes(manifest)
    (export_dir / MANIFEST).write_bytes(data)
    (export_dir / SIGNATURE).write_bytes(base64.b64encode(sign(data)) + b"\n")
    (export_dir / PUBLIC_KEY_COPY).write_bytes(public_pem)
    return hashlib.sha256(data).hexdigest()


def read_manifest(export_dir: Path) -> tuple[bytes, dict]:
    path = export_dir / MANIFEST
    if not path.is_file():
        raise BadInput(f"{path}: no manifest.json in this directory (is it an export?)")
    data = path.read_bytes()
    try:
        return data, json.loads(data)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
