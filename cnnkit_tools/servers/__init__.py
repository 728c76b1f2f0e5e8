"""Servers the kit starts on 127.0.0.1 for its own runs and tests: PostgreSQL, a Dask cluster."""
