"""Lab 8's parameter sweeps (labs/sweep.py): the grid file and its checks,
the points in their order, a sweep on a real Dask LocalCluster (two worker
processes; a point that raises; nothing left running afterwards), and the
files it writes.

The sweeps here run a fake point function (module-level, so the workers can
unpickle it by reference: they import this module) instead of a backtest, so
they take the cluster's start-up time and little more."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import os
import sys
import textwrap
import time
import types

import pandas as pd
import psutil
import pytest

from labs import sweep
from labs.sweep import Grid, GridError, SweepError


@pytest.fixture(autouse=True)
def strategy_params(monkeypatch):
    """labs.backtest.STRATEGY_PARAMS - or, while that module is being written,
    a stand-in with the same entries."""
    try:
        from labs.backtest import STRATEGY_PARAMS
    except ImportError:
        from pyimpl.trading_system import MarketMakerParams, SignalParams

        fake = types.ModuleType("labs.backtest")
        fake.STRATEGY_PARAMS = STRATEGY_PARAMS = {"mm": MarketMakerParams, "signal": SignalParams,
                                                  "c": SignalParams}
        monkeypatch.setitem(sys.modules, "labs.backtest", fake)
    return STRATEGY_PARAMS


def write_grid(tmp_path, text: str, name: str = "grid.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------ load_grid
def test_load_grid(tmp_path):
    (tmp_path / "fees.toml").write_text("maker = -0.001\ntaker = 0.002\n")
    path = write_grid(tmp_path, """\
        strategy = "mm"
        messages = 5000
        seeds = [3, 1]
        latency = ["constant:1000", "constant:20000,30000,40000"]
        fees = "fees.toml"
        [params]
        qty = [100, 200]
        skew_ticks = [0, 1, 2]
        symbols = [[1, 2], [3]]
    """)
    g = sweep.load_grid(path)
    assert g == Grid(strategy="mm", messages=5000, seeds=[3, 1], itch=None,
                     latency=["constant:1000", "constant:20000,30000,40000"], fees=str(tmp_path / "fees.toml"),
                     params={"qty": [100, 200], "skew_ticks": [0, 1, 2], "symbols": [(1, 2), (3,)]})
    assert g.size() == len(g.points()) == 2 * 3 * 2 * 2 * 2


def test_load_grid_defaults_and_itch(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.itch").write_bytes(b"")
    path = write_grid(tmp_path, """\
        strategy = "signal"
        itch = ["data/a.itch"]
        [params]
        enter = [0.55, 1]
    """)
    g = sweep.load_grid(path)
    assert g.itch == [str(tmp_path / "data" / "a.itch")]  # relative to the grid file, made absolute
    assert g.seeds is None and g.messages is None and g.fees is None
    assert g.latency == ["constant:0"]
    assert g.params == {"enter": [0.55, 1.0]} and all(type(v) is float for v in g.params["enter"])


def test_load_grid_without_params_is_one_point_per_stream(tmp_path):
    g = sweep.load_grid(write_grid(tmp_path, 'strategy = "c"\nmessages = 10\nseeds = [0, 1]\n'))
    assert [p["params"] for p in g.points()] == [{}, {}]


BASE = 'strategy = "mm"\nmessages = 1000\nseeds = [0]\n'

BAD_GRIDS = {
    # name: (grid file, the key its message names)
    "not-toml": ("strategy = \n", "not valid TOML"),
    "unknown-key": (BASE + "sedes = [1]\n", "sedes"),
    "no-strategy": ("messages = 10\nseeds = [0]\n", "strategy"),
    "unknown-strategy": ('strategy = "hft"\nmessages = 10\nseeds = [0]\n', "strategy"),
    "unknown-param": (BASE + "[params]\nskew = [1]\n", "params.skew"),
    "param-wrong-type": (BASE + '[params]\nqty = ["x"]\n', "params.qty"),
    "param-float-for-int": (BASE + "[params]\nqty = [1.5]\n", "params.qty"),
    "param-bool-for-int": (BASE + "[params]\nqty = [true]\n", "params.qty"),
    "param-not-a-list": (BASE + "[params]\nqty = 100\n", "params.qty"),
    "param-empty": (BASE + "[params]\nqty = []\n", "params.qty"),
    "param-repeated": (BASE + "[params]\nqty = [100, 100]\n", "params.qty"),
    "param-tuple-wrong-type": (BASE + "[params]\nsymbols = [1, 2]\n", "params.symbols"),
    "signal-param-wrong-type": ('strategy = "signal"\nmessages = 10\nseeds = [0]\n[params]\nenter = ["hi"]\n',
                                "params.enter"),
    "params-not-a-table": (BASE + "params = 3\n", "params"),
    "both-streams": ('strategy = "mm"\nmessages = 10\nseeds = [0]\nitch = ["a.itch"]\n', "seeds / itch"),
    "no-stream": ('strategy = "mm"\nmessages = 10\n', "seeds / itch"),
    "seeds-empty": ('strategy = "mm"\nmessages = 10\nseeds = []\n', "seeds"),
    "seeds-wrong-type": ('strategy = "mm"\nmessages = 10\nseeds = ["0"]\n', "seeds"),
    "seeds-negative": ('strategy = "mm"\nmessages = 10\nseeds = [-1]\n', "seeds"),
    "itch-missing-file": ('strategy = "mm"\nitch = ["nowhere.itch"]\n', "itch[0]"),
    "itch-with-messages": ('strategy = "mm"\nmessages = 10\nitch = ["a.itch"]\n', "messages"),
    "messages-missing": ('strategy = "mm"\nseeds = [0]\n', "messages"),
    "messages-zero": ('strategy = "mm"\nmessages = 0\nseeds = [0]\n', "messages"),
    "messages-negative": ('strategy = "mm"\nmessages = -5\nseeds = [0]\n', "messages"),
    "messages-string": ('strategy = "mm"\nmessages = "10"\nseeds = [0]\n', "messages"),
    "latency-empty": (BASE + "latency = []\n", "latency"),
    "latency-bad-spec": (BASE + 'latency = ["constant:1000", "gaussian:5"]\n', "latency[1]"),
    "fees-missing-file": (BASE + 'fees = "nowhere.toml"\n', "fees"),
    "fees-bad-file": (BASE + 'fees = "bad-fees.toml"\n', "fees"),
    "too-many-points": (BASE + "[params]\nqty = [" + ", ".join(map(str, range(1, 101))) + "]\n"
                        "max_position = [" + ", ".join(map(str, range(1, 102))) + "]\n", "params"),
}


@pytest.mark.parametrize("case", list(BAD_GRIDS))
def test_load_grid_refuses(tmp_path, case):
    text, key = BAD_GRIDS[case]
    (tmp_path / "a.itch").write_bytes(b"")
    (tmp_path / "bad-fees.toml").write_text("maker = -0.001\nrebate = 1\n")
    path = write_grid(tmp_path, text)
    with pytest.raises(GridError) as e:
        sweep.load_grid(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and key in msg, msg


def test_grid_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        sweep.load_grid(tmp_path / "absent.toml")


# ------------------------------------------------------------ points
def test_points_are_the_product_in_a_stable_order(tmp_path):
    path = write_grid(tmp_path, """\
        strategy = "mm"
        messages = 1000
        seeds = [0, 1]
        latency = ["constant:0", "constant:5000"]
        [params]
        qty = [100, 200]
        skew_ticks = [0, 1, 2]
    """)
    g = sweep.load_grid(path)
    points = g.points()
    assert len(points) == 2 * 3 * 2 * 2
    expected = [{"strategy": "mm", "params": {"qty": q, "skew_ticks": k}, "seed": s, "messages": 1000,
                 "latency": lat, "fees": None}
                for q, k, lat, s in itertools.product([100, 200], [0, 1, 2], ["constant:0", "constant:5000"],
                                                      [0, 1])]
    assert points == expected  # params slowest (the last param fastest among them), then latency, then stream
    assert points[1]["seed"] == 1 and points[2]["latency"] == "constant:5000"
    assert sweep.load_grid(path).points() == points  # the same order every time


def test_itch_points_carry_the_path(tmp_path):
    (tmp_path / "a.itch").write_bytes(b"")
    g = sweep.load_grid(write_grid(tmp_path, 'strategy = "mm"\nitch = ["a.itch"]\n[params]\nqty = [1, 2]\n'))
    assert [(p["itch"], p["messages"], "seed" in p) for p in g.points()] == [(str(tmp_path / "a.itch"), None,
                                                                            False)] * 2


# ------------------------------------------------------------ run on Dask
def fake_point(point: dict) -> dict:
    """A stand-in for labs.backtest.sweep_point: pnl = qty x skew_ticks, and
    the pid of the process that did the work.  The sleep keeps both workers
    busy at once (four points on two workers)."""
    time.sleep(0.2)
    p = point["params"]
    return {"pnl": float(p["qty"] * p["skew_ticks"]), "fills": 3.0, "pid": os.getpid()}


def failing_point(point: dict) -> dict:
    """fake_point, except that qty 2 with skew 4 raises."""
    p = point["params"]
    if (p["qty"], p["skew_ticks"]) == (2, 4):
        raise ValueError(f"boom at qty {p['qty']}")
    return {"pnl": float(p["qty"] * p["skew_ticks"]), "pid": os.getpid()}


def always_failing_point(point: dict) -> dict:
    raise RuntimeError("nothing works")


def dying_point(point: dict) -> dict:
    """qty 2 kills its worker process (as a crash in C code would)."""
    if point["params"]["qty"] == 2:
        os._exit(3)
    return {"pnl": 1.0}


def clashing_point(point: dict) -> dict:
    """A result that would overwrite the point's own `qty` column (a bug in a point function)."""
    return {"pnl": 1.0, "qty": 0} if point["params"]["qty"] == 2 else {"pnl": 1.0}


