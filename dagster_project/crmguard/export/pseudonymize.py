"""Keyed pseudonyms for personal data in exports: HMAC-SHA256, computed in bulk inside DuckDB.

HMAC(k, m) = SHA256((k ^ opad) || SHA256((k ^ ipad) || m)) (RFC 2104). DuckDB has SHA-256 over blobs,
so the padded keys are bound into a session macro and every PII value is pseudonymized in the same
SQL that writes the export. The same input always gives the same pseudonym under one key (joins and
counts still work); without the key a dictionary of emails cannot be matched against them.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from crmguard.export.registry import AuditTable, PiiChanges, PiiColumn, PiiFieldValues, PiiJsonKeys, PiiSpec
from crmguard.warehouse import quote_ident

MACRO = "crmguard_pii"
PREFIX = "pii_"
DIGITS = 24  # 96 bits of the HMAC: collisions negligible at CRM scale, short enough to read


def pseudonym(key: bytes, value: str) -> str:
    """The pseudonym of one value, in Python: the reference the SQL macro is tested against."""
    return PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:DIGITS]


def install_macro(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Define `crmguard_pii(text)` for this connection (temporary: the key never lands in the file)."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block).hex()
    opad = bytes(b ^ 0x5C for b in block).hex()
    con.execute(
        f"create or replace temp macro {MACRO}(v) as case when v is null then null else "
        f"'{PREFIX}' || left(sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(v::varchar)))),"
        f" {DIGITS}) end"
    )


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _patch(source: str, key: str) -> str:
    """A JSON merge patch that replaces `key` by its pseudonym, or `{}` when the key is absent/null."""
    path = "'$.\"" + key.replace("'", "''") + "\"'"
    return (
        f"case when ({source} ->> {path}) is null then '{{}}'::json "
        f"else json_object('{key}', {MACRO}({source} ->> {path})) end"
    )


def _json_keys_sql(spec: PiiJsonKeys) -> str:
    col = quote_ident(spec.column)
    expr = col
    for key in spec.keys:
        expr = f"json_merge_patch({expr}, {_patch(col, key)})"
    # The guard keeps the JSON rebuild off the rows (most of them) that carry none of the keys.
    return (f"case when json_type({col}) = 'OBJECT' and list_has_any(json_keys({col}), "
            f"[{_sql_list(spec.keys)}]) then {expr} else {col} end")


def _changes_sql(spec: PiiChanges) -> str:
    col = quote_ident(spec.column)
    entry = f"json_merge_patch(json_merge_patch(c, {_patch('c', 'old')}), {_patch('c', 'new')})"
    # A text pre-filter (no JSON parse) skips the lists that change no personal field.
    names = "|".join(spec.fields)
    return (
        f"case when json_type({col}) = 'ARRAY' and regexp_matches({col}::varchar, "
        f"'\"field\"\\s*:\\s*\"({names})\"') then to_json(list_transform(cast({col} as json[]), "
        f"c -> case when (c ->> 'field') in ({_sql_list(spec.fields)}) then {entry} else c end)) "
        f"else {col} end"
    )


def spec_sql(spec: PiiSpec) -> dict[str, str]:
    """Column -> replacement expression for one PII spec."""
    if isinstance(spec, PiiColumn):
        return {spec.column: f"{MACRO}({quote_ident(spec.column)})"}
    if isinstance(spec, PiiJsonKeys):
        return {spec.column: _json_keys_sql(spec)}
    if isinstance(spec, PiiChanges):
        return {spec.column: _changes_sql(spec)}
    field = quote_ident(spec.field_column)
    return {
        v: f"case when {field} in ({_sql_list(spec.fields)}) then {MACRO}({quote_ident(v)}) else {quote_ident(v)} end"
        for v in spec.value_columns
    }


def replacements(table: AuditTable, columns: list[str]) -> dict[str, str]:
    """The PII replacements that apply to the table's existing columns."""
    present = set(columns)
    out: dict[str, str] = {}
    for spec in table.pii:
        for column, expr in spec_sql(spec).items():
            needed = {column} | ({spec.field_column} if isinstance(spec, PiiFieldValues) else set())
            if needed <= present:
                out[column] = expr
    return out
