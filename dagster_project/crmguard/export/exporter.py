"""`crmguard export audit`: write the audit tables of a time window, a manifest and its signature.

Rows leave the warehouse through DuckDB `COPY` (pseudonymization is part of the same SELECT), so the
export costs little more than a bare copy: the extra work is one SHA-256 pass over each written file
and a small manifest. The chain heads come from the latest seal; the export refuses to certify a
window whose row counts no longer match the seal (run `crmguard audit verify` to see why).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crmguard import __version__
from crmguard.errors import BadInput, CheckFailed
from crmguard.export import keys, manifest, ocsf, pseudonymize
from crmguard.export.chain import day_sql, ensure_schema, latest_seal
from crmguard.export.registry import REGISTRY, AuditTable, present_tables
from crmguard.warehouse import quote_ident, table_exists

FORMATS = ("parquet", "csv", "jsonl", "ocsf")
_COPY_OPTIONS = {"parquet": "FORMAT parquet, COMPRESSION zstd", "csv": "FORMAT csv, HEADER true",
                 "jsonl": "FORMAT json", "ocsf": "FORMAT json"}
_EXTENSION = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl", "ocsf": "jsonl"}
OCSF_FILE = "ocsf_api_activity.jsonl"


@dataclass(frozen=True)
class ExportRequest:
    """One export: the window [start, end) in naive UTC, the format, where to, whose keys, and the
    compliance user when personal data is exported in clear."""

    start: dt.datetime
    end: dt.datetime
    file_format: str
    out: Path
    key_dir: Path
    include_pii_as: str | None = None


def _window_sql(column: str, request: ExportRequest) -> str:
    return (f"{column} >= timestamp '{request.start.isoformat(sep=' ')}' "
            f"and {column} < timestamp '{request.end.isoformat(sep=' ')}'")


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"{out}: the export directory must be new or empty (an export is never overwritten)")
    out.mkdir(parents=True, exist_ok=True)


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, file_format: str) -> int:
    quoted = str(path).replace("'", "''")
    return int(con.execute(f"COPY ({select}) TO '{quoted}' ({_COPY_OPTIONS[file_format]})").fetchone()[0])


def _table_select(table: AuditTable, columns: list[str], request: ExportRequest) -> str:
    replace = {} if request.include_pii_as else pseudonymize.replacements(table, columns)
    star = "*" if not replace else "* replace (" + ", ".join(f"{e} as {quote_ident(c)}" for c, e in replace.items()) + ")"
    return f"select {star} from {table.relation} where {_window_sql(quote_ident(table.time_column), request)}"


def _write_tables(con: duckdb.DuckDBPyConnection, tables: list[tuple[AuditTable, list[str]]],
                  request: ExportRequest) -> list[dict]:
    files = []
    for table, columns in tables:
        name = f"{table.name}.{_EXTENSION[request.file_format]}"
        rows = _copy(con, _table_select(table, columns, request), request.out / name, request.file_format)
        files.append({"path": name, "table": table.name, "rows": rows})
    return files


def _write_ocsf(con: duckdb.DuckDBPyConnection, request: ExportRequest) -> list[dict]:
    select, covered = ocsf.events_sql(con, _window_sql("{t}", request))
    path = request.out / OCSF_FILE
    if select is None:
        path.write_bytes(b"")
        rows = 0
    else:
        rows = _copy(con, select, path, "ocsf")
    return [{"path": OCSF_FILE, "table": "ocsf.api_activity", "rows": rows, "sources": covered}]


def _chain_section(con: duckdb.DuckDBPyConnection, tables: list[tuple[AuditTable, list[str]]],
                   request: ExportRequest) -> dict:
    """The sealed day heads of the window's days; refuses if live row counts no longer match the seal."""
    seal_id = latest_seal(con)
    if seal_id is None:
        raise BadInput("the audit chain has not been sealed yet: run `crmguard audit seal` after `crmguard build`")
    section: dict = {"seal_id": seal_id, "tables": {}}
    first_day, last_day = request.start.date(), (request.end - dt.timedelta(microseconds=1)).date()
    for table, _ in tables:
        heads = con.execute(
            "select day, row_count, head_hash from audit.day_heads where seal_id = ? and table_name = ? "
            "and day between ? and ? order by day",
            [seal_id, table.name, first_day, last_day],
        ).fetchall()
        live = dict(con.execute(
            f"select {day_sql(table)} as day, count(*) from {table.relation} "
            f"where {day_sql(table)} between ? and ? group by all",
            [first_day, last_day],
        ).fetchall())
        sealed = {d: n for d, n, _ in heads}
        if live != sealed:
            changed = sorted(set(live) ^ set(sealed) | {d for d in live if live[d] != sealed.get(d)})
            raise CheckFailed(f"{table.name}: rows on {changed[0]} differ from the sealed chain; run "
                              "`crmguard audit verify` (and re-seal only after an explained rebuild)")
        section["tables"][table.name] = {
            "days": [{"day": d.isoformat(), "rows": n, "head": h} for d, n, h in heads],
            "head": heads[-1][2] if heads else None,
        }
    return section


