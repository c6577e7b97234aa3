"""Plots of results.json: one figure per lab with a panel per metric, the
target drawn as a red line and the machine floor as a grey one; and, for
latency metrics carrying percentiles, the distribution by implementation.

Generic over labs: a new lab's records plot without an edit here.  The CLI
saves these as PNG; the results notebooks call the same functions.
"""

from __future__ import annotations

import math
import textwrap

# No backend is forced: matplotlib picks Agg in a script without a display,
# and a notebook keeps its inline backend (forcing Agg would hide the plots).
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

IMPL_ORDER = ("c", "python")  # then peers, alphabetically
PALETTE = {"c": "#1f77b4", "python": "#ff7f0e"}
PEER_COLOR = "#7f7f7f"


def _label(rec: dict) -> str:
    impl = rec["impl"]
    if impl.startswith("peer:"):  # peer:multiprocessing.shared_memory -> three short lines
        impl = "peer:\n" + impl[5:].replace(".", ".\n")
    variant = rec.get("variant") or ""
    # long variants wrap (at "/" and "-") so neighbouring labels do not overlap
    if not variant:
        return impl
    return impl + "\n" + "\n".join(textwrap.wrap(f"({variant})".replace("/", "/ "), 16)).replace("/ ", "/")


def _order(labels: list[str]) -> list[str]:
    def key(lab: str) -> tuple:
        impl = lab.split("\n")[0].rstrip(":")
        rank = IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER)
        return (rank, lab)

    return sorted(set(labels), key=key)


PEER_LINES = ("#7f7f7f", "#8c564b", "#bcbd22", "#17becf", "#e377c2", "#9467bd")


def _flat_label(rec: dict) -> str:
    return rec["impl"] + (f" ({rec['variant']})" if rec.get("variant") else "")


def _line_colors(labels) -> dict:
    """c and python in their colours; every peer its own, so their lines can be told apart."""
    peers = iter(PEER_LINES * 4)
    return {lab: PALETTE.get(lab.split(" ")[0]) or next(peers) for lab in labels}


def _color(label: str) -> str:
    return PALETTE.get(label.split("\n")[0], PEER_COLOR)  # "peer:" lines are grey


def _fmt(v: float, unit: str) -> str:
    if unit == "ns" and v >= 1000:
        return f"{v / 1000:.3g} µs"
    if v >= 1e6:
        return f"{v / 1e6:.3g} M{unit}"
    if v >= 1e3 and unit.endswith("/s"):
        return f"{v / 1e3:.3g} k{unit}"
    return f"{v:.3g} {unit}"


def _groups(lab_id: str) -> tuple:
    from . import registry

    try:
        return registry.get(lab_id).plot_groups
    except KeyError:
        return ()


def _variant_axis_metrics(lab_id: str) -> set[str]:
    from . import registry

    try:
        return {m.id for m in registry.get(lab_id).metrics if m.variant_axis}
    except KeyError:
        return set()


def _variant_panel(ax, recs: list[dict], metric: str) -> None:
    """One metric whose variants are the x axis: "op" and "op/contended" side
    by side, the part after "/" as the bar colour."""
    rows = []
    for r in recs:
        base, _, kind = (r.get("variant") or "").partition("/")
        rows.append({"x": base, "kind": f"{r['impl']} ({kind})" if kind else r["impl"], "value": r["value"]})
    df = pd.DataFrame(rows)
    sns.barplot(data=df, x="x", y="value", hue="kind", order=list(dict.fromkeys(df.x)), palette="Paired", ax=ax)
    unit = recs[0]["unit"]
    positive = df.value[df.value > 0]
    if len(positive) and positive.max() / positive.min() > 30:
        ax.set_yscale("log")
    for container in ax.containers:
        ax.bar_label(container, labels=[_fmt(v, unit) for v in container.datavalues], fontsize=7)
    ax.set_title(metric)
    ax.set_xlabel("")
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    ax.legend(fontsize=8, title=None)