def four_points(tmp_path) -> Grid:
    return sweep.load_grid(write_grid(tmp_path, """\
        strategy = "mm"
        messages = 100
        seeds = [7]
        [params]
        qty = [1, 2]
        skew_ticks = [3, 4]
    """))


def _children() -> set[int]:
    """Our live child processes, less multiprocessing's resource tracker (one
    helper it starts with the first spawned process and keeps for the life of
    the interpreter)."""
    multiprocessing.active_children()  # reaps finished ones
    alive = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                alive.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_run_on_a_local_cluster(tmp_path, capsys):
    before = _children()
    df = sweep.run(four_points(tmp_path), workers=2, func=fake_point, progress=True)

    assert list(df["point"]) == [0, 1, 2, 3]  # grid order, whatever order the points completed in
    assert list(zip(df["qty"], df["skew_ticks"])) == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert list(df["pnl"]) == [3.0, 4.0, 6.0, 8.0]
    assert set(df["stream"]) == {7} and set(df["strategy"]) == {"mm"} and set(df["latency"]) == {"constant:0"}
    assert "error" not in df
    assert df["pid"].nunique() == 2 and os.getpid() not in set(df["pid"])  # two worker processes did the work
    assert df["worker"].nunique() == 2
    assert df.attrs["params"] == ["qty", "skew_ticks"]
    assert "sweep: 4 points on 2 worker(s)" in capsys.readouterr().err

    # the cluster run() started is gone: no worker process outlives it
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children() - before


