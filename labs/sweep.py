"""Lab 8: parameter sweeps of backtests on Dask (`latencylab backtest --sweep GRID.toml`).

A sweep runs one backtest per point of a grid - every combination of the
strategy's parameters, on every stream, under every latency model - and
gathers one row per point into a DataFrame (sweep.csv, sweep.json) and a
heatmap of one metric over two parameters.

Why Dask (dask.distributed) and not a home-made process pool
-------------------------------------------------------------
The same code runs on this machine and on a cluster.  By default `run` starts
a LocalCluster - one worker *process* per core, one thread each, because a
backtest is a Python loop that holds the GIL: threads would take turns, not
run side by side - and `--scheduler tcp://host:8786` hands the very same
points to a real cluster's scheduler instead.  Either way the scheduler, not
this module, decides which worker runs which point, keeps every worker busy
as points finish at different speeds, and re-runs the points of a worker that
dies (it cannot tell which of them killed it, so each is blamed; one blamed
four times - `distributed.scheduler.allowed-failures` + 1 - is given up, as
KilledWorker, and reported in its row).  What is left here is the part that
is ours: what a point is, and what to do with the results.

A point is a small dict - a seed or a file path, not the stream's bytes - so
nothing big crosses the network: each worker simulates (`labs.feed.simulate`)
or reads its own stream.  On a cluster, every worker needs this project
installed and the ITCH files at the same paths (a shared filesystem); paths
in a grid file are relative to the grid file and are made absolute when it is
loaded.  Workers are started with the `spawn` method, which re-imports the
caller's main module: a script of yours that calls `run` needs the
`if __name__ == "__main__":` guard (the `latencylab` command has it).

The traps of a sweep
--------------------
- **The best of many points is optimistic.**  Each point's P&L is signal plus
  luck; pick the best of 200 and you have picked the luckiest as much as the
  best, so its figure overstates what those parameters will earn next time
  (the more points, the bigger the overstatement: multiple testing).  Choose
  parameters on some streams and report them on others you held out, never
  looked at while choosing: e.g. sweep `seeds = [0, 1, 2, 3]`, pick on
  seeds 0-2, then read the chosen point's row for seed 3 (or run it on a new
  seed).  On real data, hold out days, not random messages: neighbouring
  messages share a regime.
- **Prefer a plateau to a peak.**  A point whose neighbours are much worse is
  likely noise; the heatmap shows which you have.
- **A sweep over latency is not a parameter to choose.**  Your latency is
  what lab 7 measured; sweep it to see how sensitive a strategy is to it.
- A mean over streams hides their spread: look at the per-stream rows too.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
import os
import pathlib
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

MAX_POINTS = 10_000
TOP_KEYS = ("strategy", "messages", "seeds", "itch", "latency", "fees", "params")
DEFAULT_LATENCY = "constant:0"


class GridError(ValueError):
    """A grid file that cannot be swept; the message names the file, the key
    and the problem."""


class SweepError(RuntimeError):
    """Every point failed (a sweep with some failed points returns them as
    rows with an `error`).  `frame` holds those rows."""

    def __init__(self, message: str, frame: pd.DataFrame) -> None:
        super().__init__(message)
        self.frame = frame


@dataclass(frozen=True)
class Grid:
    """A validated grid (see `load_grid`).  Exactly one of `seeds` (simulated
    streams) and `itch` (absolute paths of ITCH files, each replayed whole)
    is set; `messages` is the length of each simulated stream (None with
    `itch`).  `params` maps a parameter of the strategy's params dataclass to
    the values to try, in the file's order."""

    strategy: str
    messages: int | None = None
    seeds: list[int] | None = None
    itch: list[str] | None = None
    latency: list[str] = field(default_factory=lambda: [DEFAULT_LATENCY])
    fees: str | None = None
    params: dict[str, list] = field(default_factory=dict)

    def streams(self) -> list[tuple[str, int | str]]:
        """("seed", seed) or ("itch", path), one per stream."""
        if self.seeds is not None:
            return [("seed", s) for s in self.seeds]
        return [("itch", p) for p in self.itch or ()]

    def size(self) -> int:
        return math.prod(len(v) for v in self.params.values()) * len(self.latency) * len(self.streams())

    def points(self) -> list[dict]:
        """The grid's points, in a stable order: the product of the parameter
        lists (in the file's order, the last one varying fastest, as
        itertools.product), then the latency models, then the streams,
        innermost - so the rows of one parameter combination sit together,
        one per latency and stream."""
        names = list(self.params)
        out = []
        for *combo, latency, (kind, stream) in itertools.product(*self.params.values(), self.latency,
                                                                 self.streams()):
            out.append({"strategy": self.strategy, "params": dict(zip(names, combo)), kind: stream,
                        "messages": self.messages, "latency": latency, "fees": self.fees})
        return out


