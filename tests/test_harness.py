"""The harness: registry, targets, records, report, plots, CLI, asv and
pytest-benchmark suites - all driven by the lab declarations."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from labs import cli, plots, registry, report, runner, targets
from labs.lab import SIZES, Lab, Measurement, Metric, Skip, Workload, impl_module

ROOT = Path(__file__).resolve().parents[1]
SEVEN = {
    ("shm-basics", "access_ns"),
    ("spsc-ring", "op_ns"),
    ("spsc-ring", "throughput"),
    ("order-book", "throughput"),
    ("ml-inference", "feature_ns"),
    ("ml-inference", "throughput_batch"),
    ("trading-system", "tick_to_signal_p50_ns"),
}


def test_the_labs_in_order():
    labs = registry.all_labs()
    assert [lab.number for lab in labs] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [lab.id for lab in labs] == ["shm-basics", "false-sharing", "spsc-ring", "memory-ordering", "order-book",
                                        "ml-inference", "trading-system", "backtest"]
    assert labs[0].available and labs[0].guide == "labs/01-shm-basics/README.md"


@pytest.mark.cimpl  # runs C code: selected by make sanitize
def test_available_labs_are_complete():
    """A landed lab has its guide, notebook, both implementations and consistent declarations."""
    for lab in registry.all_labs():
        if not lab.available:
            continue
        assert (ROOT / lab.guide).is_file(), lab.guide
        assert (ROOT / lab.notebook).is_file(), lab.notebook
        assert (ROOT / "cimpl" / f"{lab.module_name}.c").is_file()
        for impl in ("c", "python"):
            impl_module(lab.module_name, impl)
        declared = {m.id for m in lab.metrics}
        for w in lab.workloads:
            assert set(w.metrics) <= declared, (lab.id, w.id)
            assert all(i in ("c", "python") or i.startswith("peer:") for i in w.impls)


def test_registry_get():
    assert registry.get("shm-basics").number == 1
    assert registry.get("1").id == "shm-basics"
    assert registry.get("shm_basics").id == "shm-basics"
    with pytest.raises(KeyError, match="unknown lab"):
        registry.get("nope")


def test_all_seven_targets_present_with_lab_and_metric():
    got = {(t.lab, m) for t in targets.load() for m in t.metrics}
    assert SEVEN <= got
    assert len(targets.load()) == 7
    lab_ids = {lab.id for lab in registry.all_labs()}
    for t in targets.load():
        assert t.lab in lab_ids, t
    # the installed copy is the file in bench/
    assert targets.parse((ROOT / "bench" / "targets.toml").read_text()) == list(targets.load())


def test_target_units_match_available_metrics():
    for lab in registry.all_labs():
        for t in targets.load():
            if t.lab == lab.id and lab.available:
                for m in t.metrics:
                    assert lab.metric(m).unit == t.unit, (t.id, m)


@pytest.mark.parametrize(("op", "value", "expected"), [("<", 99.9, True), ("<", 100, False), (">", 101, True),
                                                         (">", 100, False)])
def test_target_judgement(op, value, expected):
    t = targets.Target("x", "x", "lab", ("m",), op, 100.0, "ns")
    assert t.met(value) is expected
    assert t.met(None) is None and t.met(math.nan) is None


def test_target_parse_rejects_unknown_op():
    with pytest.raises(ValueError, match="unknown op"):
        targets.parse('[[target]]\nid="x"\nbrief="b"\nlab="l"\nmetrics=["m"]\nop="~"\nvalue=1\nunit="ns"\n')


# A fake lab: exercises runner, records, report and plots in milliseconds.
def _fake_run(impl, size):
    if impl == "peer:absent":
        raise Skip("peer not installed")
    if impl == "peer:broken":
        raise RuntimeError("boom")
    base = {"c": 10.0, "python": 500.0}[impl]
    pct = {"p50": base, "p90": base * 1.2, "p99": base * 2, "p99.9": base * 4, "p99.99": base * 8}
    return [Measurement("lat_ns", base, extra={"percentiles": pct, **pct}),
            Measurement("lat_ns", base * 3, variant="slow-path")]


FAKE = Lab(number=9, id="shm-basics", title="fake", summary="fake",
           metrics=(Metric("lat_ns", "ns", "lower", "d", floor="c2c_rtt_ns", floor_scale=0.5),),
           workloads=(Workload("w", _fake_run, ("c", "python", "peer:absent", "peer:broken"), ("lat_ns",)),))
FLOORS = {"c2c_rtt_ns": 100.0, "ctypes_call_ns": 300.0, "timer_ns": 20.0, "python_timer_ns": 50.0,
          "python_loop_ns": 10.0, "memcpy_gbps": 8.0}


@pytest.fixture
def fake_results(monkeypatch):
    monkeypatch.setattr(runner.machine, "floors", lambda size: dict(FLOORS))
    monkeypatch.setattr(runner.machine, "info", lambda: {"id": "test-machine", "date": "2026-01-01T00:00:00"})
    monkeypatch.setattr(runner.traceback, "print_exc", lambda: None)
    return runner.run([FAKE], "quick").to_json()


def test_runner_records_schema(fake_results):
    res = fake_results
    assert set(res) >= {"machine", "floors", "records"}
    assert len(res["records"]) == 4
    for r in res["records"]:
        assert set(r) >= {"lab", "metric", "impl", "value", "unit", "target", "met"}
        assert r["impl"] in ("c", "python")
        assert r["floor"]["value"] == 50.0
        assert r["ratio_to_floor"] == pytest.approx(r["value"] / 50.0)
        assert r["met"] is None and r["target"] is None  # lat_ns has no seed target
    assert any("skipped: peer not installed" in n for n in res["notes"])
    assert any("RuntimeError: boom" in e for e in res["errors"])
    json.dumps(res)  # serialisable


def test_record_is_judged_against_target():
    lab = registry.get("shm-basics")
    rec = runner.make_record(lab, "c", Measurement("access_ns", 4.0), FLOORS)
    assert rec["target"]["op"] == "<" and rec["target"]["value"] == 100 and rec["met"] is True
    rec = runner.make_record(lab, "python", Measurement("access_ns", 900.0), FLOORS)
    assert rec["met"] is False


def test_report_and_plots(fake_results, tmp_path, capsys):
    from rich.console import Console

    report.print_results(fake_results, Console(width=160))
    out = capsys.readouterr().out
    assert "lat_ns" in out and "slow-path" in out and "boom" in out
    written = report.write(fake_results, tmp_path, ["shm-basics"])
    assert (tmp_path / "results.json").is_file()
    assert (tmp_path / "shm-basics.png").stat().st_size > 10_000
    assert (tmp_path / "shm-basics-latency.png").stat().st_size > 10_000
    assert len(written) == 3


def test_plot_draws_target_line():
    res = {"machine": {"id": "m"}, "records": [
        runner.make_record(registry.get("shm-basics"), "c", Measurement("access_ns", 4.0), FLOORS)]}
    fig = plots.lab_figure(res, "shm-basics")
    ax = fig.axes[0]
    ys = [line.get_ydata()[0] for line in ax.get_lines()]
    assert 100 in ys  # the target
    assert plots.lab_figure(res, "other-lab") is None
    plots.plt.close(fig)


def test_readme_targets_table_matches_committed_results():
    committed = report.all_committed(ROOT / "results")
    text = (ROOT / "README.md").read_text()
    block = text[text.index(report.README_BEGIN) + len(report.README_BEGIN):text.index(report.README_END)]
    assert block.strip() == report.targets_markdown(committed).strip(), "run `make readme`"
    for run in committed:  # every committed machine has its columns
        assert f"`{run['machine']['id']}` C" in block


def test_committed_results_have_lab1_records():
    committed = report.latest_committed(ROOT / "results")
    got = {(r["metric"], r["impl"]) for r in committed["records"] if not r.get("variant")}
    for metric in ("access_ns", "visibility_p50_ns", "visibility_p99_ns"):
        assert (metric, "c") in got and (metric, "python") in got
    assert committed["floors"]["c2c_rtt_ns"] > 0


def test_cli_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for lab in registry.all_labs():
        assert lab.id in out
    assert out.count("not yet available") == sum(not lab.available for lab in registry.all_labs())


def test_cli_run_rejects_unknown_and_unavailable(capsys, tmp_path, monkeypatch):
    assert cli.main(["run", "nope", "--out", str(tmp_path)]) == 2
    # every lab of the course is available now: a planned one is still refused by name
    labs = registry.all_labs() + [registry.planned(9, "market-making", "Market making", "a later lab")]
    monkeypatch.setattr(registry, "all_labs", lambda: labs)
    with pytest.raises(SystemExit, match="not yet available: market-making"):
        cli.main(["run", "market-making", "--out", str(tmp_path)])


def test_python_m_labs_list():
    out = subprocess.run([sys.executable, "-m", "labs", "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "shm-basics" in out.stdout


@pytest.mark.slow
@pytest.mark.cimpl
def test_cli_run_quick_end_to_end(tmp_path):
    """`latencylab run shm-basics --quick` writes results.json with C and Python
    records judged against targets, floors, and the plots."""
    out = subprocess.run([sys.executable, "-m", "labs", "run", "shm-basics", "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["size"] == "quick" and res["errors"] == []
    assert res["floors"]["c2c_rtt_ns"] > 0 and res["floors"]["ctypes_call_ns"] > 0
    recs = {(r["metric"], r["impl"]): r for r in res["records"] if not r.get("variant")}
    for impl in ("c", "python"):
        assert recs[("access_ns", impl)]["met"] in (True, False)
        assert recs[("visibility_p50_ns", impl)]["value"] > 0
    assert (tmp_path / "shm-basics.png").is_file()


def test_asv_suite_generated_from_declarations():
    sys.path.insert(0, str(ROOT))
    try:
        import bench.suites as suites
    finally:
        sys.path.remove(str(ROOT))
    assert hasattr(suites, "ShmBasicsAccess") and hasattr(suites, "ShmBasicsVisibility")
    cls = suites.ShmBasicsVisibility
    assert cls.params == [["c", "python"], ["-"]]
    assert suites.ShmBasicsAccess.params[1] == ["-", "ctypes-per-call"]
    assert hasattr(suites, "FalseSharingCounters") and hasattr(suites, "FalseSharingPythonThreads")
    assert suites.SpscRingStream.params[1] == ["-", "index", "index/no-cache", "c->python", "python->c"]
    assert hasattr(suites, "SpscRingRtt") and hasattr(suites, "SpscRingPeers")
    assert cls.track_visibility_p50_ns.unit == "ns"


@pytest.mark.slow
def test_asv_check_passes():
    asv = Path(sys.executable).parent / "asv"
    if not asv.exists():
        pytest.skip("asv not installed in this environment")
    subprocess.run([str(asv), "machine", "--yes"], cwd=ROOT, capture_output=True, timeout=120)
    out = subprocess.run([str(asv), "check", "--python=same"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout


def test_sizes():
    assert SIZES == ("quick", "full")


def test_quick_runs_never_overwrite_committed_results():
    full, quick = cli.default_out_dir("full"), cli.default_out_dir("quick")
    assert full.parts[0] == "results" and quick == full / "quick"
    assert "/results/*/quick/" in (ROOT / ".gitignore").read_text()


@pytest.mark.cimpl  # runs C code: selected by make sanitize
def test_cli_machine_prints_info_and_floors(capsys):
    assert cli.main(["machine"]) == 0
    out = capsys.readouterr().out
    for key in ("cpu_model", "c2c_rtt_ns", "ctypes_call_ns", "timer_ns", "memcpy_gbps"):
        assert key in out


def test_cli_clean_reports(capsys):
    assert cli.main(["clean"]) == 0
    assert "removed" in capsys.readouterr().out


def test_results_merge_keeps_other_labs():
    old = {"schema": 1, "size": "full", "machine": {"id": "m", "date": "d1", "git_commit": "a"}, "floors": {"x": 1},
           "records": [{"lab": "shm-basics", "metric": "access_ns"}, {"lab": "false-sharing", "metric": "slowdown"}],
           "lab_runs": {"shm-basics": {"date": "d1"}, "false-sharing": {"date": "d1"}}}
    new = {"schema": 1, "size": "full", "machine": {"id": "m", "date": "d2", "git_commit": "b"}, "floors": {"x": 2},
           "records": [{"lab": "false-sharing", "metric": "slowdown", "value": 9}]}
    merged = report.merge(old, new, ["false-sharing"])
    assert [r["lab"] for r in merged["records"]] == ["shm-basics", "false-sharing"]
    assert merged["records"][1]["value"] == 9
    assert merged["lab_runs"]["shm-basics"] == {"date": "d1"}
    assert merged["lab_runs"]["false-sharing"]["git_commit"] == "b"
    assert merged["floors"] == {"x": 2}
    # another machine or size: nothing carried over
    other = dict(old, size="quick")
    assert [r["lab"] for r in report.merge(other, new, ["false-sharing"])["records"]] == ["false-sharing"]


def test_report_write_merges_with_existing_file(fake_results, tmp_path):
    report.write(fake_results, tmp_path, ["shm-basics"])
    again = dict(fake_results, records=[dict(r, lab="false-sharing") for r in fake_results["records"]])
    report.write(again, tmp_path, ["false-sharing"])
    merged = json.loads((tmp_path / "results.json").read_text())
    assert {r["lab"] for r in merged["records"]} == {"shm-basics", "false-sharing"}
    assert set(merged["lab_runs"]) == {"shm-basics", "false-sharing"}


def test_results_merge_keeps_each_labs_notes_and_errors():
    """Refreshing one lab replaces that lab's notes and errors and keeps the others' own."""
    old = {"schema": 1, "size": "full", "machine": {"id": "m"}, "records": [],
           "notes": ["shm-basics access [peer:x]: skipped: absent", "false-sharing w [c]: skipped: old note"],
           "errors": ["shm-basics access [c]: RuntimeError: old", "false-sharing w [c]: RuntimeError: stale"]}
    new = {"schema": 1, "size": "full", "machine": {"id": "m"}, "records": [], "floors": {},
           "notes": ["false-sharing w [c]: skipped: new note"], "errors": []}
    merged = report.merge(old, new, ["false-sharing"])
    assert merged["notes"] == ["shm-basics access [peer:x]: skipped: absent", "false-sharing w [c]: skipped: new note"]
    assert merged["errors"] == ["shm-basics access [c]: RuntimeError: old"]


def test_committed_results_come_from_commits():
    """No committed figure comes from a working tree no commit holds."""
    for path in sorted((ROOT / "results").glob("*/results.json")):
        run = json.loads(path.read_text())
        for lab, info in run["lab_runs"].items():
            assert info["git_commit"] and not info["git_commit"].endswith("-dirty"), (path, lab)
        assert not (run["machine"].get("git_commit") or "").endswith("-dirty"), path
        assert {r["lab"] for r in run["records"]} <= set(run["lab_runs"]), path


def test_full_run_from_a_dirty_tree_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli.machine, "git_commit", lambda: "abc1234-dirty")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "shm-basics"]) == 2  # full, into results/<machine>/: refused before running
    assert "uncommitted changes" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()


def test_cross_core_workload_is_bracketed_and_rerun_when_the_floor_moves(monkeypatch):
    from labs import machine

    floors = iter([50.0, 400.0, 400.0, 410.0])  # moved during the first attempt, steady during the second
    monkeypatch.setattr(machine, "c2c_now", lambda: next(floors))
    runs = []

    def run(impl, size):
        runs.append(impl)
        return [Measurement("lat_ns", 7.0)]

    w = Workload("w", run, ("c",), ("lat_ns",), cross_core=True)
    (m,) = w.measure("c", "quick")
    assert runs == ["c", "c"]
    assert m.extra["c2c_bracket_ns"] == [400.0, 410.0] and m.extra["c2c_attempts"] == 2
    assert m.extra["placement_moved"] is False and "smt_siblings" in m.extra
    rec = runner.make_record(FAKE, "c", Measurement("lat_ns", 7.0, extra=m.extra), FLOORS)
    assert rec["floor"] == {"name": "c2c_rtt_ns", "scale": 0.5, "value": 202.5, "source": "bracket"}
    # a workload that is not cross-core runs once, unbracketed
    plain = Workload("p", run, ("c",), ("lat_ns",))
    assert "c2c_bracket_ns" not in plain.measure("c", "quick")[0].extra


def test_cross_core_figures_say_whether_the_cpus_share_a_core(monkeypatch):
    from labs import machine

    facts = {(0, "thread_siblings_list"): "0,2", (0, "core_id"): "0", (2, "core_id"): "0",
             (0, "physical_package_id"): "0", (2, "physical_package_id"): "0"}
    monkeypatch.setattr(machine, "_cpu_fact", lambda cpu, name: facts.get((cpu, name)))
    assert machine.pair_topology((0, 2))["smt_siblings"] is True
    facts[(0, "thread_siblings_list")] = "0-1"
    assert machine.pair_topology((0, 2))["smt_siblings"] is False
    del facts[(0, "thread_siblings_list")]
    assert machine.pair_topology((0, 2))["smt_siblings"] is None  # unknown, not guessed
    assert machine._cpu_list("0-2,5") == {0, 1, 2, 5}


def test_clamped_samples_are_noted(monkeypatch):
    def run(impl, size):
        from labs import stats

        return stats.latency_measurements([-5, -1, 0, 10, 20], "lat", ("lat_ns", "lat_ns"))

    lab = Lab(number=9, id="shm-basics", title="fake", summary="fake",
              metrics=(Metric("lat_ns", "ns", "lower", "d"),), workloads=(Workload("w", run, ("c",), ("lat_ns",)),))
    monkeypatch.setattr(runner.machine, "floors", lambda size: dict(FLOORS))
    monkeypatch.setattr(runner.machine, "info", lambda: {"id": "test-machine"})
    res = runner.run([lab], "quick")
    assert res.records[0]["clamped_low"] == 3
    assert res.notes == ["shm-basics w [c]: 3 of 5 samples below 1 ns (min -5 ns) were recorded as 1 ns"]


@pytest.mark.parametrize("test_file", ["test_shm_basics.py", "test_spsc_ring.py", "test_memory_ordering.py",
                                       "test_order_book_c.py", "test_ml_inference_c.py", "test_false_sharing.py"])
def test_an_unloadable_c_library_fails_the_run(test_file):
    """A C library that does not load - the error a layout disagreement between C
    and Python gives - must fail `make test`, never skip its tests quietly."""
    import os

    env = dict(os.environ, LATENCYLAB_LIBDIR="/nonexistent")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "-k", "cimpl",
                          str(ROOT / "tests" / test_file)], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert out.returncode not in (0, 5), out.stdout[-2000:]
    assert "skipped" not in out.stdout.splitlines()[-1], out.stdout[-500:]