@pytest.fixture(scope="module")
def cluster():
    """A cluster of our own, reached by its address as a remote one would be."""
    import dask
    from distributed import LocalCluster

    # a point that kills its worker is given up at once (by default it is tried on 3 more workers first)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.CRITICAL)
    yield c
    c.close()


def test_run_by_address_keeps_the_cluster_and_reports_a_failed_point(tmp_path, cluster):
    from distributed import Client

    df = sweep.run(four_points(tmp_path), scheduler=cluster.scheduler_address, func=failing_point, progress=False)
    assert list(df.columns[-1:]) == ["error"]
    assert df["error"].isna().tolist() == [True, True, True, False]
    assert df.loc[3, "error"] == "ValueError: boom at qty 2"
    assert pd.isna(df.loc[3, "pnl"]) and list(df["pnl"][:3]) == [3.0, 4.0, 6.0]

    # run() closed its Client only: the cluster it was given still has its workers
    with Client(cluster.scheduler_address) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_run_raises_only_when_every_point_fails(tmp_path, cluster):
    with pytest.raises(SweepError, match="every one of the 4 points failed; the first: RuntimeError: nothing works") \
            as e:
        sweep.run(four_points(tmp_path), scheduler=cluster.scheduler_address, func=always_failing_point,
                  progress=False)
    assert len(e.value.frame) == 4 and e.value.frame["error"].notna().all()


