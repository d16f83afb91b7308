"""`crmguard audit verify`: recompute the chain and name the first altered, inserted or deleted row.

Two independent checks per sealed table:
- the live rows against the sealed content hashes (a keyed full outer join in SQL): finds rows edited,
  inserted or deleted directly in the warehouse;
- the sealed content hashes against the sealed chain and day heads (one pass): finds edits to the
  `audit` schema itself, e.g. someone who changed a row and then overwrote its stored hash.
Anchoring beyond the warehouse is the signed export manifest, which carries the day heads.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

import duckdb

from crmguard.errors import BadInput
from crmguard.export.chain import chain, fetch_arrow, genesis, hashed_rows_sql, latest_seal
from crmguard.export.registry import REGISTRY, AuditTable, table_columns
from crmguard.warehouse import quote_ident


@dataclass
class Finding:
    """One tampered row: what happened to it and where it sits in the chain."""

    table: str
    kind: str  # altered | inserted | deleted | chain_state_altered | day_head_altered | table_missing | column_removed
    row_key: str | None
    day: str | None
    position: int | None
    problems_in_table: int

    def sentence(self) -> str:
        if self.row_key is None:
            return f"{self.table}: {self.kind.replace('_', ' ')} ({self.day or 'whole table'})"
        return (
            f"{self.table}: row {self.row_key} (day {self.day}, position {self.position}) was "
            f"{self.kind.replace('_', ' ')}; {self.problems_in_table} problem(s) in this table"
        )


def verify(
    con: duckdb.DuckDBPyConnection, since: dt.date | None = None, registry: tuple[AuditTable, ...] = REGISTRY
) -> dict:
    """Check every sealed table; the result lists findings in chain order, the first one first."""
    seal_id = latest_seal(con)
    if seal_id is None:
        raise BadInput("the audit chain has not been sealed yet: run `crmguard audit seal` after `crmguard build`")
    sealed = con.execute(
        "select table_name, columns, row_count from audit.seals where seal_id = ? order by table_name", [seal_id]
    ).fetchall()
    by_name = {t.name: t for t in registry}
    findings: list[Finding] = []
    checked: dict[str, int] = {}
    unsealed: dict[str, int] = {}
    for name, columns_json, _ in sealed:
        table = by_name.get(name)
        if table is None:
            continue
        table_findings, checked[name], unsealed[name] = _verify_table(
            con, seal_id, table, json.loads(columns_json), since)
        findings.extend(table_findings)
    findings.sort(key=lambda f: (f.day or "", f.position if f.position is not None else -1, f.table))
    return {
        "ok": not findings,
        "seal_id": seal_id,
        "since": since.isoformat() if since else None,
        "rows_checked": checked,
        "rows_newer_than_seal": {name: n for name, n in unsealed.items() if n},
        "findings": [asdict(f) for f in findings],
        "first": findings[0].sentence() if findings else None,
    }


def _verify_table(
    con: duckdb.DuckDBPyConnection, seal_id: int, table: AuditTable, columns: list[str], since: dt.date | None
) -> tuple[list[Finding], int, int]:
    """Findings, rows checked, and rows newer than the seal (not yet sealed, not tampering)."""
    live_columns = table_columns(con, table)
    if not live_columns:
        return [Finding(table.name, "table_missing", None, None, None, 1)], 0, 0
    removed = sorted(set(columns) - set(live_columns))
    if removed:
        return [Finding(table.name, "column_removed", None, ", ".join(removed), None, len(removed))], 0, 0
    diff, unsealed = _row_diff(con, seal_id, table, columns, since)
    findings = [f for f in (diff, _stored_chain(con, seal_id, table, since)) if f]
    rows = con.execute(
        f"select count(*) from {table.relation}"
        + (f" where cast({quote_ident(table.time_column)} as date) >= ?" if since else ""),
        [since] if since else [],
    ).fetchone()[0]
    return findings, rows, unsealed


def _row_diff(
    con: duckdb.DuckDBPyConnection, seal_id: int, table: AuditTable, columns: list[str], since: dt.date | None
) -> tuple[Finding | None, int]:
    """Live rows vs sealed content hashes: the first differing row in chain order, and how many differ.

    A row that is not sealed but is timed after the seal (e.g. a restore write logged since the last
    build) is counted as unsealed, not as tampering; a back-dated insert is an insert.
    """
    since_filter = "and day >= ?" if since else ""
    params: list = [table.name] + ([since] if since else []) + [seal_id, table.name]
    row = con.execute(
        f"""
        with live as ({hashed_rows_sql(table, columns, since)}),
        sealed as (select * from audit.row_hashes where table_name = ? {since_filter}),
        sealed_at as (select sealed_at from audit.seals where seal_id = ? and table_name = ?),
        diff as (
            select coalesce(s.row_key, l.row_key) as row_key,
                   coalesce(s.day, l.day) as day,
                   coalesce(s.seq, l.seq) as seq,
                   case when s.row_key is null and l.row_time > (select sealed_at from sealed_at) then 'unsealed'
                        when s.row_key is null then 'inserted'
                        when l.row_key is null then 'deleted' else 'altered' end as kind
            from live l full outer join sealed s on l.row_key = s.row_key and l.occurrence = s.occurrence
            where s.row_key is null or l.row_key is null or s.content_hash <> l.content_hash
        )
        select row_key, day, seq, kind, count(*) filter (where kind <> 'unsealed') over () as problems,
               count(*) filter (where kind = 'unsealed') over () as unsealed
        from diff order by kind = 'unsealed', day, seq, kind limit 1
        """,
        params,
    ).fetchone()
    if row is None:
        return None, 0
    if row[3] == "unsealed":
        return None, int(row[5])
    return Finding(table.name, row[3], row[0], row[1].isoformat(), int(row[2]), int(row[4])), int(row[5])


def _stored_chain(
    con: duckdb.DuckDBPyConnection, seal_id: int, table: AuditTable, since: dt.date | None
) -> Finding | None:
    """Sealed content hashes re-chained must give the sealed chain hashes and day heads."""
    start = genesis(table.name)
    if since:
        before = con.execute(
            "select head_hash from audit.day_heads where seal_id = ? and table_name = ? and day < ? "
            "order by day desc limit 1",
            [seal_id, table.name, since],
        ).fetchone()
        start = bytes.fromhex(before[0]) if before else start
    stored = fetch_arrow(
        con,
        "select row_key, day, seq, content_hash, chain_hash from audit.row_hashes "
        "where table_name = ? and day >= ? order by day, seq",
        [table.name, since or dt.date(1970, 1, 1)],
    )
    days = stored.column("day").to_pylist()
    passed = chain(table.name, days, stored.column("content_hash").to_pylist(), start)
    sealed_chain = stored.column("chain_hash").to_pylist()
    if passed.chain_hashes != sealed_chain:
        i = next(i for i, (a, b) in enumerate(zip(passed.chain_hashes, sealed_chain, strict=True)) if a != b)
        return Finding(table.name, "chain_state_altered", stored.column("row_key")[i].as_py(),
                       days[i].isoformat(), int(stored.column("seq")[i].as_py()), 1)
    heads = dict(
        con.execute(
            "select day, head_hash from audit.day_heads where seal_id = ? and table_name = ? and day >= ?",
            [seal_id, table.name, since or dt.date(1970, 1, 1)],
        ).fetchall()
    )
    recomputed_heads = {d: h for d, _, h in passed.day_heads}
    for day in sorted(set(heads) | set(recomputed_heads)):
        if heads.get(day) != recomputed_heads.get(day):
            return Finding(table.name, "day_head_altered", None, day.isoformat(), None, 1)
    return None
