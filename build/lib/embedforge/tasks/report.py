"""Run summaries: counts, failure reasons, and the markdown Prefect shows in the UI."""

from __future__ import annotations

from typing import Any


def embed_summary(plan, results, db: str) -> dict[str, Any]:
    """Fold shard results into one record of what the run did."""
    failures = [f for r in results for f in r.failures]
    return {
        "table": plan.table,
        "dataset": plan.dataset,
        "db": db,
        "items": plan.total,
        "embedded": sum(r.embedded for r in results),
        "reused": sum(r.reused for r in results),
        "skipped": plan.skipped + sum(r.skipped for r in results),
        "failed": len(failures),
        "failures": failures,
        "shards": len(results),
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    """A table of the counts plus the first failures with their reasons."""
    lines = [
        "| table | dataset | items | embedded | reused | skipped | failed |",
        "|---|---|---|---|---|---|---|",
        f"| {summary['table']} | {summary['dataset']} | {summary['items']} | {summary['embedded']} | "
        f"{summary['reused']} | {summary['skipped']} | {summary['failed']} |",
    ]
    if summary["failures"]:
        lines += ["", "| failed item | reason |", "|---|---|"]
        lines += [f"| {f['id']} | {f['error'].replace('|', '/')} |" for f in summary["failures"][:50]]
    return "\n".join(lines)
