"""Every OCSF event validates against the API Activity (class_uid 6003) required fields and types.

The schema below is the subset of OCSF 1.8 that API Activity requires (base event attributes plus the
class's required `actor`, `api`, `src_endpoint`, `cloud`), with the enums and the type_uid rule.
"""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest

from crmguard.export.exporter import OCSF_FILE, ExportRequest, export_audit
from crmguard.export.synthetic import sealed_warehouse
from crmguard.warehouse import connect

_STRING = {"type": "string", "minLength": 1}
API_ACTIVITY_SCHEMA = {
    "type": "object",
    "required": ["class_uid", "category_uid", "activity_id", "type_uid", "severity_id", "time", "metadata",
                 "actor", "api", "src_endpoint", "cloud", "status_id"],
    "properties": {
        "class_uid": {"const": 6003},
        "category_uid": {"const": 6},
        "activity_id": {"enum": [0, 1, 2, 3, 4, 99]},
        "type_uid": {"type": "integer"},
        "severity_id": {"enum": [0, 1, 2, 3, 4, 5, 6, 99]},
        "status_id": {"enum": [0, 1, 2, 99]},
        "time": {"type": "integer", "minimum": 946684800000},
        "metadata": {
            "type": "object", "required": ["version", "product"],
            "properties": {"version": {"const": "1.8.0"},
                           "product": {"type": "object", "required": ["name", "vendor_name"],
                                       "properties": {"name": _STRING, "vendor_name": _STRING}},
                           "uid": _STRING},
        },
        "actor": {
            "type": "object", "required": ["user", "app_name"],
            "properties": {"user": {"type": "object", "required": ["uid"], "properties": {"uid": _STRING}},
                           "app_name": _STRING},
        },
        "api": {
            "type": "object", "required": ["operation", "service"],
            "properties": {"operation": _STRING,
                           "service": {"type": "object", "required": ["name"], "properties": {"name": _STRING}}},
        },
        "src_endpoint": {"type": "object", "minProperties": 1},
        "cloud": {"type": "object", "required": ["provider"], "properties": {"provider": _STRING}},
        "resources": {"type": "array", "items": {"type": "object", "required": ["uid"],
                                                 "properties": {"uid": _STRING, "type": {"type": "string"}}}},
    },
}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    base = tmp_path_factory.mktemp("ocsf")
    warehouse = sealed_warehouse(base / "warehouse.duckdb", actions=300, days=2)
    request = ExportRequest(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3), "ocsf", base / "out", base / "keys")
    with connect(warehouse, read_only=True) as con:
        export_audit(con, request)
    return [json.loads(line) for line in (base / "out" / OCSF_FILE).read_text().splitlines()]


def test_every_event_validates(events: list[dict]) -> None:
    validator = jsonschema.Draft202012Validator(API_ACTIVITY_SCHEMA)
    for event in events:
        errors = sorted(validator.iter_errors(event), key=str)
        assert not errors, f"{event['metadata'].get('uid')}: {errors[0].message}"
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]


def test_one_event_per_action_decision_and_stop(events: list[dict]) -> None:
    codes = [e["metadata"]["event_code"] for e in events]
    assert codes.count("tool_call") == 300
    assert codes.count("approval_decided") == 50  # every 6th action carried an approval
    assert codes.count("stop") + codes.count("resume") == 6


def test_agent_is_the_actors_app_and_times_are_epoch_ms(events: list[dict]) -> None:
    first = next(e for e in events if e["metadata"]["uid"] == "evt-000000001")
    assert first["actor"] == {"user": {"uid": "u-agent-1", "type": "agent"}, "app_name": "lead-router"}
    assert first["api"]["operation"] == "update_contact" and first["activity_id"] == 3
    assert first["time"] == int(dt.datetime(2026, 1, 1, 0, 9, 36, tzinfo=dt.UTC).timestamp() * 1000)
    assert {"uid": "c-1", "type": "contact"} in first["resources"]
    failed = next(e for e in events if e["metadata"]["uid"] == "evt-000000000")
    assert (failed["status_id"], failed["status_detail"]) == (2, "timeout")