def _litmus_panel(ax, recs: list[dict]) -> None:
    """Litmus records (those carrying a `histogram`): how often each test's
    interesting outcome was seen, as a rate per iteration on a log axis, by
    implementation; a test whose outcome x86-TSO forbids is marked, and a zero
    is written in (a log axis cannot draw it)."""
    rows = [{"test": r["metric"].removeprefix("litmus:"), "impl": r["impl"],
             "rate": r["value"] / r["iterations"], "seen": r["value"], "n": r["iterations"],
             "forbidden": not r.get("allowed_x86tso", True)} for r in recs]
    df = pd.DataFrame(rows)
    tests = list(dict.fromkeys(df.test))
    impls = _order(list(dict.fromkeys(df.impl)))
    floor = 0.3 / df.n.max()  # where a zero is drawn: below one observation in the largest run
    sns.barplot(data=df.assign(shown=df.rate.where(df.rate > 0, floor)), x="test", y="shown", hue="impl",
                order=tests, hue_order=impls, palette={i: _color(i) for i in impls}, ax=ax)
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 1.5)
    for container, impl in zip(ax.containers, impls):
        sub = df[df.impl == impl].set_index("test")
        for patch in container.patches:
            if patch is None:
                continue
            test = tests[round(patch.get_x() + patch.get_width() / 2)]  # bars sit around x = 0, 1, ...
            if test not in sub.index:  # this impl does not run this test
                continue
            row = sub.loc[test]
            label = f"0 in {row.n:.0e}" if row.seen == 0 else f"{row.rate:.1e}"
            ax.annotate(label, (patch.get_x() + patch.get_width() / 2, patch.get_height()), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", rotation=90, fontsize=7)
    ax.set_xticks(range(len(tests)), [t.replace(":", "\n") + ("\n(x86: forbidden)" if df[df.test == t].forbidden.any()
                                                                else "") for t in tests], fontsize=8)
    ax.set_title("litmus tests: interesting outcome per iteration")
    ax.set_xlabel("")
    ax.set_ylabel("observed / iterations")
    ax.legend(fontsize=8, title=None)


def _grouped_panel(ax, recs: list[dict], title: str, metrics: tuple[str, ...]) -> None:
    """One panel for several metrics of one unit (e.g. ns/op per layout):
    x = metric, one bar colour per implementation/variant."""
    flat = _flat_label
    df = pd.DataFrame({"metric": [r["metric"] for r in recs], "label": [flat(r) for r in recs],
                       "value": [r["value"] for r in recs]})
    order = [m for m in metrics if m in set(df.metric)]
    ranked = {flat(r): _label(r) for r in recs}
    hue_order = sorted(ranked, key=lambda f: _order(list(ranked.values())).index(ranked[f]))
    many = len(hue_order) > 10  # tab10 would repeat colours; labels turn upright to stay apart
    sns.barplot(data=df, x="metric", y="value", hue="label", order=order, hue_order=hue_order,
                palette="tab20" if many else "tab10", ax=ax)
    positive = df.value[df.value > 0]
    if len(positive) and positive.max() / positive.min() > 30:
        ax.set_yscale("log")
    unit = recs[0]["unit"]
    targets = {(t["op"], t["value"]) for t in (r.get("target") for r in recs) if t}
    for op, value in sorted(targets):
        ax.axhline(value, color="#d62728", ls="--", lw=1.5, label=f"target {op} {_fmt(value, unit)}")
    floor = next((r["floor"] for r in recs if r.get("floor")), None)
    if floor:
        name = floor["name"] + (f" x {floor['scale']:g}" if floor["scale"] != 1 else "")
        ax.axhline(floor["value"], color="#555555", ls=":", lw=1.5, label=f"floor: {name} = {_fmt(floor['value'], unit)}")
    for container in ax.containers:
        ax.bar_label(container, labels=[_fmt(v, unit) for v in container.datavalues], fontsize=6 if many else 7,
                     rotation=90 if many else 0, padding=2)
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel(unit)
    ax.legend(fontsize=8, title=None)


def lab_figure(results: dict, lab_id: str, title: str | None = None):
    """Bars per implementation, one panel per metric (metrics the lab groups in
    `plot_groups` share one panel); None if the lab has no records."""
    # a yes/no outcome ("bool") is a table row, not a bar
    recs = [r for r in results["records"] if r["lab"] == lab_id and r["unit"] != "bool"]
    if not recs:
        return None
    all_recs = recs
    litmus = [r for r in recs if "histogram" in r]
    recs = [r for r in recs if "histogram" not in r]
    by_variant = _variant_axis_metrics(lab_id)
    variant_panels = list(dict.fromkeys(r["metric"] for r in recs if r["metric"] in by_variant))
    recs = [r for r in recs if r["metric"] not in by_variant]
    df = pd.DataFrame({"metric": [r["metric"] for r in recs], "label": [_label(r) for r in recs],
                       "value": [r["value"] for r in recs]})
    present = list(dict.fromkeys(r["metric"] for r in recs))
    groups = [(t, ms) for t, ms in _groups(lab_id) if set(ms) & set(present)]
    grouped = {m for _, ms in groups for m in ms}
    metrics = [m for m in present if m not in grouped]
    n_variants = {m: len({(r.get("variant") or "").partition("/")[0] for r in all_recs if r["metric"] == m})
                  for m in variant_panels}
    widths = ([0.22 * len({r["metric"] for r in litmus}) + 0.3] if litmus else []) \
        + [0.2 * n_variants[m] + 0.3 for m in variant_panels] \
        + [0.8 * len(ms) + 0.4 for _, ms in groups] \
        + [max(1.0, 0.12 * df[df.metric == m].label.nunique()) for m in metrics]  # wider for many bars
    fig, axes = _panel_grid(widths)
    panels = iter(axes)
    if litmus:
        _litmus_panel(next(panels), litmus)
    for metric in variant_panels:
        _variant_panel(next(panels), [r for r in all_recs if r["metric"] == metric], metric)
    for group_title, ms in groups:
        _grouped_panel(next(panels), [r for r in recs if r["metric"] in ms], group_title, ms)
    for ax, metric in zip(panels, metrics):
        sub = df[df.metric == metric]
        mrecs = [r for r in recs if r["metric"] == metric]
        order = _order(sub.label.tolist())
        sns.barplot(data=sub, x="label", y="value", hue="label", order=order, hue_order=order,
                    palette={lab: _color(lab) for lab in order}, legend=False, ax=ax)
        unit = mrecs[0]["unit"]
        lines = [sub.value.max(), sub.value.min()]
        target = mrecs[0].get("target")
        if target:
            ax.axhline(target["value"], color="#d62728", ls="--", lw=1.5,
                       label=f"target {target['op']} {_fmt(target['value'], unit)}")
            lines.append(target["value"])
        floor = mrecs[0].get("floor")
        if floor:
            name = floor["name"] + (f" x {floor['scale']:g}" if floor["scale"] != 1 else "")
            ax.axhline(floor["value"], color="#555555", ls=":", lw=1.5, label=f"floor: {name} = {_fmt(floor['value'], unit)}")
            lines.append(floor["value"])
        positive = [v for v in lines if v > 0]
        if positive and max(positive) / min(positive) > 30:
            ax.set_yscale("log")
        for patch, lab in zip(ax.patches, order):
            v = sub[sub.label == lab].value.iloc[0]
            ax.annotate(_fmt(v, unit), (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_title(metric)
        ax.set_xlabel("")
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    machine = results.get("machine", {}).get("id", "")
    fig.suptitle(title or f"{lab_id} on {machine}")
    fig.tight_layout()
    return fig


MAX_ROW_WIDTH = 5.5  # panels (in units of one bar panel) before the figure wraps into rows


def _panel_grid(widths: list[float]):
    """A figure with one axes per panel, `widths` their relative widths: one
    row, or several rows of about equal width when one would be too wide."""
    rows: list[list[int]] = [[]]
    if sum(widths) > MAX_ROW_WIDTH:
        n_rows = math.ceil(sum(widths) / MAX_ROW_WIDTH)
        per_row = sum(widths) / n_rows
        for i, w in enumerate(widths):
            if rows[-1] and sum(widths[j] for j in rows[-1]) + w / 2 > per_row:
                rows.append([])
            rows[-1].append(i)
    else:
        rows[0] = list(range(len(widths)))
    row_width = max(sum(widths[i] for i in row) for row in rows)
    fig = plt.figure(figsize=(4.8 * row_width, 4.6 * len(rows)))
    outer = fig.add_gridspec(len(rows), 1)
    axes = []
    for r, row in enumerate(rows):
        inner = outer[r].subgridspec(1, len(row), width_ratios=[widths[i] for i in row])
        axes += [fig.add_subplot(inner[0, j]) for j in range(len(row))]
    return fig, axes


def _nines(p: float) -> float:
    """Percentile to 'number of nines' so p99.99 gets as much room as p50."""
    return -math.log10(1 - p / 100)


def latency_figure(results: dict, lab_id: str):
    """Percentile curves for every record of the lab that carries `percentiles`
    (one line per impl, per metric family); None if there is none."""
    seen = set()
    rows = []
    for r in results["records"]:
        if r["lab"] != lab_id or "percentiles" not in r:
            continue
        family = r["metric"].rsplit("_p", 1)[0]  # visibility_p50_ns -> visibility
        key = (family, r["impl"], r.get("variant"))
        if key in seen:
            continue
        seen.add(key)
        for name, v in r["percentiles"].items():
            p = float(name[1:])
            floor = r.get("floor") or {}
            rows.append({"family": family, "label": _flat_label(r), "nines": _nines(p),
                         "percentile": name, "ns": v, "floor": floor.get("value"),
                         "floor_name": floor.get("name", "") + (f" x {floor['scale']:g}" if floor.get("scale", 1) != 1 else "")})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    families = list(dict.fromkeys(df.family))
    fig, axes = plt.subplots(1, len(families), figsize=(6 * len(families), 4.2), squeeze=False)
    for ax, fam in zip(axes[0], families):
        sub = df[df.family == fam]
        sns.lineplot(data=sub, x="nines", y="ns", hue="label", marker="o", ax=ax,
                     palette=_line_colors(sub.label.unique()))
        ticks = sub.drop_duplicates("percentile").sort_values("nines")
        ax.set_xticks(ticks.nines, ticks.percentile)
        floor = sub.floor.dropna()
        if len(floor):
            name = sub.floor_name[sub.floor.notna()].iloc[0]
            ax.axhline(floor.iloc[0], color="#555555", ls=":", label=f"floor: {name} = {_fmt(floor.iloc[0], 'ns')}")
        ax.set_yscale("log")
        ax.set_xlabel("percentile")
        ax.set_ylabel("ns")
        ax.set_title(f"{fam}: latency distribution")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_all(results: dict, lab_ids: list[str], out_dir) -> list[str]:
    """Write <lab>.png (and <lab>-latency.png) for each lab; return the paths."""
    from pathlib import Path

    out = Path(out_dir)
    written = []
    for lab_id in lab_ids:
        for suffix, make in (("", lab_figure), ("-latency", latency_figure)):
            fig = make(results, lab_id)
            if fig is None:
                continue
            path = out / f"{lab_id}{suffix}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(str(path))
    return written
