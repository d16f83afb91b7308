"""Score what the warehouse flagged against a generator's ground truth (CONTRACTS.md sections 5-6).

A flag of kind K is a true positive when its event_id is one of an incident of kind K's event_ids, or
its object reference matches one of that incident's object_refs (same object_type and object_id, and
the same field unless either side has none). An incident is found when at least one flag matches it.
precision = matching flags / all flags of the kind (1.0 when nothing is flagged); recall = found /
expected (1.0 when nothing is expected). Overall figures pool every kind. Only tests and benchmarks
call this: the warehouse build never reads ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from crmguard.errors import BadInput
from crmguard.warehouse import connect, table_exists

_MATCH_SQL = """
with flags as (
    select row_number() over (order by kind, event_id, object_type, object_id, field, source_model) as flag_no,
           kind, event_id, object_type, object_id, field
    from main.fct_flags
),
matches as (
    select flags.flag_no, incidents.incident_id
    from flags
    join incidents on incidents.kind = flags.kind
    join incident_events on incident_events.incident_id = incidents.incident_id
                        and incident_events.event_id = flags.event_id
    union
    select flags.flag_no, incidents.incident_id
    from flags
    join incidents on incidents.kind = flags.kind
    join incident_refs on incident_refs.incident_id = incidents.incident_id
                      and incident_refs.object_type = flags.object_type
                      and incident_refs.object_id = flags.object_id
                      and (incident_refs.field is null or flags.field is null or incident_refs.field = flags.field)
),
kinds as (
    select kind from incidents union select kind from flags
)
select
    kinds.kind,
    (select count(*) from incidents i where i.kind = kinds.kind) as expected,
    (select count(distinct m.incident_id) from matches m join incidents i using (incident_id) where i.kind = kinds.kind) as found,
    (select count(*) from flags f where f.kind = kinds.kind) as flagged,
    (select count(*) from flags f where f.kind = kinds.kind and f.flag_no in (select flag_no from matches)) as true_flags
from kinds
order by kinds.kind
"""


def load_ground_truth(path: Path) -> list[dict]:
    """The incidents of ground_truth.jsonl, each checked for the fields scoring needs."""
    if not path.is_file():
        raise BadInput(f"ground truth {path} does not exist (it is written by `crmguard generate --out DIR`)")
    incidents = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            incident = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        for key, kind in (("incident_id", str), ("kind", str), ("event_ids", list), ("object_refs", list)):
            if not isinstance(incident.get(key), kind):
                raise BadInput(f"{path}:{number}: field `{key}` must be a {kind.__name__}")
        incidents.append(incident)
    return incidents


def _tables(incidents: list[dict]) -> dict[str, pa.Table]:
    """Ground truth as three small Arrow tables, so the matching runs as one SQL query."""
    return {
        "incidents": pa.table({
            "incident_id": [i["incident_id"] for i in incidents],
            "kind": [i["kind"] for i in incidents],
        }),
        "incident_events": pa.table({
            "incident_id": [i["incident_id"] for i in incidents for _ in i["event_ids"]],
            "event_id": [str(e) for i in incidents for e in i["event_ids"]],
        }),
        "incident_refs": pa.table({
            "incident_id": [i["incident_id"] for i in incidents for _ in i["object_refs"]],
            "object_type": [r.get("object_type") for i in incidents for r in i["object_refs"]],
            "object_id": [r.get("object_id") for i in incidents for r in i["object_refs"]],
            "field": [r.get("field") for i in incidents for r in i["object_refs"]],
        }, schema=pa.schema([("incident_id", pa.string()), ("object_type", pa.string()),
                             ("object_id", pa.string()), ("field", pa.string())])),
    }


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 1.0


def score(ground_truth: Path, warehouse: str | Path | None = None) -> dict:
    """Per-kind and overall precision/recall of fct_flags against the ground truth file."""
    incidents = load_ground_truth(ground_truth)
    with connect(warehouse, read_only=True) as con:
        if not table_exists(con, "main", "fct_flags"):
            raise BadInput("the warehouse has no fct_flags table: run `crmguard build` first")
        for name, table in _tables(incidents).items():
            con.register(name, table)
        rows = con.execute(_MATCH_SQL).fetchall()
    kinds = {}
    for kind, expected, found, flagged, true_flags in rows:
        kinds[kind] = {
            "expected": expected, "found": found, "missed": expected - found,
            "false_positives": flagged - true_flags,
            "precision": _ratio(true_flags, flagged), "recall": _ratio(found, expected),
        }
    total_flagged = sum(r[3] for r in rows)
    return {
        "kinds": kinds,
        "precision": _ratio(sum(r[4] for r in rows), total_flagged),
        "recall": _ratio(sum(k["found"] for k in kinds.values()), sum(k["expected"] for k in kinds.values())),
    }
