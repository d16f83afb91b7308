"""Salesforce / HubSpot exports -> canonical snapshot rows, by declarative YAML mapping, in DuckDB SQL.

Customers' CRM exports are Salesforce or HubSpot shaped. A mapping file (mappings/salesforce.yml,
mappings/hubspot.yml, or the customer's own; format in docs/mappings.md) says, per canonical object,
which export file holds it and which source column(s) feed each canonical column through a fixed
library of transforms. Nothing here is code per customer. Unknown custom columns are kept as `_extra`
JSON; a missing required source column or a value a transform cannot read is a one-line BadInput that
names the file, the line and the column. The same mapping also writes exports (`export_snapshot`),
which is how tests prove that a world ingested through a mapping gives the same facts as the native one.
"""

from __future__ import annotations

import csv
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from crmguard.crm.objects import OBJECTS
from crmguard.errors import BadInput
from crmguard.warehouse import quote_ident

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
BUILTIN_MAPPINGS = ("salesforce", "hubspot")
SOURCE_EXTENSIONS = (".csv", ".jsonl", ".json", ".parquet")
# The transform library: each is a temp macro crm_<name>(v) over text; NULL stays NULL, and NULL from a
# non-NULL input marks a value the transform cannot read (reported with file, line and column).
_CAN_FAIL = {"boolean": "a boolean", "integer": "an integer", "decimal2": "a number", "timestamp": "a timestamp",
             "date": "a date", "domain": "a domain or URL"}  # fmt: skip
TRANSFORMS = ("text", "lower", *_CAN_FAIL)
_MACROS = r"""
CREATE OR REPLACE TEMP MACRO crm_ts(v) AS CASE
    WHEN regexp_full_match(v, '\d{11,14}') THEN make_timestamp(CAST(v AS BIGINT) * 1000)
    ELSE CAST(try_cast(v AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) END;
CREATE OR REPLACE TEMP MACRO crm_text(v) AS v;
CREATE OR REPLACE TEMP MACRO crm_lower(v) AS lower(v);
CREATE OR REPLACE TEMP MACRO crm_boolean(v) AS CASE
    WHEN lower(v) IN ('true', '1', 'yes', 'y', 't') THEN 'true'
    WHEN lower(v) IN ('false', '0', 'no', 'n', 'f') THEN 'false' END;
CREATE OR REPLACE TEMP MACRO crm_integer(v) AS CAST(CAST(try_cast(v AS DECIMAL(38, 0)) AS HUGEINT) AS VARCHAR);
CREATE OR REPLACE TEMP MACRO crm_decimal2(v) AS CAST(try_cast(v AS DECIMAL(38, 2)) AS VARCHAR);
CREATE OR REPLACE TEMP MACRO crm_timestamp(v) AS strftime(crm_ts(v), '%Y-%m-%dT%H:%M:%SZ');
CREATE OR REPLACE TEMP MACRO crm_date(v) AS strftime(crm_ts(v), '%Y-%m-%d');
CREATE OR REPLACE TEMP MACRO crm_domain(v) AS
    nullif(regexp_extract(lower(v), '^(?:[a-z]+://)?(?:www\.)?([^/:?#\s]+)', 1), '');
"""


@dataclass(frozen=True)
class ColumnRule:
    """How one canonical column is read: the first present source column, else the concat, else default."""

    name: str
    sources: tuple[str, ...]
    concat: tuple[str, ...] = ()
    transform: str = "text"
    value_map: dict[str, str] = field(default_factory=dict)
    required: bool = True
    default: str | None = None

    @property
    def referenced(self) -> tuple[str, ...]:
        return self.sources + self.concat

    @property
    def vendor_spelling(self) -> dict[str, str]:
        """Canonical value -> the source value that spells it in the CRM: the first in `map`, in its own
        case. Exports write it; restores write it back (crmguard/crm/vocabulary.py)."""
        inverse: dict[str, str] = {}
        for source, canonical in self.value_map.items():
            inverse.setdefault(canonical, source)
        return inverse


