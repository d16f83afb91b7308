"""Compliance export: hash chain, signed exports, pseudonyms, OCSF (issue 7)."""
