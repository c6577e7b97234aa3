"""Reporting a run: the table on the terminal, results.json, the plots."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import plots
from .machine import FLOOR_LABELS


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ns" and value >= 10_000:
        return f"{value / 1000:,.1f} µs"
    if unit.endswith("/s") and value >= 1e6:
        return f"{value / 1e6:,.1f} M{unit}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.3g} {unit}"


def fmt_target(target: dict | None) -> str:
    return f"{target['op']} {fmt_value(target['value'], target['unit'])}" if target else "-"


def fmt_met(met: bool | None) -> str:
    return {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[met]


def results_table(results: dict) -> Table:
    t = Table(title=f"latencylab results - {results['machine']['id']} ({results.get('size', '?')} run)")
    for col, just in (("lab", "left"), ("metric", "left"), ("impl", "left"), ("value", "right"),
                      ("target", "right"), ("met", "center"), ("x floor", "right")):
        t.add_column(col, justify=just)
    for r in results["records"]:
        impl = r["impl"] + (f" ({r['variant']})" if r.get("variant") else "")
        ratio = r.get("ratio_to_floor")
        t.add_row(r["lab"], r["metric"], impl, fmt_value(r["value"], r["unit"]), fmt_target(r["target"]),
                  fmt_met(r["met"]), f"{ratio:.1f}x" if ratio else "-")
    return t


def floors_table(floors: dict) -> Table:
    t = Table(title="machine floors")
    t.add_column("floor")
    t.add_column("value", justify="right")
    t.add_column("what")
    for key, (what, unit) in FLOOR_LABELS.items():
        v = floors.get(key)
        t.add_row(key, fmt_value(v, unit) if v is not None else f"- ({floors.get('c2c_note', 'n/a')})", what)
    return t


def print_results(results: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(floors_table(results["floors"]))
    console.print(results_table(results))
    for note in results.get("notes", []):
        console.print(f"[yellow]note[/] {note}")
    for err in results.get("errors", []):
        console.print(f"[red]error[/] {err}")


def write(results: dict, out_dir: Path, lab_ids: list[str]) -> list[str]:
    """results.json and the PNG plots into out_dir; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return [str(path), *plots.save_all(results, lab_ids, out_dir)]