@dataclass(frozen=True)
class ObjectMapping:
    """One canonical object: the export file name patterns and the column rules."""

    name: str
    files: tuple[str, ...]
    columns: tuple[ColumnRule, ...]


@dataclass(frozen=True)
class CrmMapping:
    """A whole mapping file (one CRM's export format)."""

    name: str
    path: Path
    objects: dict[str, ObjectMapping]
    export_timestamps: str = "iso"


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [] if value is None else [value]
    if not all(isinstance(v, str) and v for v in values):
        raise BadInput(f"{where}: expected a column name or a list of column names")
    return tuple(values)


def _column_rule(name: str, spec: Any, where: str) -> ColumnRule:
    allowed = {"from", "concat", "transform", "map", "required", "default"}
    if not isinstance(spec, dict) or set(spec) - allowed:
        unknown = sorted(set(spec) - allowed) if isinstance(spec, dict) else []
        raise BadInput(f"{where}: expected {{from, concat, transform, map, required, default}}"
                       + (f", got unknown key {unknown[0]!r}" if unknown else ""))  # fmt: skip
    transform = spec.get("transform", "text")
    if transform not in TRANSFORMS:
        raise BadInput(f"{where}.transform: {transform!r} is not one of {', '.join(TRANSFORMS)}")
    value_map = spec.get("map") or {}
    if not isinstance(value_map, dict):
        raise BadInput(f"{where}.map: expected a mapping of source value -> canonical value")
    rule = ColumnRule(
        name=name,
        sources=_as_tuple(spec.get("from"), f"{where}.from"),
        concat=_as_tuple(spec.get("concat"), f"{where}.concat"),
        transform=transform,
        value_map={str(k): str(v) for k, v in value_map.items()},
        required=bool(spec.get("required", True)),
        default=None if spec.get("default") is None else str(spec["default"]),
    )
    if not rule.referenced:
        raise BadInput(f"{where}: names no source column (from: or concat:)")
    return rule


def load_mapping(name_or_path: str | Path) -> CrmMapping:
    """A built-in mapping by name (salesforce, hubspot) or a YAML file; errors name the file and key."""
    path = (
        MAPPINGS_DIR / f"{name_or_path}.yml" if str(name_or_path) in BUILTIN_MAPPINGS else Path(name_or_path)
    )
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(
            f"mapping {name_or_path}: no such file; use salesforce, hubspot or a YAML file"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: cannot read mapping: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), dict):
        raise BadInput(f"{path}: a mapping needs `objects:` (see docs/mappings.md)")
    objects = {}
    for obj_name, spec in doc["objects"].items():
        where = f"{path}: objects.{obj_name}"
        if obj_name not in OBJECTS:
            raise BadInput(f"{where}: unknown canonical object (known: {', '.join(OBJECTS)})")
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict):
            raise BadInput(f"{where}: expected {{files: [...], columns: {{...}}}}")
        unknown = sorted(set(spec["columns"]) - set(OBJECTS[obj_name].columns))
        if unknown:
            raise BadInput(f"{where}.columns.{unknown[0]}: not a canonical column of {obj_name}")
        rules = tuple(_column_rule(c, s, f"{where}.columns.{c}") for c, s in spec["columns"].items())
        objects[obj_name] = ObjectMapping(obj_name, _as_tuple(spec.get("files"), f"{where}.files"), rules)
    export = doc.get("export") or {}
    return CrmMapping(str(doc.get("name") or path.stem), path, objects, str(export.get("timestamps", "iso")))


def find_object_file(directory: Path, obj: ObjectMapping) -> Path | None:
    """The export file of an object: a file whose name without extension matches a pattern (any case)."""
    candidates = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SOURCE_EXTENSIONS
    )
    for pattern in obj.files:
        for path in candidates:
            if fnmatch.fnmatch(path.stem.lower(), pattern.lower()):
                return path
    return None


