"""Adapters for inputs teams already have: OpenTelemetry GenAI traces and Salesforce / HubSpot exports.

Pure functions from input files to what ingest loads: native-shaped action events plus rejects with
reasons (otlp.py), and canonical snapshot rows plus `_extra` (crm_exports.py). Ingest owns the raw
layer; these modules never open the warehouse.
"""
