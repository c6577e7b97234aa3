"""The cells of results/trading-system.ipynb (lab 7), which make_notebooks.py
builds and executes with the others:

    .venv/bin/python results/make_notebooks.py trading-system
    .venv/bin/python results/notebook_trading_system.py /tmp/some-results out.ipynb   # against another folder
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RESULTS = Path(__file__).resolve().parent

INTRO = """\
# Lab 7 - the trading system: the results

Three processes on two CPUs: an exchange simulator (ITCH 5.0 out, OUCH 5.0 in, matching with exact L3 queue \
position), a C engine (feed handler, lab 5's book, lab 6's features, an order manager with sixteen pre-trade risk \
checks) and a strategy (lab 6's model, in Python; or in C, inside the engine), joined by lab 3's rings. The guide is \
[labs/07-trading-system/README.md](../labs/07-trading-system/README.md).

- `tick_to_signal_p50_ns`, `_p99_ns`, `_p999_ns`: the exchange's send stamp on an ITCH message to the strategy's \
answer (a signal, or an order) arriving at the engine. With the Python strategy that is three processes and two ring \
hops; with the C strategy (`impl` `c`) the strategy is a function call inside the engine: the lower bound.
- `tick_to_order_*`: on to the OUCH Enter Order popped at the exchange (the risk checks and one more hop).
- `hop_*_p50_ns`, `_p99_ns`: each leg of the way (feed ring, engine, ring A, strategy, ring B, orders ring, replies \
ring), beside the core-to-core floor measured around the same run.
- `reconciled` (1/0) and the counts: orders, fills, rejections, snapshots dropped; the engine's records against the \
exchange's, exactly.
- `sustained_rate`: the highest feed rate of a sweep at which the Python strategy's tick to signal p99 stays under \
100 µs with no snapshot dropped.

Variants of the Python strategy (all at 20 k msg/s): none = NumPy model, the strategy alone on its core, spinning; \
`c-model` (lab 6's C model through ctypes); `wait/adaptive`, `wait/yield`, `wait/futex` (other ways to wait); \
`engine-alone` (the strategy shares its core with the exchange); `bridge` (a fourth process on the strategy's core \
moves ring to ring: the control for the peers). The peers, `peer:multiprocessing.Queue`, `peer:pyzmq`, \
`peer:iceoryx2`, replace rings A, B and C between that bridge and the strategy: a peer's own cost is its figure \
minus the bridge's, in the same run.

Target from the brief: end-to-end market data to signal < 100 µs (judged on `tick_to_signal_p50_ns` and `_p99_ns`)."""

LOAD = '''\
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from labs import plots

# The results of every machine committed under results/<machine-id>/results.json
here = Path.cwd()
RESULTS = here if (here / "README.md").exists() and here.name == "results" else here / "results"
runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*/results.json"))}
print(f"{len(runs)} machine(s):", ", ".join(runs))'''

SELECT = '''\
LAB = "trading-system"
TARGET_NS = 100_000  # the brief's market data to signal
recs = {m: [r for r in res["records"] if r["lab"] == LAB] for m, res in runs.items()}
recs = {m: v for m, v in recs.items() if v}
if not recs:
    print("No machine has lab 7 records yet: run `latencylab run trading-system` and commit its results.json. "
          "The cells below then draw nothing and say so.")
for m, v in recs.items():
    run = runs[m].get("lab_runs", {}).get(LAB, {})
    print(f"{m}: {len(v)} records, run of {run.get('date', '?')} at commit {run.get('git_commit', '?')}, "
          f"size {runs[m].get('size')}")


def label(r):
    return r["impl"] + (f" ({r['variant']})" if r.get("variant") else "")


ORDER = ["c", "python", "python (c-model)", "python (wait/adaptive)", "python (wait/yield)", "python (wait/futex)",
         "python (engine-alone)", "python (bridge)", "peer:multiprocessing.Queue", "peer:pyzmq", "peer:iceoryx2"]


def ordered(labels):
    return sorted(set(labels), key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))


def value(v, metric, lab):
    for r in v:
        if r["metric"] == metric and label(r) == lab:
            return r["value"]
    return np.nan


def fmt_ns(x):
    if x != x:
        return "-"
    return f"{x / 1e6:.3g} ms" if x >= 1e6 else f"{x / 1e3:.3g} µs" if x >= 1e3 else f"{x:.0f} ns"'''

FLOORS = '''\
# the floors measured at the start of the run that produced this lab's records (results.json "lab_runs");
# a machine without lab 7 records shows the floors of its own run, for scale
floors = pd.DataFrame({m: r.get("lab_runs", {}).get(LAB, {}).get("floors", r["floors"]) for m, r in runs.items()}).T
floors["lab 7 records"] = [m in recs for m in floors.index]
cols = [c for c in ("c2c_rtt_ns", "ctypes_call_ns", "timer_ns", "python_timer_ns", "memcpy_gbps") if c in floors]
display(floors[cols + ["lab 7 records"]].round(1))
# what one hop between two processes can cost at best, against the budget of the whole path
what = {"one ring hop: c2c_rtt_ns / 2": floors["c2c_rtt_ns"].astype(float) / 2,
        "one ctypes call": floors["ctypes_call_ns"].astype(float),
        "one clock read in C": floors["timer_ns"].astype(float),
        "one clock read in Python": floors["python_timer_ns"].astype(float)}
fig, ax = plt.subplots(figsize=(9, 0.5 * len(floors) * len(what) + 1.2))
y = np.arange(len(floors))
for k, (name, vals) in enumerate(what.items()):
    ax.barh(y + k * 0.8 / len(what), vals, 0.8 / len(what), label=name)
ax.axvline(TARGET_NS, color="red", ls="--", lw=1, label="100 µs: the brief's budget for the whole path")
ax.set_xscale("log")
ax.set_yticks(y + 0.3, floors.index)
ax.invert_yaxis()
ax.set_xlabel("ns (log)")
ax.set_title("the floors of each machine, against the 100 µs budget", fontsize=10)
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
display(fig)
plt.close(fig)'''

TTS = '''\
def percentile_panel(ax, v, family, title):
    labs = ordered(label(r) for r in v if r["metric"] == f"{family}_p50_ns")
    pcts = [("p50", "_p50_ns"), ("p99", "_p99_ns"), ("p99.9", "_p999_ns")]
    x = np.arange(len(labs))
    w = 0.8 / len(pcts)
    for i, (name, suffix) in enumerate(pcts):
        ys = [value(v, family + suffix, lab) for lab in labs]
        bars = ax.bar(x + (i - 1) * w, ys, w, label=name)
        for b, y in zip(bars, ys):
            if y == y:
                ax.annotate(fmt_ns(y), (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=6,
                            rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.axhline(TARGET_NS, color="red", ls="--", lw=1, label="100 µs (the brief's, for signal)")
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 10)  # room for the labels above the tallest bars
    ax.set_xticks(x, [s.replace(" (", "\\n(").replace("peer:", "peer:\\n").replace("multiprocessing.", "multiprocessing.\\n")
                      for s in labs], fontsize=7)
    ax.set_ylabel("ns (log)")
    ax.set_title(title)
    ax.legend(fontsize=7)


for m, v in recs.items():
    fig, axes = plt.subplots(1, 2, figsize=(17, 5.2))
    percentile_panel(axes[0], v, "tick_to_signal", "tick to signal: ITCH send → the strategy's answer at the engine")
    percentile_panel(axes[1], v, "tick_to_order", "tick to order: ITCH send → the OUCH order at the exchange")
    fig.suptitle(m)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
if not recs:
    print("no lab 7 records: nothing to draw")'''

HOPS = '''\
SIGNAL_HOPS = [("hop_feed", "feed ring"), ("hop_engine", "engine: book, features"), ("hop_snap", "ring A"),
               ("hop_strategy", "strategy"), ("hop_intent", "ring B")]
ALL_HOPS = SIGNAL_HOPS + [("hop_order", "orders ring"), ("hop_reply", "replies ring"),
                          ("hop_bridge", "bridge: ring A pop to the peer's send (part of hop_snap)")]
COLORS = dict(zip([f for f, _ in ALL_HOPS] + ["c_rest"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))


def floor_of(v, lab):
    # half the c2c round trip measured around this run (its hop records carry it as their floor)
    fl = [r["floor"]["value"] for r in v if r["metric"] == "hop_feed_p50_ns" and label(r) == lab and r.get("floor")]
    return fl[0] if fl else np.nan


def leg(v, fam, lab):
    if fam == "c_rest":  # the C strategy: no hops after the feed's, the rest is one process's work
        return max(value(v, "tick_to_signal_p50_ns", lab) - value(v, "hop_feed_p50_ns", lab), 0)
    return value(v, f"{fam}_p50_ns", lab)


def stacked(ax, v, labs, legs, scale, unit, n_hops):
    left = np.zeros(len(labs))
    for fam, what in legs:
        ys = np.nan_to_num([leg(v, fam, lab) / scale for lab in labs])
        ax.barh(labs, ys, left=left, label=what if fam == "c_rest" else f"{fam} ({what})", color=COLORS[fam])
        left += ys
    tts = np.array([value(v, "tick_to_signal_p50_ns", lab) / scale for lab in labs])
    ax.scatter(tts, labs, marker="|", s=400, color="black", zorder=3, label="tick_to_signal p50 (the whole, measured)")
    totals = np.fmax(left, tts)
    typical = np.nanmedian(totals)
    if np.nanmax(totals) > 5 * typical:  # one variant is far slower: clip the axis, say its total in words
        ax.set_xlim(0, 3 * typical)
        for i, tot in enumerate(totals):
            if tot > 3 * typical:
                ax.annotate(f"{tot:,.0f} {unit} →", (3 * typical, i), ha="right", va="center", fontsize=7,
                            bbox=dict(fc="white", ec="none", alpha=0.8))
    fl = np.nanmedian([floor_of(v, lab) for lab in labs])
    if fl == fl:
        ax.axvline(n_hops * fl / scale, color="grey", ls=":", lw=1.2,
                   label=f"{n_hops} hop{'s' * (n_hops > 1)} at the c2c floor ({n_hops} × {fl:.0f} ns)")
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit}: p50 of each leg, stacked (p50s only roughly add up to the whole's)")
    if len(labs) == 1:  # one bar fills the panel: make room for the legend beside it
        ax.set_xlim(0, 1.9 * np.nanmax(totals))
        ax.legend(fontsize=6, loc="center right")
    else:
        ax.legend(fontsize=6, loc="upper right")


for m, v in recs.items():
    labs = ordered(label(r) for r in v if r["metric"] == "tick_to_signal_p50_ns")
    c_labs = [lab for lab in labs if lab.split(" ")[0] == "c"]
    py_labs = [lab for lab in labs if lab not in c_labs]
    fig = plt.figure(figsize=(17, 0.5 * len(labs) + 3.5))
    gs = fig.add_gridspec(2, 2, width_ratios=[3, 2], height_ratios=[max(len(py_labs), 1), max(len(c_labs), 1) + 0.8])
    if py_labs:
        ax = fig.add_subplot(gs[0, 0])
        stacked(ax, v, py_labs, SIGNAL_HOPS, 1e3, "µs", 3)
        ax.set_title("tick to signal leg by leg: the Python strategy (median)")
    if c_labs:
        ax = fig.add_subplot(gs[1, 0])
        stacked(ax, v, c_labs, [("hop_feed", "feed ring"),
                                ("c_rest", "book, features, C model (the whole's p50 − hop_feed's)")], 1, "ns", 1)
        ax.set_title("the C strategy, inside the engine (median)")
    ax2 = fig.add_subplot(gs[:, 1])
    for j, (fam, what) in enumerate(ALL_HOPS):
        yy = np.arange(len(labs)) + (j - len(ALL_HOPS) / 2) * 0.1
        ax2.scatter([value(v, f"{fam}_p50_ns", lab) for lab in labs], yy, s=18, color=COLORS[fam], label=fam, zorder=3)
        ax2.scatter([value(v, f"{fam}_p99_ns", lab) for lab in labs], yy, s=22, marker="x", color=COLORS[fam], zorder=3)
    fls = [floor_of(v, lab) for lab in labs]  # each run's own floor: the cores' distance moves between runs
    ax2.scatter(fls, np.arange(len(labs)), marker="|", s=500, color="grey", zorder=2,
                label="floor: c2c / 2, measured around each run")
    ax2.axvline(TARGET_NS, color="red", ls="--", lw=1, label="100 µs")
    ax2.set_xscale("log")
    ax2.set_yticks(np.arange(len(labs)), labs, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("ns (log): dot p50, cross p99")
    ax2.set_title("every hop against the floor")
    ax2.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=5)
    fig.suptitle(m)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
if not recs:
    print("no lab 7 records: nothing to draw")'''

HOP_TABLE = '''\
rows = []
for m, v in recs.items():
    for lab in ordered(label(r) for r in v if r["metric"] == "tick_to_signal_p50_ns"):
        row = {"machine": m, "impl (variant)": lab}
        for fam, _ in ALL_HOPS:
            row[fam] = fmt_ns(value(v, f"{fam}_p50_ns", lab)) + " / " + fmt_ns(value(v, f"{fam}_p99_ns", lab))
        row["sum of the 5 signal legs' p50"] = fmt_ns(sum(np.nan_to_num([value(v, f"{f}_p50_ns", lab)
                                                                          for f, _ in SIGNAL_HOPS])))
        row["tick_to_signal p50 / p99"] = (fmt_ns(value(v, "tick_to_signal_p50_ns", lab)) + " / "
                                           + fmt_ns(value(v, "tick_to_signal_p99_ns", lab)))
        row["risk_check_ns p50"] = fmt_ns(value(v, "risk_check_ns", lab))
        rows.append(row)
display(pd.DataFrame(rows)) if rows else print("no lab 7 records")'''

SWEEP = '''\
for m, v in recs.items():
    sr = [r for r in v if r["metric"] == "sustained_rate"]
    if not sr or not sr[0].get("sweep"):
        print(f"{m}: no sustained-rate sweep")
        continue
    r = sr[0]
    sweep = pd.DataFrame(r["sweep"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for col, mk in (("p50", "o"), ("p99", "s"), ("p99.9", "^")):
        ax.plot(sweep["rate"] / 1e3, sweep[col], marker=mk, label=f"tick to signal {col}")
    for _, p in sweep.iterrows():
        if p["dropped"]:
            ax.annotate(f"{int(p['dropped']):,} dropped", (p["rate"] / 1e3, p["p99"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points", color="darkred")
    ax.axhline(TARGET_NS, color="red", ls="--", lw=1, label="100 µs target")
    if r["value"]:
        ax.axvline(r["value"] / 1e3, color="green", ls=":", lw=1,
                   label=f"sustained: {r['value'] / 1e3:g} k msg/s")
    ax.set_yscale("log")
    ax.set_xlabel("feed rate (k msg/s)")
    ax.set_ylabel("ns (log)")
    ax.set_title(f"{m}: the Python strategy's tick to signal against the feed rate ({r.get('rule', '')})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
    display(sweep.assign(**{c: sweep[c].map(fmt_ns) for c in ("p50", "p99", "p99.9")}))
if not recs:
    print("no lab 7 records: no sweep")'''

COUNTS = '''\
rows = []
for m, v in recs.items():
    for r in v:
        if r["metric"] != "reconciled":
            continue
        rec = r.get("reconciliation", {})
        rows.append({"machine": m, "impl (variant)": label(r), "reconciled": bool(r["value"]),
                     "mismatches": rec.get("mismatch_count"), "left open": rec.get("open"),
                     "messages": r.get("messages"), "snapshots": r.get("snapshots"), "dropped": r.get("dropped"),
                     "signals": r.get("signals"), "orders": r.get("orders"), "cancels": r.get("cancels"),
                     "fills": r.get("fills"), "rejects": r.get("rejects"), "cancel races": r.get("cancel_races"),
                     "gaps": r.get("gaps"),
                     "rejects by reason": ", ".join(f"{k} {n}" for k, n in sorted(r.get("rejects_by_reason", {}).items())),
                     "placement": r.get("placement")})
if rows:
    df = pd.DataFrame(rows)
    df["order"] = df["impl (variant)"].map(lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
    display(df.sort_values(["machine", "order"]).drop(columns="order").reset_index(drop=True))
else:
    print("no lab 7 records")'''

TARGETS = '''\
rows = [dict(machine=m, metric=r["metric"], impl=label(r), value=fmt_ns(r["value"]),
             target=f"{r['target']['op']} {r['target']['value'] / 1e3:g} µs", met=r["met"])
        for m, v in recs.items() for r in v if r.get("target")]
display(pd.DataFrame(rows)) if rows else print("no lab 7 records")'''

GENERIC = '''\
def nines(p):  # p50 -> 0.3, p90 -> 1, p99 -> 2, p99.9 -> 3 ...: the tail gets as much room as the median
    return -np.log10(1 - p / 100)


for m, v in recs.items():
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.8))
    for ax, family in zip(axes, ("tick_to_signal", "tick_to_order")):
        for lab in ordered(label(r) for r in v if r["metric"] == f"{family}_p50_ns"):
            r = next(r for r in v if r["metric"] == f"{family}_p50_ns" and label(r) == lab)
            pts = sorted((float(k[1:]), val) for k, val in r.get("percentiles", {}).items())
            if pts:
                ax.plot([nines(p) for p, _ in pts], [val for _, val in pts], marker="o", ms=3, label=lab,
                        color="black" if lab == "c" else None, lw=2 if lab in ("c", "python") else 1)
        ax.axhline(TARGET_NS, color="red", ls="--", lw=1, label="100 µs")
        ticks = [50, 90, 99, 99.9, 99.99]
        ax.set_xticks([nines(p) for p in ticks], [f"p{p:g}" for p in ticks])
        ax.set_yscale("log")
        ax.set_ylabel("ns (log)")
        ax.set_title(f"{family}: percentiles (HdrHistogram, warm-up excluded)")
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle(m)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
if not recs:
    print("no lab 7 records: nothing to draw")'''

CLOSING = """\
## What this says

Read against the committed run on `amd-epyc-2cpu` (2026-12-03, commit ccdd72d; the guide's §11 goes through every \
figure):

- **The C strategy** answers a tick 616 ns after the exchange sent it (p50; p99 47.4 µs): the feed ring's one hop \
between two cores (295 ns) and C's book, features and model. It meets the brief's 100 µs at p50 and p99.
- **The Python strategy meets the 100 µs at the median (22.3 µs) and misses it at p99 (834 µs)**, as does every \
variant. Its median is five legs that add up: the feed hop, a context switch on the core the engine shares with \
the exchange (10.0 µs), book and features (250 ns), ring A (670 ns), its own 9.06 µs (the NumPy MLP most of it) and \
ring B (1.89 µs). Its p99 is ring A alone (`hop_snap` p99 775 µs, p90 under 1 µs): for about 1% of the run the \
strategy was off its own core (preempted 713 times, 107 ms in all, by what else the guest ran) and the snapshots \
waited for it. Lab 6's C model through ctypes takes the median to 17.3 µs; nothing here fixes the p99 on a VM \
without isolated cores.
- **Placement chooses which hop is the context switch**, not whether there is one: with the exchange on the \
strategy's core (`engine-alone`) the feed hop is 111 ns and ring A's is 10.5 µs, and the sum stays 22 µs.
- **Waiting costs latency**: sleeping on the doorbell (`wait/futex`) takes the median to 64.1 µs (a futex wake-up \
and a strategy on cold caches per snapshot); `yield` and `adaptive` cost nothing measurable on a core of its own.
- **The peers**, through a bridge process whose own cost (ring to ring) is ~29 µs at p50: iceoryx2 adds 8.6 µs, \
pyzmq ~0.45 ms, `multiprocessing.Queue` ~59 ms (it cannot keep up at 20 k msg/s on a shared core).
- **The sweep**: no snapshot dropped from 5 k to 80 k msg/s and the median stays 14-27 µs, but no rate has a p99 \
under 100 µs, so `sustained_rate` is 0.
- **Every session reconciles**: the engine's orders, fills and positions equal the exchange's, exactly, in all 11; \
the rare fill racing a cancel is counted, not miscounted."""


def build(results_dir: Path | None = None) -> nbformat.NotebookNode:
    load = LOAD
    if results_dir is not None:  # a test copy against another folder
        load = load.replace('RESULTS = here if (here / "README.md").exists() and here.name == "results" else here / "results"',
                            f'RESULTS = Path({str(results_dir)!r})')
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(load),
        new_markdown_cell("## The records of lab 7\n\nWhich machines have lab 7 records, and from which run. A "
                          "machine without them is left out of every cell below; with none at all, the cells say so "
                          "and draw nothing."),
        new_code_cell(SELECT),
        new_markdown_cell("## The machines and their floors\n\nEvery figure below was measured in the same run as "
                          "these floors; compare ratios within one machine, not raw numbers across machines. A ring "
                          "hop's floor is half the core-to-core round trip (`c2c_rtt_ns`), measured again around "
                          "each workload (`c2c_bracket_ns` in each record). The plot sets the floors against the "
                          "brief's 100 µs for the whole path: three or four orders of magnitude of room, which a "
                          "Python strategy and a shared core spend."),
        new_code_cell(FLOORS),
        new_markdown_cell("## Tick to signal and tick to order\n\np50, p99 and p99.9 per implementation and "
                          "variant, on a log scale. Red dashed: the brief's 100 µs for market data to signal (drawn "
                          "on the order panel too, for scale: the brief sets no target for tick to order)."),
        new_code_cell(TTS),
        new_markdown_cell("## Where the latency goes, hop by hop\n\nLeft: the medians of the five legs of tick to "
                          "signal, stacked (`hop_feed` + `hop_engine` + `hop_snap` + `hop_strategy` + `hop_intent`), "
                          "with the measured whole's median as a black tick. The C strategy has no `hop_snap`, "
                          "`hop_strategy` or `hop_intent`: it is a call inside the engine. Right: every hop's p50 "
                          "(dot) and p99 (cross) against the floor, one line's trip between the two cores. A hop "
                          "between two processes that share a core cannot reach that floor: it is a context switch."),
        new_code_cell(HOPS),
        new_markdown_cell("The same, as numbers (p50 / p99 of each hop):"),
        new_code_cell(HOP_TABLE),
        new_markdown_cell("## The sustained rate\n\nThe Python strategy (NumPy model, alone on its core, spinning) at "
                          "rising feed rates. `sustained_rate` is the highest rate whose tick to signal p99 is under "
                          "100 µs with no snapshot dropped; 0 means no rate of the sweep qualified."),
        new_code_cell(SWEEP),
        new_markdown_cell("## Reconciliation and counts\n\nOne row per run: whether the engine's records equal the "
                          "exchange's (orders, fills, positions, nothing left open), and what the session did. "
                          "`cancel races`: cancels the exchange refused because the order had just filled, counted "
                          "by the engine instead of being handed to the OMS as an illegal transition. `dropped`: "
                          "snapshots the engine dropped because ring A was full (the strategy behind)."),
        new_code_cell(COUNTS),
        new_markdown_cell("## Against the brief's target"),
        new_code_cell(TARGETS),
        new_markdown_cell("## Latency distributions\n\nThe percentiles of tick to signal and tick to order per run (x "
                          "axis spaced by 'nines', so the tail gets as much room as the median). Every curve bends up "
                          "between p90 and p99: that is where the tail of §11.2 of the guide starts, the strategy's "
                          "core taken from it. The run's `trading-system-latency.png` has the same curves for every "
                          "hop."),
        new_code_cell(GENERIC),
        new_markdown_cell(CLOSING),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main() -> None:
    if len(sys.argv) == 3:
        nb, out = build(Path(sys.argv[1])), Path(sys.argv[2])
    else:
        nb, out = build(), RESULTS / "trading-system.ipynb"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(RESULTS)}}).execute()
    nbformat.write(nb, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
