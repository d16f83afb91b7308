"""The governance report: one self-contained HTML page with inline SVG charts (issue 7)."""