# ------------------------------------------------------------ loading a grid file
def _typed(value, default) -> tuple[bool, object]:
    """(ok, value converted) for one value of a parameter whose default is
    `default`: the same type as the default (an int is also a fine float; a
    bool is never an int).  A tuple-valued parameter (a default of a tuple or
    None, like MarketMakerParams.symbols) takes a list of ints, made a tuple;
    TOML has no null, so None itself is had by leaving the parameter out."""
    if isinstance(default, bool):
        return isinstance(value, bool), value
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool), value
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if isinstance(default, str):
        return isinstance(value, str), value
    if default is None or isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return ok, tuple(value) if ok else value
    return isinstance(value, type(default)), value


def _type_name(default) -> str:
    if isinstance(default, bool):
        return "booleans"
    if isinstance(default, int):
        return "ints"
    if isinstance(default, float):
        return "numbers"
    if isinstance(default, str):
        return "strings"
    if default is None or isinstance(default, tuple):
        return "lists of ints"
    return f"{type(default).__name__} values"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def load_grid(path) -> Grid:
    """Read and validate a grid file (TOML; see the example below).  Raises
    GridError, naming the file, the key and the problem, for: a file that is
    not TOML, an unknown top-level key, an unknown strategy or parameter name,
    a value of the wrong type (a parameter's values: the type of its default
    in the strategy's params dataclass), a list that is empty or repeats a
    value, both or neither of `seeds` and `itch` (`messages` goes with
    `seeds` only), `messages` <= 0, an ITCH or fees file that does not exist,
    a fees file or latency spec the backtester refuses, parameter values the
    params class refuses, and a grid of more than MAX_POINTS points.
    Relative paths are relative to the grid file.

        strategy = "mm"                  # a key of labs.backtest.STRATEGY_PARAMS
        messages = 50000                 # per simulated stream
        seeds = [0, 1]                   # or: itch = ["a.itch", "b.itch"]
        latency = ["constant:1000", "constant:20000"]   # default ["constant:0"]
        fees = "fees.toml"               # optional
        [params]                         # each a list; the grid is their product
        qty = [100, 200]
        skew_ticks = [0, 1, 2]
    """
    # lazily: labs.backtest imports the whole backtester, and this module is imported by the CLI at start-up
    from labs.backtest import STRATEGY_PARAMS
    from pyimpl.backtest import Fees, parse_latency

    path = pathlib.Path(path)
    base = path.resolve().parent

    def fail(key: str, problem: str) -> GridError:
        return GridError(f"{path}: {key} {problem}")

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise GridError(f"{path}: cannot read the grid file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{path}: not valid TOML: {e}") from None

    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise fail(", ".join(unknown), f"{'is not a' if len(unknown) == 1 else 'are not'} grid key"
                   f"{'' if len(unknown) == 1 else 's'}; the keys are {', '.join(TOP_KEYS)}")

    strategy = doc.get("strategy")
    if strategy not in STRATEGY_PARAMS:
        raise fail("strategy", f"must be one of {', '.join(map(repr, STRATEGY_PARAMS))}, got {strategy!r}")
    params_cls = STRATEGY_PARAMS[strategy]

    def nonempty_list(key: str, value, what: str, ok: Callable[[object], bool]) -> list:
        if not isinstance(value, list) or not value or not all(ok(v) for v in value):
            raise fail(key, f"must be a non-empty list of {what}, got {value!r}")
        repeated = sorted({repr(v) for v in value if value.count(v) > 1})
        if repeated:
            raise fail(key, f"repeats {', '.join(repeated)} (each value once: a repeated point only "
                            "weighs more in every mean)")
        return value

    def existing(key: str, p: str) -> str:
        full = base / p  # an absolute p stays itself
        if not full.is_file():
            raise fail(key, f"names {p!r}, which is not a file ({full} does not exist)")
        return str(full)

    # streams: exactly one of seeds / itch
    if ("seeds" in doc) == ("itch" in doc):
        raise GridError(f"{path}: seeds / itch: give exactly one, seeds (simulated streams) or itch (ITCH "
                        f"files); got {'both' if 'seeds' in doc else 'neither'}")
    seeds = itch = None
    if "seeds" in doc:
        seeds = nonempty_list("seeds", doc["seeds"], "ints >= 0", lambda v: _is_int(v) and v >= 0)
    else:
        files = nonempty_list("itch", doc["itch"], "file paths (strings)", lambda v: isinstance(v, str))
        itch = [existing(f"itch[{i}]", p) for i, p in enumerate(files)]

    messages = doc.get("messages")
    if messages is None and seeds is not None:
        raise fail("messages", "is needed with seeds: the length of each simulated stream, in messages")
    if messages is not None and itch is not None:
        raise fail("messages", "is for simulated streams (seeds); an ITCH file is replayed whole")
    if messages is not None and (not _is_int(messages) or messages <= 0):
        raise fail("messages", f"must be an int > 0, got {messages!r}")

    latency = nonempty_list("latency", doc.get("latency", [DEFAULT_LATENCY]), "latency specs (strings)",
                            lambda v: isinstance(v, str))
    for i, spec in enumerate(latency):
        kind, _, arg = spec.partition(":")
        if kind == "from" and arg:  # a results.json of lab 7's: relative to the grid file, like every path here
            latency[i] = spec = f"from:{base / arg}"
        try:
            parse_latency(spec)
        except ValueError as e:
            raise fail(f"latency[{i}]", str(e)) from None

    fees = doc.get("fees")
    if fees is not None:
        if not isinstance(fees, str):
            raise fail("fees", f"must be the path of a fees file (a string), got {fees!r}")
        fees = existing("fees", fees)
        try:
            Fees.from_toml(fees)
        except ValueError as e:
            raise fail("fees", str(e)) from None

    raw = doc.get("params", {})
    if not isinstance(raw, dict):
        raise fail("params", f"must be a table ([params]) of lists, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    params: dict[str, list] = {}
    for name, values in raw.items():
        key = f"params.{name}"
        if name not in fields:
            raise fail(key, f"is not a parameter of {strategy!r} ({params_cls.__name__}: "
                            f"{', '.join(fields)})")
        default = fields[name].default
        if default is dataclasses.MISSING and fields[name].default_factory is not dataclasses.MISSING:
            default = fields[name].default_factory()
        what = _type_name(default)
        if not isinstance(values, list) or not values:
            raise fail(key, f"must be a non-empty list of {what}, got {values!r}")
        converted = []
        for v in values:
            ok, cv = _typed(v, default)
            if not ok:
                raise fail(key, f"must be a non-empty list of {what}, got {v!r}")
            converted.append(cv)
        params[name] = nonempty_list(key, converted, what, lambda v: True)

    grid = Grid(strategy=strategy, messages=messages, seeds=seeds, itch=itch, latency=latency, fees=fees,
                params=params)
    if grid.size() > MAX_POINTS:
        sizes = " x ".join([f"params.{k} {len(v)}" for k, v in params.items()]
                           + [f"latency {len(latency)}", f"{'seeds' if seeds is not None else 'itch'} "
                              f"{len(grid.streams())}"])
        raise fail("params", f"make a grid of {grid.size():,} points ({sizes}); at most {MAX_POINTS:,}: "
                             "a sweep that size is a search, and its best point mostly luck")
    # the params class may refuse some values (a __post_init__ check): find out here, not on a worker
    for combo in itertools.product(*params.values()):
        try:
            params_cls(**dict(zip(params, combo)))
        except (TypeError, ValueError) as e:
            raise fail("params", f"{dict(zip(params, combo))} refused by {params_cls.__name__}: {e}") from None
    return grid


# ------------------------------------------------------------ running a sweep
def _run_point(point: dict, func: Callable[[dict], Mapping]) -> dict:
    """The task a worker runs for one point: `func(point)`, with an exception
    turned into an `error` entry (formatted here, on the worker: some
    exceptions do not survive pickling back to the client, e.g. one whose
    __init__ takes other arguments than its message), and the worker's
    address (where the scheduler put the point)."""
    from distributed import get_worker

    try:
        result = func(point)
        if not isinstance(result, Mapping):
            raise TypeError(f"the point's function returned {type(result).__name__}, not a dict")
        out = dict(result)
    except Exception as e:  # noqa: BLE001 - one failed point must not fail the sweep
        out = {"error": f"{type(e).__name__}: {e}"}
    out["worker"] = get_worker().address
    return out


def _row(i: int, point: dict) -> dict:
    """A point as a flat row: params as their own columns, the stream (a seed
    or a path) as `stream`, the fees file as `fees_file` (`fees` is a result:
    the $ the backtest paid)."""
    stream = point["seed"] if "seed" in point else point.get("itch")
    return {"point": i, "strategy": point["strategy"], **point["params"], "stream": stream,
            "latency": point["latency"], "messages": point["messages"], "fees_file": point["fees"]}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run(grid: Grid | str | os.PathLike, scheduler: str | None = None, workers: int | None = None,
        progress: bool = True, func: Callable[[dict], Mapping] | None = None) -> pd.DataFrame:
    """Run `func(point)` for every point of `grid` (a Grid or a grid file) on
    Dask, one task per point, and return one row per point in grid order:
    `point` (its number), the point's keys (params as their own columns,
    the stream as `stream`, the fees file as `fees_file`), then func's
    result columns, `worker` (where it ran) and, where a point raised,
    `error` (its exception, formatted) in place of results; a result that
    reuses one of the point's column names is an error too.  Raises
    SweepError only if every point failed.

    scheduler: None starts a LocalCluster of `workers` processes (default:
    one per core, at most one per point), closed at the end; an address
    (tcp://host:8786) uses that cluster's scheduler and closes only our
    Client.  func: default `labs.backtest.sweep_point`; it must pickle (a
    module-level function).  progress: a progress bar as points complete
    and, for a LocalCluster, its dashboard (on a free port) - for a person
    watching; False for neither."""
    from distributed import Client, LocalCluster

    if not isinstance(grid, Grid):
        grid = load_grid(grid)
    if func is None:
        from labs.backtest import sweep_point as func
    if scheduler is not None and workers is not None:
        raise ValueError("workers is for the local cluster; a scheduler's cluster has the workers it has")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    points = grid.points()

    cluster = None
    t0 = time.perf_counter()
    if scheduler is None:
        n = workers or min(_cores(), len(points))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0" if progress else None, silence_logs=logging.ERROR)
    try:
        client = Client(cluster if cluster is not None else scheduler)
        try:
            results = _gather(client, points, func, progress, time.perf_counter() - t0)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()

    rows = []
    for i, (point, result) in enumerate(zip(points, results)):
        row = _row(i, point)
        clash = [k for k in result if k in row]
        if clash:  # a result column must not overwrite what the point was
            result = {"error": f"the result repeats the point's own column(s) {clash}",
                      "worker": result.get("worker")}
        rows.append({**row, **result})
    df = pd.DataFrame(rows)
    if "error" in df:  # last, where it is easy to see
        df = df[[c for c in df.columns if c != "error"] + ["error"]]
    df.attrs["params"] = list(grid.params)  # which columns are parameters: write()'s default heatmap axes
    df.attrs["dimensions"] = [*grid.params, "latency", "stream"]
    failed = int(df["error"].notna().sum()) if "error" in df else 0
    if failed == len(df):
        raise SweepError(f"every one of the {len(df)} points failed; the first: {df['error'].iloc[0]}", df)
    return df


def _gather(client, points: list[dict], func, progress: bool, startup_s: float) -> list[dict]:
    """Submit every point, collect results as they complete (in any order),
    return them in grid order."""
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    console = Console(stderr=True)
    n_workers = len(client.scheduler_info().get("workers", {}))
    if progress:
        where = client.dashboard_link or client.scheduler.address
        console.print(f"sweep: {len(points)} points on {n_workers} worker(s) (started in {startup_s:.1f} s): "
                      f"{where}", soft_wrap=True)
        if n_workers == 0:
            console.print("[yellow]the scheduler has no workers yet: the points wait for one[/]")

    # (func rides in a partial: Client.map's own first parameter is called func)
    futures = client.map(functools.partial(_run_point, func=func), points, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[dict | None] = [None] * len(points)
    errors = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, disable=not progress) as bar:
        task = bar.add_task("sweep", total=len(points))
        for fut in as_completed(futures):
            i = index[fut.key]
            if fut.status == "error":  # the task itself failed: its worker died (KilledWorker), or unpickling
                exc = fut.exception()
                results[i] = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                results[i] = fut.result()
            errors += "error" in results[i]
            bar.update(task, advance=1, description=f"sweep ({errors} failed)" if errors else "sweep")
    return results


# ------------------------------------------------------------ results
def _pivot(df: pd.DataFrame, x: str, y: str, value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean of value, number of points with a value) per (y, x) cell; points
    that failed (no value) are left out of the mean."""
    for col in (x, y, value):
        if col not in df:
            raise ValueError(f"no column {col!r} in the sweep (columns: {', '.join(map(str, df.columns))})")
    if x == y:
        raise ValueError(f"x and y must differ, both are {x!r}")
    if not pd.api.types.is_numeric_dtype(df[value]):
        raise ValueError(f"{value!r} is not a numeric column")
    mean = df.pivot_table(index=y, columns=x, values=value, aggfunc="mean", dropna=False)
    count = df.pivot_table(index=y, columns=x, values=value, aggfunc="count", dropna=False)
    return mean, count


def _title(df: pd.DataFrame, x: str, y: str, value: str, count: pd.DataFrame) -> str:
    dims = df.attrs.get("dimensions") or []
    others = [d for d in dims if d not in (x, y) and d in df and df[d].nunique(dropna=False) > 1]
    lo, hi = int(count.min().min()), int(count.max().max())
    n = f"{lo}" if lo == hi else f"{lo}-{hi}"
    if others:
        return f"{value}: mean over {', '.join(others)} ({n} points per cell)"
    return f"{value} ({n} point{'s' if hi > 1 else ''} per cell)"


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, path) -> pathlib.Path:
    """A seaborn heatmap (PNG) of `value` over two columns of a sweep: each
    cell the mean over the sweep's other dimensions (which, the title says).
    A diverging palette centred on 0 where the values have both signs (P&L).
    Returns the path written."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    mean, count = _pivot(df, x, y, value)
    finite = mean.stack().dropna()
    both_signs = len(finite) > 0 and finite.min() < 0 < finite.max()
    fig, ax = plt.subplots(figsize=(min(16, 2.5 + 1.0 * mean.shape[1]), min(12, 2.0 + 0.6 * mean.shape[0])))
    try:
        sns.heatmap(mean, ax=ax, annot=mean.size <= 400, fmt=".3g", cmap="vlag" if both_signs else "viridis",
                    center=0 if both_signs else None, cbar_kws={"label": value})
        ax.invert_yaxis()  # y grows upwards, as on any other plot
        ax.set_title(_title(df, x, y, value, count), fontsize=10)
        fig.tight_layout()
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path


def _varying_params(df: pd.DataFrame) -> list[str]:
    return [p for p in df.attrs.get("params", []) if p in df and df[p].nunique(dropna=False) > 1]


def write(df: pd.DataFrame, out_dir, x: str | None = None, y: str | None = None,
          value: str = "pnl") -> list[pathlib.Path]:
    """Write sweep.csv, sweep.json (a list of records) and the heatmap of
    `value` over x and y (sweep_<value>.png) into out_dir; x and y default
    to the first two parameters with more than one value (no heatmap where
    fewer than two vary; the parameters are known from a DataFrame `run`
    made).  Returns the paths written."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sweep.csv", out / "sweep.json"]
    df.to_csv(paths[0], index=False)
    paths[1].write_text(df.to_json(orient="records", indent=2) + "\n")
    if x is None or y is None:
        rest = [p for p in _varying_params(df) if p not in (x, y)]
        x = x if x is not None else (rest.pop(0) if rest else None)
        y = y if y is not None else (rest.pop(0) if rest else None)
    if x is not None and y is not None:
        paths.append(heatmap(df, x, y, value, out / f"sweep_{value}.png"))
    return paths


__all__ = ["Grid", "GridError", "MAX_POINTS", "SweepError", "heatmap", "load_grid", "run", "write"]