def _policy_version(con: duckdb.DuckDBPyConnection) -> str | None:
    if not table_exists(con, "main", "fct_policy_verdicts"):
        return None
    has = con.execute("select count(*) from information_schema.columns where table_name = 'fct_policy_verdicts' "
                      "and column_name = 'policy_version'").fetchone()[0]
    if not has:
        return None
    return con.execute("select string_agg(distinct policy_version, ',' order by policy_version) "
                       "from main.fct_policy_verdicts").fetchone()[0]


def authorize_pii(con: duckdb.DuckDBPyConnection, user: str, request: ExportRequest) -> dict:
    """`--include-pii` only for a `compliance` user of dim_users; every attempt is logged first."""
    role = None
    if table_exists(con, "main", "dim_users"):
        row = con.execute("select user_id, role from main.dim_users where user_id = ? or email = ? limit 1",
                          [user, user]).fetchone()
        role = row[1] if row else None
    granted = role == "compliance"
    ensure_schema(con)
    con.execute(
        "create table if not exists audit.pii_access_log (accessed_at timestamp, user_ref varchar, role varchar, "
        "granted boolean, command varchar, window_from timestamp, window_to timestamp, out_dir varchar)"
    )
    con.execute("insert into audit.pii_access_log values (now()::timestamp, ?, ?, ?, 'export audit', ?, ?, ?)",
                [user, role, granted, request.start, request.end, str(request.out)])
    if not granted:
        found = f"has role {role}" if role else "is not in dim_users"
        raise BadInput(f"--include-pii --as {user}: refused, the user {found}; only a `compliance` user may "
                       "export personal data (the attempt was logged in audit.pii_access_log)")
    return {"mode": "included", "authorized_by": user, "role": role}


def export_audit(con: duckdb.DuckDBPyConnection, request: ExportRequest) -> dict:
    """Write the window's audit tables (or OCSF events), the signed manifest; return the manifest."""
    if request.file_format not in FORMATS:
        raise BadInput(f"--format {request.file_format}: use one of {', '.join(FORMATS)}")
    if request.end <= request.start:
        raise BadInput(f"--to {request.end.isoformat()} must be after --from {request.start.isoformat()}")
    tables, skipped = present_tables(con, REGISTRY)
    chain_section = _chain_section(con, tables, request)
    pii = authorize_pii(con, request.include_pii_as, request) if request.include_pii_as else None
    signer = keys.signing_key(request.key_dir)
    pseudonym_key = keys.pseudonym_key(request.key_dir)
    _prepare_out(request.out)
    pseudonymize.install_macro(con, pseudonym_key)
    if request.file_format == "ocsf":
        files = _write_ocsf(con, request)
    else:
        files = _write_tables(con, tables, request)
    for entry in files:
        path = request.out / entry["path"]
        entry["sha256"] = manifest.file_sha256(path)
        entry["bytes"] = path.stat().st_size
    previous = manifest.previous_link(request.key_dir)
    body = {
        "format_version": manifest.FORMAT_VERSION,
        "export_id": str(uuid.uuid4()),
        "sequence": (previous["sequence"] + 1) if previous else 1,
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tool": {"name": "crmguard", "version": __version__},
        "policy_version": _policy_version(con),
        "window": {"from": request.start.isoformat() + "Z", "to": request.end.isoformat() + "Z"},
        "format": request.file_format,
        "files": sorted(files, key=lambda f: f["path"]),
        "skipped_tables": skipped,
        "chain": chain_section,
        "pii": pii or {"mode": "pseudonymized", "algorithm": "HMAC-SHA256",
                       "key_id": pseudonymize.pseudonym(pseudonym_key, "crmguard-key-id")},
        "previous_manifest": {k: previous[k] for k in ("sha256", "sequence", "export_id")} if previous else None,
        "signing_key": {"algorithm": "Ed25519", "fingerprint": keys.key_fingerprint(signer.public_key())},
    }
    digest = manifest.sign_and_write(request.out, body, signer.sign, keys.public_pem(signer.public_key()))
    manifest.record_link(request.key_dir, digest, body, request.out)
    return {"out": str(request.out), "manifest_sha256": digest, "manifest": body}
