"""The one summary format every command prints: a rounded table (a row per rule or per key)."""
from __future__ import annotations


def rounded(v) -> str:
    """Accuracies and losses to 3 decimals, large numbers to 1, whole numbers as they are."""
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v == int(v) and abs(v) < 1e6:
            return f"{int(v):,}"
        return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3f}" if abs(v) >= 1e-3 else f"{v:.2e}"
    return str(v)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flat(v, key + ".")
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
            out[key] = "-".join(map(str, v)) if all(isinstance(x, int) for x in v) else \
                ", ".join(rounded(x) for x in v)
        elif not isinstance(v, (list, tuple)):
            out[key] = v
    return out


def table(rows: list[dict], cols: list[str] | None = None) -> str:
    """``rows`` as an aligned text table of rounded values."""
    cols = cols or list(dict.fromkeys(k for r in rows for k in r))
    cells = [[rounded(r.get(c)) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, width)).rstrip()      # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in width])] + [line(row) for row in cells])


def format_summary(command: str, summary) -> str:
    """A list of rows (one per rule) as one table; a dict as a two-column table of its (flattened) entries."""
    if isinstance(summary, list):
        return f"graphnca {command}:\n" + table([_flat(r) for r in summary])
    if isinstance(summary, dict):
        flat = _flat(summary)
        return f"graphnca {command}:\n" + table([{"result": k, "value": v} for k, v in flat.items()])
    return f"graphnca {command}: {rounded(summary)}"
