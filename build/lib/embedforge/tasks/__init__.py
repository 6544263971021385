"""Plain functions over paths, URIs and registry keys, each with a thin Prefect task wrapper."""
