"""The cells of results/backtest.ipynb (lab 8), which make_notebooks.py
builds and executes with the others:

    .venv/bin/python results/make_notebooks.py backtest
    .venv/bin/python results/notebook_backtest.py /tmp/some-results out.ipynb   # against another folder
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RESULTS = Path(__file__).resolve().parent

INTRO = """\
# Lab 8 - the backtester: the results

Lab 7's strategy classes, unchanged, driven by an event-driven backtester: the ITCH stream replayed in event time, \
three delays (feed, order, reply) in place of the processes and rings, lab 5's book and lab 6's features for what \
the strategy sees, lab 7's order manager and its risk checks for what it may send, and lab 7's matcher with the \
exact L3 queue position for what it gets. The guide is [labs/08-backtest/README.md](../labs/08-backtest/README.md).

- `events_per_s`: ITCH messages through book, features, strategy, order manager and matcher per second of wall \
time. `c`: the C signal strategy inside the C loop; `python`: the Python market maker called back from the C loop \
on every book update (variants `signal`: the Python signal strategy and its NumPy model; `pure-python`: the whole \
loop in Python; `one-symbol`: the market maker on one symbol's messages, a one-asset backtester's work); \
`peer:hftbacktest` (the same market maker, Numba, its L3 FIFO queue model, one symbol) and `peer:vectorbt` (the \
signal strategy's entries and exits through `Portfolio.from_signals`).
- The example strategies' analytics (`pnl`, `fees`, `fill_ratio`, `hit_rate`, `max_drawdown`, `sharpe`, ...), one \
set per strategy: the market maker (`mm`), the signal strategy (`signal`) and its C twin (`c`).
- `live_gap_fills`, `_orders`, `_pnl`: lab 7 live against lab 8 on the same stream, re-timed as the live exchange \
sent it, with the latencies the live run measured: backtest minus live.

The lab's goals (on two cores): **≥ 10 M events/s with the C strategy, ≥ 300 K with a Python strategy on every book \
update**. The brief's own target nearest to it: market-data processing > 1 M msgs/s (lab 5's, drawn for scale).

The last part of this notebook runs a backtest here and now (the C loop, a second or two): the market maker's \
equity, drawdown and fills, and its fills and PnL against the latency (the guide's experiment 1)."""

LOAD = '''\
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

# The results of every machine committed under results/<machine-id>/results.json
here = Path.cwd()
RESULTS = here if (here / "README.md").exists() and here.name == "results" else here / "results"
runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*/results.json"))}
print(f"{len(runs)} machine(s):", ", ".join(runs))'''

SELECT = '''\
from labs import targets

LAB = "backtest"
try:
    from labs.backtest import EVENTS_GOALS
except ImportError:  # the goals as the lab declares them
    EVENTS_GOALS = {"c": 10_000_000, "python": 300_000}
BRIEF = next((t for t in targets.load() if t.id == "market-data"), None)
BRIEF_MSGS = BRIEF.value if BRIEF else 1_000_000  # the brief's market-data processing > 1 M msgs/s

recs = {m: [r for r in res["records"] if r["lab"] == LAB] for m, res in runs.items()}
recs = {m: v for m, v in recs.items() if v}
if not recs:
    print("No machine has lab 8 records yet: run `latencylab run backtest` and commit its results.json. "
          "The cells on the records below draw nothing and say so; the live backtest at the end still runs.")
for m, v in recs.items():
    run = runs[m].get("lab_runs", {}).get(LAB, {})
    print(f"{m}: {len(v)} records, run of {run.get('date', '?')} at commit {run.get('git_commit', '?')}, "
          f"size {runs[m].get('size')}")


def label(r):
    return r["impl"] + (f" ({r['variant']})" if r.get("variant") else "")


ORDER = ["c", "python", "python (signal)", "python (pure-python)", "python (one-symbol)",
         "peer:hftbacktest", "peer:vectorbt"]


def ordered(labels):
    return sorted(set(labels), key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))


def count(x):
    return f"{int(x):,}" if isinstance(x, (int, float)) and x == x else "?"


def usd(x):
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def fmt_rate(x):
    if x != x:
        return "-"
    return f"{x / 1e6:.3g} M" if x >= 1e6 else f"{x / 1e3:.3g} K" if x >= 1e3 else f"{x:.0f}"'''

EVENTS = '''\
COLOR = {"c": "tab:blue", "python": "tab:orange", "peer": "tab:grey"}


def goal_of(lab):
    return EVENTS_GOALS.get(lab.split(" ")[0].split(":")[0])


for m, v in recs.items():
    ev = {label(r): r for r in v if r["metric"] == "events_per_s"}
    if not ev:
        print(f"{m}: no events_per_s records")
        continue
    labs = ordered(ev)
    vals = np.array([ev[lab]["value"] for lab in labs])
    fig, ax = plt.subplots(figsize=(12, 0.62 * len(labs) + 2.8))
    y = np.arange(len(labs))
    ax.barh(y, vals, color=[COLOR["peer" if lab.startswith("peer:") else lab.split(" ")[0]] for lab in labs],
            height=0.6)
    for i, lab in enumerate(labs):
        reps = ev[lab].get("repeats") or []
        if len(reps) > 1:  # the spread of the repeats (the bar is their median)
            ax.plot([min(reps), max(reps)], [i, i], color="black", lw=1, alpha=0.6)
        g = goal_of(lab)
        text = f"{fmt_rate(vals[i])} msg/s" + (f"  ({vals[i] / g:.0%} of its {fmt_rate(g)} goal)" if g else "")
        ax.annotate(text, (max(vals[i], max(reps, default=0)), i), xytext=(5, 0), textcoords="offset points",
                    va="center", fontsize=8, bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
    lines = [(EVENTS_GOALS["c"], "tab:blue", "--",
              f"lab goal, the C strategy: ≥ {fmt_rate(EVENTS_GOALS['c'])} msg/s"),
             (EVENTS_GOALS["python"], "tab:orange", "--",
              f"lab goal, a Python strategy on every book update: ≥ {fmt_rate(EVENTS_GOALS['python'])} msg/s"),
             (BRIEF_MSGS, "red", "-.", f"the brief's market-data processing > {fmt_rate(BRIEF_MSGS)} msgs/s (lab 5's)")]
    fl = runs[m].get("lab_runs", {}).get(LAB, {}).get("floors", runs[m]["floors"]).get("ctypes_call_ns")
    if fl:
        lines.append((1e9 / fl, "grey", ":", f"one ctypes call per update ({fl:.0f} ns): the ceiling of a "
                                             "strategy called back from C"))
    for x, color, ls, what in lines:
        ax.axvline(x, color=color, ls=ls, lw=1.2, label=what)
    ax.set_xscale("log")
    ax.set_xlim(min(vals.min(), EVENTS_GOALS["python"]) / 3, max(vals.max(), EVENTS_GOALS["c"]) * 6)
    ticks = []
    for lab in labs:
        r = ev[lab]
        t = lab + (f"\\n{r['events']:,} events" if r.get("events") else "")
        ticks.append(t + (f", locate {r['locate']}" if r.get("locate") is not None else ""))
    ax.set_yticks(y, ticks, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ITCH messages (events) per second of wall time (msg/s, log); black line: min to max of the repeats")
    ax.set_title(f"{m}: events per second of the backtest loop, against the lab's goals", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
    for lab in labs:
        r = ev[lab]
        print(f"{lab:>22}: {r.get('strategy', '?')}; {count(r.get('events'))} events"
              + (f" ({r['snapshots']:,} book updates)" if r.get("snapshots") else ""))
        if r.get("notes"):
            print(" " * 24 + r["notes"])
if not recs:
    print("no lab 8 records: nothing to draw")'''

ANALYTICS = '''\
STRATS = [("mm", "mm: the market maker (Python), resting at the touch", "tab:orange"),
          ("signal", "signal: the signal strategy (Python, NumPy MLP), taking liquidity", "tab:green"),
          ("c", "c: the signal strategy's C twin, inside the C loop", "tab:blue")]


def strategy_of(r):
    return r.get("strategy") or r.get("variant") or r["impl"]


for m, v in recs.items():
    summ = {}
    for r in v:
        if r["metric"] == "pnl" and "summary" in r:
            summ[strategy_of(r)] = r
    if not summ:
        print(f"{m}: no analytics records")
        continue
    names = [s for s, _, _ in STRATS if s in summ] + sorted(set(summ) - {s for s, _, _ in STRATS})
    colors = {s: c for s, _, c in STRATS}
    what = {s: t for s, t, _ in STRATS}
    per_bar = all("sharpe_per_bar" in summ[s]["summary"] for s in names)
    panels = [("pnl", "PnL after fees", "$", 0), ("fees", "fees paid (negative: rebates earned)", "$", 0),
              ("max_drawdown", "max drawdown below the running peak", "$", 0),
              ("fill_ratio", "fill ratio: orders filled / sent", "frac", None),
              ("hit_rate", "hit rate: round trips that made money", "frac", 0.5),
              (("sharpe_per_bar", "Sharpe per 10 ms bar", "ratio", 0) if per_bar
               else ("sharpe", "Sharpe, annualized (√ bars per year)", "ratio", 0))]
    fig, axes = plt.subplots(2, 3, figsize=(14, 6.8))
    for ax, (key, title, unit, ref) in zip(axes.flat, panels):
        ys = [summ[s]["summary"].get(key, np.nan) for s in names]
        bars = ax.bar(range(len(names)), ys, color=[colors.get(s, "tab:grey") for s in names])
        ax.set_xticks(range(len(names)), names)
        for b, yv in zip(bars, ys):
            if yv == yv:
                txt = f"{yv:,.3g}" if unit != "frac" else f"{yv:.1%}"
                ax.annotate(txt, (b.get_x() + b.get_width() / 2, yv), ha="center",
                            va="bottom" if yv >= 0 else "top", fontsize=8,
                            xytext=(0, 2 if yv >= 0 else -2), textcoords="offset points")
        if ref is not None:
            ax.axhline(ref, color="black" if ref == 0 else "red", lw=0.8, ls="-" if ref == 0 else "--",
                       label="0.5: a coin" if ref == 0.5 else None)
            if ref == 0.5:
                ax.legend(fontsize=7, loc="upper right")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.12 * (hi - lo) * (lo < 0), hi + 0.12 * (hi - lo))  # room for the labels
        ax.set_title(title, fontsize=9)
        ax.set_ylabel({"frac": "fraction"}.get(unit, unit))
        if key == "sharpe_per_bar":
            ann = ", ".join(f"{s} {summ[s]['summary']['sharpe']:,.0f}" for s in names)
            ax.set_xlabel(f"annualized (the convention): {ann}", fontsize=7)
    r0 = summ[names[0]]
    fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors.get(s, "tab:grey")) for s in names],
               labels=[what.get(s, s) for s in names], loc="lower center", ncol=len(names), fontsize=8)
    fig.suptitle(f"{m}: the example strategies on {r0.get('messages', 0):,} simulated messages, latency "
                 f"{r0.get('latency')}, default fees", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    display(fig)
    plt.close(fig)
    for s in names:
        r, sm = summ[s], summ[s]["summary"]
        print(f"{s:>6}: {count(sm.get('orders_sent', r.get('orders_sent')))} orders sent, "
              f"{count(sm.get('fills'))} fills, "
              f"{count(sm.get('shares_traded'))} shares, {count(r.get('rejects'))} rejected by the risk checks "
              f"({', '.join(f'{k} {n}' for k, n in sorted(r.get('rejects_by_reason', {}).items())) or 'none'}), "
              f"reconciled {r.get('reconciled')}")
    if "c" in summ and "signal" in summ:
        same = all(np.isclose(summ["c"]["summary"].get(k, np.nan), summ["signal"]["summary"].get(k, np.nan),
                              equal_nan=True) for k in ("pnl", "fees", "fills", "fill_ratio", "hit_rate"))
        print("the C twin and the Python signal strategy:",
              "the same fills and figures" if same else "they differ (they should not: the same rules, one model)")
if not recs:
    print("no lab 8 records: nothing to draw")'''

LIVE_GAP = '''\
PAIRS = [("fills", "fills", "executions"), ("orders", "orders", "orders sent"),
         ("shares", "shares", "shares filled"), ("pnl", "PnL", "$ (before fees, the same marks)")]
for m, v in recs.items():
    g = next((r for r in v if r["metric"].startswith("live_gap_") and "live_fills" in r), None)
    if g is None:
        print(f"{m}: no live_gap records")
        continue
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.3))
    for ax, (key, what, unit) in zip(axes, PAIRS):
        live, bt = g.get(f"live_{key}", np.nan), g.get(f"backtest_{key}", np.nan)
        bars = ax.bar(["live (lab 7)", "backtest (lab 8)"], [live, bt], color=["tab:purple", "tab:cyan"])
        for b, yv in zip(bars, [live, bt]):
            ax.annotate(f"{yv:,.0f}" if key != "pnl" else usd(yv), (b.get_x() + b.get_width() / 2, yv),
                        ha="center", va="bottom" if yv >= 0 else "top", fontsize=8,
                        xytext=(0, 2 if yv >= 0 else -2), textcoords="offset points")
        if key == "fills" and g.get("common_fills") is not None:  # fills identical in symbol, side, size and price
            ax.bar(["live (lab 7)", "backtest (lab 8)"], [g["common_fills"]] * 2, color="none", hatch="//",
                   edgecolor="black", lw=0)
            ax.set_xlabel(f"hatched: the {g['common_fills']} fills in both (symbol, side, qty, price)", fontsize=7)
        ax.axhline(0, color="black", lw=0.8)
        gap = bt - live
        rel = f" ({gap / abs(live):+.0%})" if live else ""
        gap_s = ("+" * (gap >= 0) + usd(gap)) if key == "pnl" else f"{gap:+,.0f}"
        ax.set_title(f"{what}: backtest − live = {gap_s}{rel}", fontsize=9)
        ax.set_ylabel(unit)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.1 * (hi - lo) * (lo < 0), hi + 0.1 * (hi - lo) * (hi > 0))
    lat = g.get("latency", {})
    lat_s = (", ".join(f"{k.removesuffix('_p50_ns')} p50 {x / 1e3:.1f} µs"
                       for k, x in lat.items() if k.endswith("_p50_ns"))
             if isinstance(lat, dict) else str(lat))
    fig.suptitle(f"{m}: lab 7 live against lab 8 on the same {g.get('messages', 0):,} messages at "
                 f"{g.get('rate', 0) / 1e3:g} k msg/s, the live run's own latencies ({lat_s})", fontsize=10)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
    dpnl = g["backtest_pnl"] - g["live_pnl"]
    print(f"{m}: the backtest made {g['backtest_fills'] - g['live_fills']:+,} fills and "
          f"{'+' * (dpnl >= 0)}{usd(dpnl)} of PnL against the live run "
          f"({g['live_fills']:,} live fills, {g['backtest_fills']:,} backtest, {g.get('common_fills', '?')} identical; "
          f"rejects {g.get('live_rejects')} live, {g.get('backtest_rejects')} backtest; "
          f"the live run reconciled: {g.get('live_reconciled')})")
if not recs:
    print("no lab 8 records: nothing to draw")'''

LIVE_RUN = '''\
import time

from labs import analytics
from labs import backtest as lbt
from labs.feed import simulate

stream = simulate(50_000, 0)
t = time.perf_counter()
res = lbt.backtest(stream, lbt.make_strategy("mm"), latency="constant:10000", risk=lbt.risk_limits("mm"))
a = lbt.analyze(res)
print(f"{res.events:,} events in {time.perf_counter() - t:.2f} s (the loop alone: {res.events_per_s:,.0f} events/s), "
      f"{res.orders_sent:,} orders sent, {a.summary['fills']:,} fills, PnL after fees {usd(a.summary['pnl'])} "
      f"(fees {usd(a.summary['fees'])}: negative, rebates earned), max drawdown {usd(a.summary['max_drawdown'])}, "
      f"Sharpe per 10 ms bar {a.summary['sharpe_per_bar']:.3f} (annualized: {a.summary['sharpe']:,.0f})")
with tempfile.TemporaryDirectory() as tmp:  # the PNGs `latencylab backtest` writes, shown here and not kept
    equity, positions, fills = analytics.plot(a, res.fills_frame(), res.marks_frame(), tmp)
    for p in (equity, fills):  # positions: in the CLI's report, left out here
        display(Image(filename=str(p)))'''

SWEEP = '''\
LATENCIES = [0, 1_000, 10_000, 100_000]  # ns, every leg (feed, order, reply)
rows = []
for ns in LATENCIES:
    r = lbt.backtest(stream, lbt.make_strategy("mm"), latency=f"constant:{ns}", risk=lbt.risk_limits("mm"))
    s = lbt.analyze(r).summary
    rows.append(dict(latency_ns=ns, orders=r.orders_sent, fills=s["fills"], shares=s["shares_traded"],
                     fill_ratio=s["fill_ratio"], pnl=s["pnl"], fees=s["fees"], gross=s["pnl"] + s["fees"],
                     hit_rate=s["hit_rate"]))
sw = pd.DataFrame(rows)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.6))
x = sw["latency_ns"]
ax1.plot(x, sw["fills"], marker="o", color="tab:blue", label="fills")
ax1.set_ylabel("fills (executions of our orders)", color="tab:blue")
tw = ax1.twinx()
tw.plot(x, sw["fill_ratio"] * 100, marker="s", ls="--", color="tab:grey", label="fill ratio")
tw.set_ylabel("fill ratio: orders filled / sent (%)", color="tab:grey")
ax1.set_title("the market maker's fills against the latency", fontsize=10)
ax1.legend(ax1.get_lines() + tw.get_lines(), ["fills", "fill ratio (right axis)"], fontsize=8, loc="upper left")
ax2.plot(x, sw["pnl"], marker="o", color="tab:red", label="PnL after fees")
ax2.plot(x, sw["gross"], marker="^", ls="--", color="tab:orange", label="PnL before fees (the trading alone)")
ax2.axhline(0, color="black", lw=0.8)
ax2.set_ylabel("$")
ax2.set_title("... and its PnL", fontsize=10)
ax2.legend(fontsize=8)
for ax in (ax1, ax2):
    ax.set_xscale("symlog", linthresh=1_000)  # log from 1 µs, with 0 one decade to its left
    ax.set_xticks(LATENCIES, ["0", "1 µs", "10 µs", "100 µs"])
    ax.set_xlim(-300, 1.6e5)
    ax.set_xlabel("latency of each leg, feed = order = reply (ns, log; 0 at the left)")
    ax.axvline(10_000, color="green", ls=":", lw=1)
    ax.annotate("the lab's default\\n(the order of lab 7's medians)", (10_000, 1), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", fontsize=7, va="top", color="green")
fig.suptitle(f"{res.events:,} simulated messages, 8 symbols, the market maker under risk-mm.toml, default fees",
             fontsize=10)
fig.tight_layout()
display(fig)
plt.close(fig)
first, last = sw.iloc[0], sw.iloc[-1]
print(f"from 0 to 100 µs each way: fills {first.fills:,.0f} → {last.fills:,.0f}, orders {first.orders:,.0f} → "
      f"{last.orders:,.0f}, "
      f"fill ratio {first.fill_ratio:.1%} → {last.fill_ratio:.1%}, PnL {usd(first.pnl)} → {usd(last.pnl)} "
      f"(before fees {usd(first.gross)} → {usd(last.gross)})")'''

CLOSING = """\
## How to read it

- **Events per second.** The C strategy inside the C loop is the figure to hold against the 10 M goal: no Python \
between two messages. A Python strategy called back on every book update pays at least one ctypes call and one \
Python call per update (the grey dotted line is one ctypes call's ceiling), and its model on top (`signal`: a NumPy \
MLP per update); the 300 K goal is for that. `pure-python` is the reference loop, the one that defines the \
semantics, not the one to run. The peers do less work per message than the bars beside them: hftbacktest one \
symbol (compare it with `python (one-symbol)`, the same messages), vectorbt one symbol's signals with no queue, \
no latency and no risk checks.
- **The analytics** are one path of a simulated market, two seconds long: read their signs and their ratios, not \
their size. The C twin and the Python signal strategy must agree exactly (the same rules, the same model); the \
market maker earns rebates (negative fees) and loses them, and more, to adverse selection: its fills come when the \
price is about to move through its quote (the guide's §3). The annualized Sharpe of 10 ms bars is a convention, \
not a forecast (§6): the per-bar figure is the one to compare.
- **Live against backtest**: the same orders from the same stream at the same measured latencies, and still \
different fills: the live latencies are a distribution in time (a preemption delays ring A and ring B at once), the \
backtest's are independent draws from it (§2), and a passive fill depends on which side of another order's \
execution our order arrived.
- **Latency against fills**: with more latency the market maker's quotes are staler when they fill and its cancels \
arrive later, so its PnL falls; its fill count need not, because a stale quote is one the market trades through."""


def build(results_dir: Path | None = None) -> nbformat.NotebookNode:
    load = LOAD
    if results_dir is not None:  # a test copy against another folder
        load = load.replace('RESULTS = here if (here / "README.md").exists() and here.name == "results" else here / "results"',
                            f'RESULTS = Path({str(results_dir)!r})')
        # a folder holding one results.json (a run's --out) is one machine: name it by its machine id
        load += ('\nif not runs and (RESULTS / "results.json").exists():\n'
                 '    res = json.loads((RESULTS / "results.json").read_text())\n'
                 '    runs = {res.get("machine", {}).get("id", RESULTS.name): res}\n'
                 '    print("one run in", RESULTS, ":", ", ".join(runs))')
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(load),
        new_markdown_cell("## The records of lab 8\n\nWhich machines have lab 8 records, and from which run. A "
                          "machine without them is left out of the cells on the records; with none at all, those "
                          "cells say so and draw nothing, and the live backtest at the end still runs."),
        new_code_cell(SELECT),
        new_markdown_cell(
            "## Events per second\n\nOne bar per implementation and variant (the median of the repeats), on a log "
            "scale, against the lab's goals: ≥ 10 M msg/s for the C strategy (blue dashed), ≥ 300 K for a Python "
            "strategy on every book update (orange dashed), and the brief's market-data processing > 1 M msgs/s "
            "(red dash-dot: lab 5's target, drawn for scale). What each bar's work is:\n\n"
            "- `c`: the C signal strategy (lab 7's `ll_ts_signal`, lab 6's MLP in C) called inline by the C loop, "
            "every symbol of the stream;\n"
            "- `python`: the Python market maker, called back from the C loop on every book update, every symbol;\n"
            "- `python (signal)`: the Python signal strategy and its NumPy MLP, the same way;\n"
            "- `python (pure-python)`: the market maker with the whole loop in Python (`pyimpl.backtest`), on a "
            "fifth of the stream;\n"
            "- `python (one-symbol)`: the market maker on the busiest symbol's messages only (its `locate`): "
            "hftbacktest's work, through our C loop;\n"
            "- `peer:hftbacktest`: the same market maker written for hftbacktest (Numba), its L3 FIFO queue model, "
            "the same symbol (Numba's compile time left out);\n"
            "- `peer:vectorbt`: the signal strategy's entries and exits through `Portfolio.from_signals`, the same "
            "symbol: no queue, no latency, no risk checks (the features and the model timed apart).\n\n"
            "Each bar's label gives the events it processed; below the figure, each record's own words."),
        new_code_cell(EVENTS),
        new_markdown_cell(
            "## The example strategies\n\nThe analytics of each strategy (`labs/analytics.py`) on the simulated "
            "stream at the lab's default latency (10 µs each way) and fees (maker rebate $0.002, taker fee $0.003 "
            "a share): small multiples, one bar per strategy. The market maker rests at the touch and lives on its "
            "queue position; the signal strategy (and its C twin, which must give the same figures) takes "
            "liquidity.\n\n**On the Sharpe ratio** (the guide's §6): the bars are 10 ms of event time, and "
            "annualizing multiplies their Sharpe by √(bars per year) = √(2,340,000 × 252) ≈ 24,000, so a per-bar "
            "Sharpe of 0.1 becomes thousands. The annualized figure is a convention, not a forecast; the panel "
            "shows the per-bar Sharpe, the annualized one written under it."),
        new_code_cell(ANALYTICS),
        new_markdown_cell(
            "## Live against backtest\n\nLab 7 live (three processes, real rings) and lab 8 on the same stream, "
            "re-timed as the live exchange sent it, with each leg's latency drawn from the hops the live run "
            "measured, the signal strategy under lab 7's risk limits in both. Both PnLs are marked at the "
            "backtest's last mid per symbol, before fees. The gap (backtest − live) is in each panel's title; the "
            "hatched part of the fills is the fills found in both (the same symbol, side, size and price)."),
        new_code_cell(LIVE_GAP),
        new_markdown_cell(
            "## A backtest, run here\n\nThe market maker on 50,000 simulated messages (8 symbols), 10 µs each way, "
            "under `risk-mm.toml`, through the C loop: what `latencylab backtest` reports and draws (equity and "
            "drawdown, positions, fills on the price path of the most-traded symbol), made by "
            "`labs.analytics.plot`."),
        new_code_cell(LIVE_RUN),
        new_markdown_cell(
            "## Latency against fills (the guide's experiment 1)\n\nThe same stream and strategy at 0, 1, 10 and "
            "100 µs on every leg. Two effects pull against each other (§3): a later order joins the back of a "
            "longer queue and fills less; a later cancel leaves a stale quote in the book, and a stale quote is one "
            "the market trades through, so it fills more, and at the wrong moment. The PnL says which wins."),
        new_code_cell(SWEEP),
        new_markdown_cell(CLOSING),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main() -> None:
    if len(sys.argv) == 3:
        nb, out = build(Path(sys.argv[1])), Path(sys.argv[2])
    else:
        nb, out = build(), RESULTS / "backtest.ipynb"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(RESULTS)}}).execute()
    nbformat.write(nb, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
