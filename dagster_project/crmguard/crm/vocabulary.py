"""Enumerated CRM values in each vendor's own spelling: what a restore writes, and how it reads them back.

The ingest mappings (crmguard/adapters/mappings/{hubspot,salesforce}.yml) say how a vendor's value
becomes a canonical one: the column's `transform` (`lower`), then its `map`. A restore goes the other
way: a deal restored to `closed_won` is written to HubSpot as `dealstage=closedwon` and to Salesforce as
`StageName=Closed Won`, a cancelled meeting as `hs_meeting_outcome=CANCELED`. The vendor spelling of a
canonical value is its first source value in the map, in the map's own case (ingest lowercases both
sides, so the case of a key only matters on the way out), as `export_snapshot` writes exports. A value
the map does not name (a portal's own stage, a column without a map) passes through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

Spelling = dict[tuple[str, str], dict[str, str]]  # (object, column) -> value -> value


@dataclass(frozen=True)
class _Vocabulary:
    outbound: Spelling  # canonical -> the vendor's spelling
    inbound: Spelling  # lowercased vendor spelling -> canonical
    lowered: frozenset[tuple[str, str]]  # columns ingest lowercases (`transform: lower`)


@cache
def _vocabulary(system: str) -> _Vocabulary:
    from crmguard.adapters.crm_exports import load_mapping  # crm_exports imports crm.objects

    outbound: Spelling = {}
    inbound: Spelling = {}
    lowered: set[tuple[str, str]] = set()
    for name, obj in load_mapping(system).objects.items():
        for rule in obj.columns:
            if rule.transform == "lower":
                lowered.add((name, rule.name))
            if rule.value_map:
                outbound[(name, rule.name)] = rule.vendor_spelling
                inbound[(name, rule.name)] = {k.lower(): v for k, v in rule.value_map.items()}
    return _Vocabulary(outbound, inbound, frozenset(lowered))


def to_vendor(system: str, object_name: str, column: str, value: str | None) -> str | None:
    """The vendor's spelling of a canonical value (`hubspot`, `salesforce`)."""
    if value is None:
        return None
    return _vocabulary(system).outbound.get((object_name, column), {}).get(value, value)


def to_canonical(system: str, object_name: str, column: str, value: str | None) -> str | None:
    """A value read from the vendor, as ingest would have recorded it (lowercased, then mapped)."""
    if value is None:
        return None
    vocabulary, key = _vocabulary(system), (object_name, column)
    text = value.strip().lower() if key in vocabulary.lowered else value
    return vocabulary.inbound.get(key, {}).get(text.lower(), text)


def misspelled_canonical(system: str, object_name: str, column: str, value: str | None) -> str | None:
    """The vendor's spelling when `value` is a canonical value the vendor spells otherwise and does not
    accept as it is (`closed_won` for HubSpot's `closedwon`), else None. Values the mapping does not
    name pass: a portal's own options are not in it."""
    if value is None:
        return None
    vocabulary, key = _vocabulary(system), (object_name, column)
    vendor = vocabulary.outbound.get(key, {}).get(value)
    if vendor is None or vendor == value or value.strip().lower() in vocabulary.inbound.get(key, {}):
        return None
    return vendor
