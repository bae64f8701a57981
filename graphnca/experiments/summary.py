"""Short human-readable summaries printed by the CLI."""
from __future__ import annotations

import json


def format_summary(command: str, summary) -> str:
    if isinstance(summary, list):
        lines = [f"graphnca {command}:"]
        for row in summary:
            lines.append("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        return "\n".join(lines)
    if isinstance(summary, dict):
        return f"graphnca {command}: " + json.dumps(summary, indent=2, default=str)
    return f"graphnca {command}: {summary}"


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)
