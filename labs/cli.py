"""The `latencylab` command (also `python -m labs`).

  latencylab list                       the labs in order, with their guides
  latencylab run [LAB ...] [--quick] [--out DIR] [--itch FILE]
                                        run labs, print one table, write results.json + plots
  latencylab replay FILE [--depth N] [--json OUT] [--lenient]
                                        an ITCH 5.0 file through the C and the Python book
  latencylab train [--out DIR]          lab 6: train the models on the simulated market, write .npz
  latencylab check [LAB [EXERCISE]] [--solution]
                                        check the exercises (exercises/<lab>/<exercise>/)
  latencylab system [--strategy c|python] [--model numpy|c] [--messages N | --duration S] [--rate R] ...
                                        lab 7: the trading system, three processes, a live dashboard
  latencylab system kill                trip the kill switch of the system running on this machine
  latencylab backtest [--itch FILE | --seed S --messages N] [--strategy mm|signal|c|c-mm] [--latency SPEC]
                      [--fees FILE] [--risk FILE] [--param K=V ...] [--sweep GRID.toml [--scheduler ADDR]] [--out DIR]
                                        lab 8: the strategy through the backtester; report, plots, results.json
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
from .lab import Skip


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


def default_out_dir(size: str, itch: bool = False) -> Path:
    """results/<machine-id>/ for a full run; a quick run goes one level down,
    into quick/ (ignored by git), so `make bench` never overwrites the
    committed full results that the README and the notebooks show; so does a
    run on an ITCH file of your own (itch/, ignored too)."""
    base = Path("results") / machine.machine_id()
    if itch:
        return base / "itch"
    return base if size == "full" else base / "quick"


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    try:
        labs = _select(args.labs)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/]")
        return 2
    size = "quick" if args.quick else "full"
    if args.itch:
        from . import order_book

        if [lab.id for lab in labs] != ["order-book"]:
            console.print("[red]--itch FILE feeds the order-book lab: run it alone (`latencylab run order-book --itch FILE`)[/]")
            return 2
        try:
            order_book.use_itch_file(args.itch)
        except FileNotFoundError as e:
            console.print(f"[red]{e}[/]")
            return 2
    out_dir = Path(args.out) if args.out else default_out_dir(size, bool(args.itch))
    commit = machine.git_commit()
    if size == "full" and not args.out and not args.itch and commit and commit.endswith("-dirty"):
        # results/<machine>/ is what gets committed: its figures must come from a commit
        console.print(f"[red]refusing a full run into {out_dir}: the working tree has uncommitted changes "
                      f"({commit}), so no commit would hold the code these figures come from.[/] "
                      "Commit first, or write elsewhere with --out DIR.")
        return 2
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


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    import json

    from . import order_book

    path = Path(args.file)
    if not path.is_file():
        console.print(f"[red]ITCH file {path} not found[/]")
        return 2
    if args.depth < 1:
        console.print("[red]--depth must be at least 1[/]")
        return 2
    from pyimpl import errors, itch

    with console.status(f"replaying {path.name} through the C and the Python book"):
        try:
            got = order_book.replay(path.read_bytes(), args.depth, args.lenient)
        except (itch.ItchError, errors.BookError) as e:
            console.print(f"[red]{path}: {type(e).__name__}: {e}[/] (--lenient counts and skips what the book rejects)")
            return 1
        except order_book.BooksDisagree as e:
            console.print(f"[red]{e}[/]")
            return 1
    c = got["counts"]
    console.print(f"{c['messages']:,} messages: {c['book']:,} book updates, {c['other']:,} other known, "
                  f"{sum(c['skipped'].values()):,} of other types skipped {dict(sorted(c['skipped'].items()))}, "
                  f"{c['rejected']:,} rejected, {'truncated at the end' if c['truncated'] else 'complete'}; "
                  f"{got['orders']:,} orders resting. C {got['seconds']['c']:.3f} s, "
                  f"Python {got['seconds']['python']:.3f} s; the two books agree.")
    t = Table(title=f"top of book at the end of {path.name}")
    for col in ("symbol", "bid shares", "bid", "ask", "ask shares", "levels (bid/ask)"):
        t.add_column(col, justify="right" if col != "symbol" else "left")
    for sym, side in got["snapshot"].items():
        bid = side["bids"][0] if side["bids"] else ["-", "", ""]
        ask = side["asks"][0] if side["asks"] else ["-", "", ""]
        t.add_row(sym, str(bid[1]), bid[0], ask[0], str(ask[1]), f"{len(side['bids'])}/{len(side['asks'])}")
    console.print(t)
    if args.json:
        Path(args.json).write_text(json.dumps(got, indent=1) + "\n")
        console.print(f"wrote {args.json}")
    return 0


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from . import ml_training

    out = Path(args.out) if args.out else ml_training.MODELS_DIR
    with console.status("training") as status:
        got = ml_training.train(out, progress=lambda msg: status.update(msg))
    r = got["report"]
    t = Table(title=f"out of sample: {r['test']['rows']:,} updates of another stream (seed {r['test']['seed']}), "
                    f"horizon {r['horizon']} updates")
    for col in ("model", "accuracy", "AUC"):
        t.add_column(col)
    b = r["baselines"]
    t.add_row("always the majority class", f"{b['majority_accuracy']:.3f}", "0.500")
    t.add_row("momentum (sign of mid_return)", f"{b['momentum_accuracy']:.3f}", f"{b['momentum_auc']:.3f}")
    for kind, m in r["models"].items():
        t.add_row(kind, f"{m['accuracy']:.3f}", f"{m['auc']:.3f}")
    console.print(t)
    console.print(f"trained on {r['train']['rows']:,} updates (seed {r['train']['seed']}) in {r['seconds']:.0f} s; "
                  f"wrote {', '.join(str(out / f) for f in ml_training.MODEL_FILES.values())} and report.json")
    return 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from . import exercises

    try:
        chosen = exercises.select(args.names)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/]")
        return 2
    if not chosen:
        console.print(f"[red]no exercises under {exercises.exercises_dir()}[/]")
        return 2
    t = Table(title="latencylab check" + (" --solution" if args.solution else "") + ": one line per exercise")
    for col, just in (("exercise", "left"), ("kind", "left"), ("verdict", "center"), ("ratio", "right"),
                      ("reason", "left")):
        t.add_column(col, justify=just, overflow="fold")
    failed = 0
    with console.status("checking") as status:
        for ex in chosen:
            status.update(f"checking {ex.name}")
            where = ex.folder / "solution" if args.solution else ex.folder
            v = exercises.judge_isolated(ex, where)
            if not v.passed and ex.kind == "speed" and v.ratio is not None:
                # a speed figure on a shared machine: one more run before the miss counts
                status.update(f"checking {ex.name} again (a speed check that missed)")
                again = exercises.judge_isolated(ex, where)
                v = again if again.passed else v
                v.reason += " (second run)" if again.passed else " (missed twice)"
            failed += not v.passed
            t.add_row(ex.name, ex.kind, "[green]passed[/]" if v.passed else "[red]failed[/]",
                      f"{v.ratio:.2f}x" if v.ratio is not None else "-", v.reason)
    console.print(t)
    console.print(f"{len(chosen) - failed} of {len(chosen)} passed" + ("" if args.solution else
                  "; each exercise's README says the task and the rule for passing"))
    return 1 if failed else 0


def cmd_system(args: argparse.Namespace, console: Console) -> int:
    import json
    import signal as _signal

    from rich.live import Live

    from . import dashboard, system

    if args.action == "kill":
        n = system.kill_running()
        console.print(f"kill switch tripped in {n} running system(s)" if n else "[red]no running system found[/]")
        return 0 if n else 1
    messages = args.messages
    if args.duration is not None:
        if not args.rate:
            console.print("[red]--duration S needs --rate R (the feed is S x R messages)[/]")
            return 2
        messages = int(args.duration * args.rate)
    try:
        cfg = system.Config(strategy=args.strategy, model=args.model, transport=args.transport, messages=messages,
                            rate=args.rate or 0.0, itch=args.itch, risk=args.risk, wait=args.wait, seed=args.seed,
                            placement=args.placement,
                            kill_at=args.kill_strategy_at)
        system.check_config(cfg)
    except (ValueError, RuntimeError, Skip) as e:
        console.print(f"[red]{e}[/]")
        return 2
    board = dashboard.Dashboard(cfg)
    stop = {"asked": False}

    def on_sigint(signum, frame):  # Ctrl-C: stop everything cleanly (the supervisor's stop word), not a traceback
        stop["asked"] = True

    old = _signal.signal(_signal.SIGINT, on_sigint)
    try:
        with Live(board.renderable(), console=console, refresh_per_second=8, transient=False) as live:
            def tick(control, elapsed):
                if stop["asked"] and not control.stopping:
                    control.stop()
                board.on_tick(control, elapsed)
                live.update(board.renderable())
            res = system.run(cfg, on_tick=tick)
    finally:
        _signal.signal(_signal.SIGINT, old)
    if stop["asked"]:
        res.faults.append("stopped by Ctrl-C")
    for part in dashboard.report_tables(res):
        console.print(part)
    if args.out:
        from . import trading_system

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        records = trading_system.records_of(res)
        (out / "system.json").write_text(json.dumps({"config": system.config_dict(cfg), "records": records,
                                                     "reconciliation": res.reconciliation, "faults": res.faults,
                                                     "errors": res.errors}, indent=1) + "\n")
        console.print(f"wrote {out / 'system.json'}")
    return 0 if res.reconciled and not res.errors else 1


def _param(text: str) -> tuple[str, object]:
    """--param K=V: V as TOML reads it (100, 0.65, true, [1, 2]); a bare word stays a string."""
    import tomllib

    k, eq, v = text.partition("=")
    if not eq or not k.strip():
        raise ValueError(f"--param {text!r}: expected NAME=VALUE")
    try:
        return k.strip(), tomllib.loads(f"v = {v}")["v"]
    except tomllib.TOMLDecodeError:
        return k.strip(), v


def cmd_backtest(args: argparse.Namespace, console: Console) -> int:
    import json

    from pyimpl import backtest as pbt
    from pyimpl.itch import ItchError

    from . import analytics, backtest

    out = Path(args.out) if args.out else Path("results") / machine.machine_id() / "itch" / "backtest"
    if args.sweep:
        from . import sweep

        try:
            grid = sweep.load_grid(args.sweep)
        except (ValueError, OSError) as e:
            console.print(f"[red]{e}[/]")
            return 2
        df = sweep.run(grid, scheduler=args.scheduler)
        written = sweep.write(df, out)
        shown = [c for c in ("point", *df.attrs.get("params", ()), "stream", "latency", "pnl", "fees",
                             "sharpe_per_bar", "fills", "fill_ratio", "events_per_s", "error") if c in df]
        console.print(df[shown].to_string(max_rows=60, index=False))  # every column is in sweep.csv
        console.print("wrote " + ", ".join(str(p) for p in written))
        return 0 if "error" not in df or df["error"].isna().all() else 1
    try:
        params = dict(_param(p) for p in args.param)
        strategy = backtest.make_strategy(args.strategy, params)
        latency = pbt.parse_latency(args.latency, seed=args.latency_seed)
        fees = pbt.Fees.from_toml(args.fees) if args.fees else pbt.Fees()
        risk = backtest.risk_limits(args.strategy, args.risk)
        stream = backtest.load_stream(args.seed, args.messages, args.itch)
    except (ValueError, OSError) as e:
        console.print(f"[red]{e}[/]")
        return 2
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(f"backtest {args.strategy}", total=None)
        try:
            res = backtest.backtest(stream, strategy, loop=args.loop, latency=latency, fees=fees, risk=risk,
                                    lenient=args.lenient,
                                    progress=lambda done: progress.update(task, completed=done))
        except pbt.BacktestError as e:
            res = e.partial
            console.print(f"[red]{e}[/] (the partial report below stops there)")
        except (ItchError, ValueError) as e:
            console.print(f"[red]{e}[/] (--lenient replays what comes before it)")
            return 2
    if res is None:
        return 1
    a = backtest.analyze(res)
    source = str(args.itch) if args.itch else f"simulated, seed {args.seed}, {args.messages} messages"
    config = {"stream": source, "strategy": args.strategy, "params": params, "latency": latency.describe(),
              "fees": {"maker": fees.maker, "taker": fees.taker}, "risk": args.risk or str(backtest.RISK_FILES[args.strategy]),
              "loop": args.loop, "events": res.events, "events_per_s": res.events_per_s,
              "orders_sent": res.orders_sent, "rejects": res.rejects, "rejects_by_reason": res.rejects_by_reason,
              "reconciled": res.reconciled, "halted": res.halted, "stopped_at": res.error}
    out.mkdir(parents=True, exist_ok=True)
    report_md = analytics.report_markdown(a, f"Backtest: {args.strategy} on {source}", config)
    (out / "report.md").write_text(report_md)
    plots_written = analytics.plot(a, res.fills_frame(), res.marks_frame(), out)
    res.fills_frame().to_csv(out / "fills.csv", index=False)
    impl = "c" if args.strategy in ("c", "c-mm") else "python"
    records = [{"lab": "backtest", "metric": k, "impl": impl,
                "variant": args.strategy, "value": float(v), **({"config": config} if k == "pnl" else {})}
               for k, v in a.summary.items() if isinstance(v, (int, float))]
    records.append({"lab": "backtest", "metric": "events_per_s", "impl": impl,
                    "variant": args.strategy, "value": res.events_per_s, "unit": "msg/s"})
    (out / "results.json").write_text(json.dumps({"machine": machine.info(), "records": records}, indent=1,
                                                 default=str) + "\n")
    console.print(report_md)
    console.print("wrote " + ", ".join(str(p) for p in [out / "report.md", out / "results.json", out / "fills.csv",
                                                         *plots_written]))
    return 0 if res.reconciled and res.error is None else 1


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
    p.add_argument("--itch", metavar="FILE",
                   help="order-book: apply this ITCH 5.0 file (2-byte length framing) instead of the simulated feed")
    p = sub.add_parser("replay", help="apply an ITCH 5.0 file with the C and the Python book; final top-N snapshot")
    p.add_argument("file", metavar="FILE", help="ITCH 5.0, each message preceded by its 2-byte big-endian length")
    p.add_argument("--depth", type=int, default=10, help="levels per side in the snapshot (default 10)")
    p.add_argument("--json", metavar="OUT", help="write the snapshot (keyed by stock symbol) and counts as JSON")
    p.add_argument("--lenient", action="store_true",
                   help="count and skip messages the book rejects, and a truncated end, instead of failing")
    p = sub.add_parser("train", help="lab 6: train the models on the simulated market; write .npz files")
    p.add_argument("--out", metavar="DIR", help="where to write the models (default: labs/models, the committed ones)")
    p = sub.add_parser("check", help="check exercises: correctness against the lab's invariants, speed against a "
                       "baseline measured in the same run")
    p.add_argument("names", nargs="*", metavar="LAB [EXERCISE]", help="a lab (id or number), and one of its exercises")
    p.add_argument("--solution", action="store_true", help="check the shipped solutions instead of your files")
    p = sub.add_parser("system", help="lab 7: exchange, C engine and strategy as processes, with a live dashboard")
    p.add_argument("action", nargs="?", choices=("run", "kill"), default="run",
                   help="run (default), or kill: trip the kill switch of the system running on this machine")
    p.add_argument("--strategy", choices=("python", "c"), default="python",
                   help="python: its own process (default); c: inside the engine (the lower bound)")
    p.add_argument("--model", choices=("numpy", "c"), default="numpy", help="the Python strategy's model")
    p.add_argument("--transport", choices=("ring", "bridge", "queue", "zmq", "iceoryx2"), default="ring",
                   help="between engine and strategy: lab 3's rings (default), or a peer through a bridge process")
    p.add_argument("--messages", type=int, default=200_000, help="order-flow messages of the simulated feed")
    p.add_argument("--duration", type=float, help="seconds of feed at --rate (instead of --messages)")
    p.add_argument("--rate", type=float, help="feed messages per second (default: as fast as the engine takes them)")
    p.add_argument("--itch", metavar="FILE", help="a framed ITCH 5.0 file instead of the simulated feed")
    p.add_argument("--risk", metavar="FILE", help="risk limits (default: labs/07-trading-system/risk.toml)")
    p.add_argument("--wait", choices=("auto", "adaptive", "spin", "yield", "futex"), default="auto",
                   help="how the strategy waits for work (auto: spin on a core of its own; see the lab 7 guide)")
    p.add_argument("--placement", choices=("auto", "strategy-alone", "engine-alone"), default="auto",
                   help="who shares a core with whom (two CPUs, three processes; see the lab 7 guide)")
    p.add_argument("--seed", type=int, default=0, help="the simulated feed's seed")
    p.add_argument("--kill-strategy-at", type=int, default=0, metavar="N",
                   help="a fault: SIGKILL the strategy after N feed messages (the engine must survive it)")
    p.add_argument("--out", metavar="DIR", help="write system.json (records, reconciliation) there")
    p = sub.add_parser("backtest", help="lab 8: a strategy through the event-driven backtester; report, plots")
    p.add_argument("--itch", metavar="FILE", help="a framed ITCH 5.0 file instead of the simulated feed")
    p.add_argument("--seed", type=int, default=0, help="the simulated feed's seed")
    p.add_argument("--messages", type=int, default=200_000, help="order-flow messages of the simulated feed")
    p.add_argument("--strategy", choices=("mm", "signal", "c", "c-mm"), default="mm",
                   help="mm: the market maker; signal: lab 7's Python signal strategy; c: its C twin, in the C loop; "
                        "c-mm: the market maker's C twin, inside the C loop")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a strategy parameter (MarketMakerParams / SignalParams fields), repeatable")
    p.add_argument("--latency", default="constant:10000", metavar="SPEC",
                   help="constant:NS, constant:FEED,ORDER,REPLY, or from:PATH (a lab-7 results.json); "
                        "default constant:10000")
    p.add_argument("--latency-seed", type=int, default=0, help="the seed of the latency draws (from:PATH)")
    p.add_argument("--fees", metavar="FILE", help="maker / taker fees, $ per share (TOML); default -0.002 / 0.003")
    p.add_argument("--risk", metavar="FILE", help="risk limits (default: lab 8's risk-mm.toml for mm, lab 7's "
                   "risk.toml for the signal strategies)")
    p.add_argument("--loop", choices=("c", "python"), default="c", help="the C loop (default) or the reference one")
    p.add_argument("--lenient", action="store_true", help="stop at the first bad frame and report what came before")
    p.add_argument("--sweep", metavar="GRID.toml", help="a parameter grid, run on Dask (see the lab 8 guide)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler to run the sweep on (default: a "
                   "LocalCluster on this machine)")
    p.add_argument("--out", metavar="DIR", help="where to write (default results/<machine-id>/itch/backtest, "
                   "ignored by git)")
    p = sub.add_parser("machine", help="the machine and its floors")
    p.add_argument("--full", action="store_true", help="longer floor measurements")
    p = sub.add_parser("clean", help="remove shared-memory segments this project left behind")
    p.add_argument("--all", action="store_true", help="also remove segments whose creator process is still running")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 132)  # logs: wide enough for the table
    handler = {"list": cmd_list, "run": cmd_run, "replay": cmd_replay, "train": cmd_train,
               "check": cmd_check, "system": cmd_system, "backtest": cmd_backtest, "machine": cmd_machine, "clean": cmd_clean}[args.command]
    return handler(args, console)


if __name__ == "__main__":
    sys.exit(main())
