"""Integrity verification: Great Expectations suites over the warehouse, run in DuckDB SQL.

`gx_duckdb` makes GX 1.24 work on DuckDB without leaving SQL, `spec` is the vocabulary the suite
definitions in `expectations/` are written in, `runner` validates them (incrementally by default) and
`store` keeps every run's results in the warehouse for `fct_check_results`.
"""
