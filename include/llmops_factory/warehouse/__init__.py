"""Warehouse table schemas (one source of truth) and the DuckDB engine of the local target."""

from llmops_factory.warehouse.schemas import TableSpec, load_schema, table_names, table_spec

__all__ = ["TableSpec", "load_schema", "table_names", "table_spec"]