def test_a_result_may_not_overwrite_the_point(tmp_path, cluster):
    df = sweep.run(four_points(tmp_path), scheduler=cluster.scheduler_address, func=clashing_point, progress=False)
    assert list(df["qty"]) == [1, 1, 2, 2]
    assert df["error"].isna().tolist() == [True, True, False, False]
    assert "the result repeats the point's own column(s) ['qty']" in df.loc[2, "error"]


def test_a_point_that_kills_its_worker_is_a_failed_point(tmp_path, cluster):
    from distributed import Client

    # two points on two workers: one each (four would put two on each, and the point that shared the
    # dead worker would be blamed too: the scheduler cannot tell which of a worker's tasks killed it)
    grid = dataclasses.replace(four_points(tmp_path), params={"qty": [1, 2], "skew_ticks": [3]})
    df = sweep.run(grid, scheduler=cluster.scheduler_address, func=dying_point, progress=False)
    assert df.loc[0, "pnl"] == 1.0 and pd.isna(df.loc[0, "error"])
    assert df.loc[1, "error"].startswith("KilledWorker")
    with Client(cluster.scheduler_address) as client:
        client.wait_for_workers(2, timeout=30)  # its nanny started a new worker process in its place


def test_run_refuses_workers_with_a_scheduler(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        sweep.run(four_points(tmp_path), scheduler="tcp://127.0.0.1:1", workers=2, func=fake_point)


def test_run_with_the_real_backtest(tmp_path, cluster):
    """The default point function, labs.backtest.sweep_point, on two short
    simulated streams (skipped while the backtester is being written)."""
    try:
        from labs.backtest import sweep_point  # noqa: F401
        from cimpl import backtest  # noqa: F401 - sweep_point's default loop
    except ImportError as e:
        pytest.skip(f"the backtester is not there yet: {e}")
    g = sweep.load_grid(write_grid(tmp_path, 'strategy = "mm"\nmessages = 2000\nseeds = [0, 1]\n'
                                             '[params]\nskew_ticks = [0, 2]\n'))
    df = sweep.run(g, scheduler=cluster.scheduler_address, progress=False)
    assert len(df) == 4 and "error" not in df, df.get("error")
    assert {"pnl", "events_per_s"} <= set(df.columns)


# ------------------------------------------------------------ results
def _sweep_frame() -> pd.DataFrame:
    rows = [{"point": i, "strategy": "mm", "qty": q, "skew_ticks": k, "stream": s, "latency": "constant:0",
             "pnl": float(q * k + 10 * s)}
            for i, (q, k, s) in enumerate(itertools.product([100, 200], [0, 1, 2], [0, 1]))]
    df = pd.DataFrame(rows)
    df.attrs["params"] = ["qty", "skew_ticks"]
    df.attrs["dimensions"] = ["qty", "skew_ticks", "latency", "stream"]
    return df


def test_the_heatmap_cells_are_means_over_the_other_dimensions():
    df = _sweep_frame()
    mean, count = sweep._pivot(df, "qty", "skew_ticks", "pnl")
    assert mean.loc[2, 200] == 200 * 2 + 5.0  # streams 0 and 1: +0 and +10
    assert (count == 2).all().all()
    assert sweep._title(df, "qty", "skew_ticks", "pnl", count) == "pnl: mean over stream (2 points per cell)"


def test_heatmap_writes_a_png(tmp_path):
    out = sweep.heatmap(_sweep_frame(), "qty", "skew_ticks", "pnl", tmp_path / "sub" / "map.png")
    assert out == tmp_path / "sub" / "map.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_refuses_an_unknown_column(tmp_path):
    with pytest.raises(ValueError, match="sharpe"):
        sweep.heatmap(_sweep_frame(), "qty", "skew_ticks", "sharpe", tmp_path / "x.png")


def test_write(tmp_path):
    df = _sweep_frame()
    paths = sweep.write(df, tmp_path / "out")
    assert [p.name for p in paths] == ["sweep.csv", "sweep.json", "sweep_pnl.png"]
    assert len(pd.read_csv(paths[0])) == len(df)
    assert pd.read_json(paths[1]).to_dict("records") == df.to_dict("records")

    one = df[df["qty"] == 100].copy()  # only skew_ticks varies: no heatmap
    one.attrs = df.attrs
    assert [p.name for p in sweep.write(one, tmp_path / "one")] == ["sweep.csv", "sweep.json"]
