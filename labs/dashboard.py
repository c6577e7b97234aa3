"""Lab 7's live view of a running trading system, and its end-of-run report.

The dashboard reads only the control segment (cimpl/ts_layout.h): each
process's counters and heartbeat, the engine's positions table.  It never
touches a ring, so watching costs the system nothing but the reads.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table

from . import stats

PROCS = ("exchange", "engine", "strategy")
HALT_REASONS = {0: "trading", 1: "HALTED: manual kill switch", 2: "HALTED: loss limit",
                3: "HALTED: strategy lost (heartbeat / died)"}


def _money(units: int) -> str:
    """price units x shares (1/10000 $) as dollars"""
    return f"${units / 10_000:,.2f}"


class Dashboard:
    """on_tick(control, elapsed) for labs.system.run; `renderable()` for rich.Live."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.elapsed = 0.0
        self.procs = [{} for _ in PROCS]
        self.positions: list[dict] = []
        self._last = (time.monotonic(), 0)
        self.rate = 0.0

    def on_tick(self, control, elapsed: float) -> None:
        self.elapsed = elapsed
        self.procs = [control.proc(i) for i in range(3)]
        self.positions = control.positions()
        now, fed = time.monotonic(), self.procs[1].get("feed", 0)
        t0, f0 = self._last
        if now - t0 >= 0.5:
            self.rate = (fed - f0) / (now - t0)
            self._last = (now, fed)

    def renderable(self):
        ex, en, st = self.procs
        head = Table.grid(padding=(0, 2))
        head.add_row(f"[b]latencylab system[/]  strategy {self.cfg.strategy}"
                     + (f" (model {self.cfg.model})" if self.cfg.strategy == "python" else "")
                     + f"  transport {self.cfg.transport}  wait {self.cfg.wait_for()}  {self.cfg.placement_for()}",
                     f"{self.elapsed:5.1f} s", f"feed {self.rate / 1e3:8.1f} k msg/s",
                     ("HALTED: the exchange is gone" if en.get("exchange_lost") else
                      HALT_REASONS.get(en.get("halted", 0), f"HALTED ({en.get('halted')})")) if en else "starting")
        t = Table(title="processes", expand=False)
        for col in ("", "pid", "state", "beat age", "feed", "snapshots", "dropped", "intents", "orders",
                    "fills", "rejects", "gaps"):
            t.add_column(col, justify="right")
        for name, p in zip(PROCS, self.procs):
            if not p:
                t.add_row(name, *["-"] * 11)
                continue
            age = p.get("heartbeat_age_s")
            t.add_row(name, str(p["pid"]), p["state"], "-" if age is None else f"{age * 1e3:.0f} ms",
                      f"{p['feed']:,}", f"{p['snaps']:,}", f"{p['dropped']:,}", f"{p['intents']:,}",
                      f"{p['orders']:,}", f"{p['fills']:,}", f"{p['rejects']:,}", f"{p['gaps']:,}")
        pos = Table(title="positions (the engine's)")
        for col in ("locate", "position", "realized", "unrealized"):
            pos.add_column(col, justify="right")
        for row in self.positions:
            pos.add_row(str(row["locate"]), f"{row['position']:,}", _money(row["realized"]), _money(row["unrealized"]))
        return Group(head, t, pos)


def report_tables(res) -> list:
    """The end-of-run report: latencies, counts, reconciliation, faults."""
    out = []
    lat = Table(title="latency (ns), HdrHistogram")
    for col in ("figure", "n", "p50", "p99", "p99.9", "max"):
        lat.add_column(col, justify="right" if col != "figure" else "left")
    for name, v in res.samples.items():
        if len(v) == 0:
            continue
        s = stats.latency_summary(v)
        lat.add_row(name, f"{s['n']:,}", f"{s['p50']:,.0f}", f"{s['p99']:,.0f}", f"{s['p99.9']:,.0f}",
                    f"{s['max']:,.0f}")
    out.append(lat)
    e, x = res.counts.get("engine", {}), res.counts.get("exchange", {})
    c = Table(title="counts")
    c.add_column("what")
    c.add_column("n", justify="right")
    for label, v in (("feed messages published", x.get("published")), ("feed messages read", e.get("feed")),
                     ("sequence gaps", e.get("gaps")), ("snapshots", e.get("snaps")),
                     ("snapshots dropped (ring A full)", e.get("dropped")), ("intents", e.get("intents")),
                     ("signals", e.get("signals")), ("orders sent", e.get("orders")),
                     ("cancels sent", e.get("cancels")), ("fills", e.get("fills")),
                     ("risk rejections", e.get("rejects")), ("illegal replies", e.get("illegal")),
                     ("kill switch trips", e.get("kills")), ("feed ring full (exchange waited)", x.get("full_waits"))):
        if v is not None:
            c.add_row(label, f"{v:,}")
    for reason, n in sorted(res.counts.get("risk_rejects", {}).items()):
        c.add_row(f"  rejected: {reason}", f"{n:,}")
    out.append(c)
    r = res.reconciliation
    verdict = "[green]reconciled[/]" if res.reconciled else "[red]NOT reconciled[/]"
    out.append(f"{verdict}: {r.get('orders', 0):,} orders, {r.get('fills', 0):,} fills, "
               f"{r.get('open', 0)} left open at the exchange"
               + ("".join(f"\n  [red]{m}[/]" for m in r.get("mismatches", []))) + (f"\n  {r['why']}" if "why" in r else ""))
    for f in res.faults:
        out.append(f"[yellow]fault survived:[/] {f}")
    for err in res.errors:
        out.append(f"[red]error:[/] {err}")
    return out