def _load_source(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The export as temp table crm_src: every column as text plus `_line`; returns the source columns."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            _load_csv_source(con, path)
        elif suffix == ".parquet":
            con.execute(
                "CREATE OR REPLACE TEMP TABLE crm_src AS SELECT COLUMNS(* EXCLUDE (file_row_number))::VARCHAR, "
                f"file_row_number + 1 AS _line FROM read_parquet({_literal(str(path))}, file_row_number = true)"
            )
        else:
            _load_json_source(con, path)
    except duckdb.Error as exc:
        raise BadInput(f"{path}: cannot read export: {str(exc).splitlines()[0]}") from None
    return [name for (name,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'crm_src' "
        "AND column_name <> '_line' ORDER BY ordinal_position").fetchall()]  # fmt: skip


def _load_csv_source(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """CSV with the header as given, every column text, no type sniffing (fast and exact)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    if not header:
        raise BadInput(f"{path}: empty file, expected a header line")
    columns = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in header) + "}"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE crm_src AS SELECT *, row_number() OVER () + 1 AS _line "
        f"FROM read_csv({_literal(str(path))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {columns})"
    )


def _load_json_source(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """JSON records, flat (Salesforce REST) or HubSpot API shaped ({id, properties: {...}}): all as text."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE crm_json AS SELECT row_number() OVER () AS _line, "
        "json_merge_patch(json_object(), json, coalesce(json -> '$.properties', '{}')) AS j "
        "FROM read_json_objects(?, format = 'auto')",
        [str(path)],
    )
    keys = [
        k
        for (k,) in con.execute(
            "SELECT DISTINCT unnest(json_keys(j)) AS k FROM crm_json ORDER BY k"
        ).fetchall()  # fmt: skip
        if k not in ("properties", "attributes")
    ]
    columns = "".join(f"j ->> {_json_key(k)} AS {quote_ident(k)}, " for k in keys)
    con.execute(f"CREATE OR REPLACE TEMP TABLE crm_src AS SELECT {columns}_line FROM crm_json")


def _json_key(key: str) -> str:
    return _literal('$."' + key.replace('"', '\\"') + '"')


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_sql(rule: ColumnRule, present: set[str], where: str) -> tuple[str, str]:
    """(raw text expression, canonical expression) for one column, given the source columns present."""
    found = [quote_ident(c) for c in rule.sources if c in present]
    parts = [f"nullif(trim({c}), '')" for c in found]
    joined = [quote_ident(c) for c in rule.concat if c in present]
    if joined:
        parts.append(f"nullif(trim(concat_ws(' ', {', '.join(joined)})), '')")
    if not parts and rule.required:
        wanted = " or ".join(rule.sources or rule.concat)
        raise BadInput(f"{where}: missing required column {wanted} (for {rule.name})")
    raw = f"coalesce({', '.join(parts)})" if parts else "CAST(NULL AS VARCHAR)"
    value = f"crm_{rule.transform}({raw})"
    if rule.value_map:
        whens = " ".join(f"WHEN {_literal(k.lower())} THEN {_literal(v)}" for k, v in rule.value_map.items())
        value = f"CASE lower({value}) {whens} ELSE {value} END"
    if rule.default is not None:
        value = f"coalesce({value}, {_literal(rule.default)})"
    return raw, value


def _first_bad_value(
    con: duckdb.DuckDBPyConnection, checks: list[tuple[str, str, ColumnRule]], path: Path
) -> None:
    """Raise on the first row where a transform could not read a present value (file:line: column)."""
    failing = [(raw, rule) for raw, value, rule in checks if rule.transform in _CAN_FAIL]
    if not failing:
        return
    cases = " ".join(
        f"WHEN {raw} IS NOT NULL AND crm_{rule.transform}({raw}) IS NULL THEN {_literal(rule.name)}"
        for raw, rule in failing
    )
    row = con.execute(
        f"SELECT _line, problem FROM (SELECT _line, CASE {cases} END AS problem FROM crm_src) "
        "WHERE problem IS NOT NULL ORDER BY _line LIMIT 1"
    ).fetchone()
    if row:
        rule = next(r for _, r in failing if r.name == row[1])
        raw = next(raw for raw, r in failing if r.name == row[1])
        value = con.execute(f"SELECT {raw} FROM crm_src WHERE _line = ?", [row[0]]).fetchone()[0]
        columns = " or ".join(rule.referenced)
        raise BadInput(
            f"{path}:{row[0]}: {columns} {value!r} is not {_CAN_FAIL[rule.transform]} (for {rule.name})"
        )


def _connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB (UTC, transform macros): exports are mapped before any warehouse write."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_MACROS)
    return con


def map_object_file(
    con: duckdb.DuckDBPyConnection, path: Path, obj: ObjectMapping, mapping_name: str
) -> pa.Table:
    """One export file -> canonical columns (text, as CONTRACTS.md section 2) + `_extra` and `_line`."""
    present = _load_source(con, path)
    where = f"{path} (mapping {mapping_name}, {obj.name})"
    rules = {rule.name: rule for rule in obj.columns}
    checks = [(*_value_sql(rule, set(present), where), rule) for rule in obj.columns]
    _first_bad_value(con, checks, path)
    values = {rule.name: value for _, value, rule in checks}
    select = [
        f"{values.get(c, 'CAST(NULL AS VARCHAR)')} AS {quote_ident(c)}" for c in OBJECTS[obj.name].columns
    ]
    known = {c for rule in rules.values() for c in rule.referenced}
    extra = [c for c in present if c not in known]
    extra_sql = (
        "to_json(struct_pack("
        + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in extra)
        + "))::VARCHAR"
        if extra
        else "CAST(NULL AS VARCHAR)"
    )
    return con.execute(
        f"SELECT {', '.join(select)}, {extra_sql} AS _extra, _line FROM crm_src ORDER BY _line"
    ).to_arrow_table()


