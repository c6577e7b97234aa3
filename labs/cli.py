"""The `latencylab` command (also `python -m labs`).

  latencylab list                       the labs in order, with their guides
  latencylab run [LAB ...] [--quick] [--out DIR]
                                        run labs, print one table, write results.json + plots
  latencylab machine                    the machine and its floors
  latencylab clean [--all]              remove shared-memory segments we left behind
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import cleanup, machine, registry, report, runner


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    t = Table(title="latencylab: the labs, in order")
    for col in ("#", "lab", "title", "guide", "status"):
        t.add_column(col)
    for lab in registry.all_labs():
        status = "[green]available[/]" if lab.available else "[dim]not yet available[/]"
        t.add_row(str(lab.number), lab.id, f"{lab.title}: {lab.summary}", lab.guide, status)
    console.print(t)
    return 0


def _select(names: list[str]) -> list:
    labs = [registry.get(n) for n in names] if names else registry.all_labs()
    unavailable = [lab.id for lab in labs if not lab.available]
    if names and unavailable:
        raise SystemExit(f"not yet available: {', '.join(unavailable)} (see `latencylab list`)")
    return [lab for lab in labs if lab.available]


def default_out_dir(size: str) -> Path:
    """results/<machine-id>/ for a full run; a quick run goes one level down,
    into quick/ (ignored by git), so `make bench` never overwrites the
    committed full results that the README and the notebooks show."""
    base = Path("results") / machine.machine_id()
    return base if size == "full" else base / "quick"


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    try:
        labs = _select(args.labs)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/]")
        return 2
    size = "quick" if args.quick else "full"
    out_dir = Path(args.out) if args.out else default_out_dir(size)
    n_tasks = 1 + len(runner.tasks(labs))
    before = set(cleanup.leftover_segments())
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=n_tasks)
        res = runner.run(labs, size,
                         on_start=lambda label: progress.update(task, description=label),
                         on_done=lambda label: progress.advance(task))
    results = res.to_json()
    report.print_results(results, console)
    written = report.write(results, out_dir, [lab.id for lab in labs])
    console.print("wrote " + ", ".join(written))
    # our segment names end in our pid (labs/<lab>.py scratch names)
    left = sorted(n for n in set(cleanup.leftover_segments()) - before if n.endswith(f"-{os.getpid()}"))
    if left:
        console.print(f"[red]this run left segments in /dev/shm: {left}[/] (a bug; `latencylab clean` removes them)")
    return 1 if res.errors else 0


def cmd_machine(args: argparse.Namespace, console: Console) -> int:
    info = machine.info()
    t = Table(title=f"machine {info['id']}", show_header=False)
    for k, v in info.items():
        t.add_row(k, str(v))
    console.print(t)
    with console.status("measuring floors"):
        floors = machine.floors("full" if args.full else "quick")
    console.print(report.floors_table(floors))
    return 0


def cmd_clean(args: argparse.Namespace, console: Console) -> int:
    removed = cleanup.clean_segments(everything=args.all)
    console.print(f"removed {len(removed)} segment(s)" + (": " + ", ".join(removed) if removed else ""))
    kept = cleanup.leftover_segments()
    if kept:
        console.print(f"kept {len(kept)} that may be in use (a live creator, or no header and under a minute old; "
                      f"--all removes them too): {', '.join(kept)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latencylab", description="Low-latency trading-systems labs: C next to Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the labs in order, with their guides")
    p = sub.add_parser("run", help="run labs (all by default); print a table; write results.json and plots")
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab ids (see `list`), default: all available")
    p.add_argument("--quick", action="store_true", help="small sizes: the whole course in a few minutes on 2 cores")
    p.add_argument("--out", metavar="DIR",
                   help="where to write results.json and plots (default results/<machine-id>/, quick runs in its quick/)")
    p = sub.add_parser("machine", help="the machine and its floors")
    p.add_argument("--full", action="store_true", help="longer floor measurements")
    p = sub.add_parser("clean", help="remove shared-memory segments this project left behind")
    p.add_argument("--all", action="store_true", help="also remove segments whose creator process is still running")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 132)  # logs: wide enough for the table
    handler = {"list": cmd_list, "run": cmd_run, "machine": cmd_machine, "clean": cmd_clean}[args.command]
    return handler(args, console)


if __name__ == "__main__":
    sys.exit(main())