def map_snapshot_dir(directory: Path, mapping: CrmMapping) -> dict[str, pa.Table]:
    """Every object of the mapping whose export file is in the directory; objects without one are absent."""
    con = _connect()
    try:
        return {
            name: map_object_file(con, path, mapping.objects[name], mapping.name)
            for name, path in mapped_files(directory, mapping).items()
        }
    finally:
        con.close()


def mapped_files(directory: Path, mapping: CrmMapping) -> dict[str, Path]:
    """object -> the export file the mapping claims for it in a directory (other files stay canonical)."""
    return {
        name: p
        for name, obj in mapping.objects.items()
        if (p := find_object_file(directory, obj)) is not None
    }


def _export_value_sql(rule: ColumnRule, column: str, timestamps: str) -> str:
    """Canonical text -> the source form the rule reads back (inverse map, CRM timestamp format)."""
    value = quote_ident(column)
    inverse = rule.vendor_spelling
    if inverse:
        whens = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in inverse.items())
        value = f"CASE {value} {whens} ELSE {value} END"
    if rule.transform == "timestamp" and timestamps == "salesforce":
        return f"strftime(crm_ts({value}), '%Y-%m-%dT%H:%M:%S.000+0000')"
    if rule.transform in ("timestamp", "date") and timestamps == "epoch_ms":
        return f"CAST(epoch_ms(crm_ts({value})) AS VARCHAR)"
    return value


def export_snapshot(canonical_dir: Path, out_dir: Path, mapping: CrmMapping) -> list[Path]:
    """Write a canonical snapshot directory as the mapping's export files (CSV), plus its manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    con = _connect()
    try:
        for obj in mapping.objects.values():
            source = next(
                (p for ext in SOURCE_EXTENSIONS if (p := canonical_dir / f"{obj.name}{ext}").exists()), None
            )
            if source is None:
                continue
            _load_source(con, source)
            select = ", ".join(
                f"{_export_value_sql(rule, rule.name, mapping.export_timestamps)} AS {quote_ident(rule.referenced[0])}"
                for rule in obj.columns
            )
            target = out_dir / f"{obj.files[0]}.csv"
            con.execute(
                f"COPY (SELECT {select} FROM crm_src ORDER BY _line) TO {_literal(str(target))} (HEADER)"
            )
            written.append(target)
    finally:
        con.close()
    manifest = canonical_dir / "manifest.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        doc["source"] = mapping.name
        (out_dir / "manifest.json").write_text(
            json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return written
