"""course_lib.stored: the long bench runs the book quotes ship inside the package, so a chapter finds
them wherever it runs (a Colab install has no bench/ folder)."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from course_lib import stored
from conftest import REPO


def test_each_stored_result_is_what_its_chapter_reads():
    egnn = stored.result("egnn_nbody")
    assert egnn["n_train"] == 3000 and len(egnn["runs"]) >= 3
    assert all(r["final_mse"] > 0 for r in egnn["runs"])
    page_keys = {"seed", "lr", "parameters", "cpu_seconds", "curve", "best_epoch", "kept_mse",
                 "first_at_target"}
    for name in ("EGNN", "GNN", "centred GNN"):  # each model: >= 3 seeds, at its chosen rate
        runs, lr, grid = egnn["models"][name], egnn["lr"][name], egnn["lr_grid"][name]
        assert len({r["seed"] for r in runs}) >= 3 and all(page_keys <= set(r) for r in runs)
        assert all(set(r["kept_mse"]) == {"test", "turned", "turned+shifted"} for r in runs)
        assert all(r["lr"] == lr and 0 < r["best_epoch"] <= egnn["epochs"] for r in runs)
        rates = sorted(float(k) for k in grid)  # the rate is the grid's best on validation,
        assert lr == min(rates, key=lambda k: grid[str(k)])  # flagged if it sits at an edge
        assert egnn["lr_at_grid_edge"][name] == (lr in (rates[0], rates[-1]))
    longer = egnn["budget_run"]  # the run of about the target's 150 s the page quotes
    assert longer["epochs"] > egnn["epochs"] and longer["lr"] == egnn["lr"]["EGNN"]
    long = egnn["long_runs"]  # --long: both draws, 3 seeds, kept at the lowest validation MSE
    assert long["epochs"] > egnn["epochs"] and long["lr"] == egnn["lr"]["EGNN"] and set(long["draws"]) == {"ours", "paper"}
    for draw in long["draws"].values():
        assert [r["seed"] for r in draw["runs"]] == [0, 1, 2]
        for r in draw["runs"]:
            assert r["epochs"] == long["epochs"] and r["cpu_seconds"] < 600  # the 10 min a seed
            assert r["best_epoch"] == min(r["valid_curve"], key=lambda em: em[1])[0]
    assert long["draws"]["paper"]["linear_mse"] == egnn["paper_data"]["linear_mse"]  # the same draw
    augerino = stored.result("augerino_range")
    assert 45 in augerino["ranges"] and augerino["runs"]
    # the control whose labels no rotation changes: 3 seeds at every range
    for r in augerino["ranges"]:
        assert sum(k.startswith(f"01 R{r} start") for k in augerino["runs"]) == 3, r
    gcnn = stored.result("gcnn_data_efficiency")  # every model: 3 seeds at each size, test split apart
    assert all(len(m["runs"]) == 3 * len(gcnn["sizes"]) for m in gcnn["models"].values()) and gcnn["n_val"] > 0
    from course_lib import gcnn_efficiency  # the patience is the library's rule applied to validation
    chosen, table = gcnn["protocol"]["patience"], gcnn["val_error_by_patience"]
    assert chosen == gcnn_efficiency.choose_patience(
        [{int(p): v for p, v in by_size.items()} for m in table.values() for by_size in m.values()])
    gcnn_runs = [r for m in gcnn["models"].values() for r in m["runs"]]  # the page reads the chosen one's
    assert all(r["test_error"] == r["by_patience"][str(chosen)]["test_error"] for r in gcnn_runs)
    assert gcnn["runs_at_cap"] == sum(r["hit_cap"] for r in gcnn_runs)
    build = stored.result("gcnn_build")["builds"]  # cold builds: the disk cache is what makes them fast
    assert all(b["warm_disk"] < b["cold"] for name, b in build.items() if name.startswith("D"))
    probes = stored.result("gcnn_probes")  # the chapter's factorial probe: the bench's seeds, 300 images
    assert probes["seeds"] == gcnn["seeds"] and probes["n"] == 300 and probes["protocol"] == gcnn["protocol"]
    assert all([r["seed"] for r in m["runs"]] == gcnn["seeds"] for m in probes["models"].values())
    from course_lib.gcnn import n_parameters  # not `gcnn`: that name holds the stored result above
    steer = stored.result("gcnn_steerable")  # bench/gcnn_steerable.py: the library's models, its rule's patience
    assert list(steer["models"]) == list(gcnn_efficiency.STEERABLE) and steer["n"] == 300
    assert steer["pairs"] == {k: list(v) for k, v in gcnn_efficiency.STEERABLE_PAIRS.items()}
    s_table = steer["val_error_by_patience"]
    assert steer["protocol"]["patience"] == gcnn_efficiency.choose_patience(
        [{int(p): v for p, v in m["300"].items()} for m in s_table.values()])
    for name, m in steer["models"].items():
        assert [r["seed"] for r in m["runs"]] == steer["seeds"] and len(steer["seeds"]) >= 5
        assert m["parameters"] == n_parameters(gcnn_efficiency.make(name))
        assert all(r["test_error"] == r["by_patience"][str(steer["protocol"]["patience"])]["test_error"]
                   for r in m["runs"])
    darcy = stored.result("darcy_fno")  # the operators chapter's Darcy FNO, trained longer
    lr, steps, by_budget = darcy["chosen rate"], darcy["chosen steps"], darcy["validation error by budget (seed 0)"]
    runs = {(r["lr"], r["steps"], r["modes"], r["seed"]): r for r in darcy["runs"]}
    assert [int(s) for s in by_budget] == darcy["budgets run"] == darcy["budgets"][:len(by_budget)]
    assert all(runs[(lr, int(s), 8, 0)]["validation error"] == v for s, v in by_budget.items())
    best = min(by_budget.values())
    assert steps == min(int(s) for s, v in by_budget.items() if v <= (1 + darcy["within"]) * best)
    assert darcy["budget at the grid's edge"] == (steps == darcy["budgets run"][-1])
    for modes in ("8", "12"):
        per_seed = [runs[(lr, steps, int(modes), seed)]["test error"] for seed in (0, 1, 2)]
        assert darcy["results"][modes]["test error"] == per_seed
        assert all(0 < e < 0.35 for e in darcy["results"][modes]["test error"])  # < the mean's
    longer = darcy["at the longer budget"]  # the modes compared again one budget up, if the ladder ran it
    above = [int(s) for s in by_budget if int(s) > steps]
    assert bool(longer) == bool(above)
    if longer:
        assert longer["longer steps"] == above[0]
        for modes in ("8", "12"):
            per_seed = [runs[(lr, above[0], int(modes), seed)] for seed in (0, 1, 2)]
            assert longer["results"][modes]["test error"] == [r["test error"] for r in per_seed]
            assert longer["results"][modes]["validation error"] == [r["validation error"] for r in per_seed]


def test_an_unknown_name_is_refused_with_the_names_there_are():
    with pytest.raises(ValueError, match=r"one of \['augerino_range', .*'egnn_nbody'.*got 'egnn'"):
        stored.result("egnn")


def test_no_book_notebook_reads_the_bench_folder():
    for path in (REPO / "book").glob("*.ipynb"):
        text = path.read_text()
        assert '\\"bench\\"' not in text and "../bench/" not in text, path.name


@pytest.mark.slow
def test_the_wheel_carries_the_stored_results(tmp_path):
    # built from a copy of what the wheel is made of: a build in the repository leaves build/ there
    source = tmp_path / "source"
    shutil.copytree(REPO / "course_lib", source / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("course_lib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("egnn_nbody", "augerino_range"):
        assert f"course_lib/bench_results/{name}.json" in names


def test_a_trial_run_never_overwrites_the_stored_result(tmp_path):
    assert stored.output("darcy_fno", None) == stored.path("darcy_fno")
    assert stored.output("darcy_fno", "5 steps").name == "darcy_fno_trial.json"
    assert stored.output("darcy_fno", "5 steps", str(tmp_path / "x.json")) == tmp_path / "x.json"
    with pytest.raises(ValueError, match=r"a trial run \(5 steps\) may not overwrite"):
        stored.output("darcy_fno", "5 steps", str(stored.path("darcy_fno")))


def test_the_burgers_bench_result_is_complete_and_its_summary_is_its_runs():
    from course_lib.spread import compare, spread

    burgers = stored.result("burgers_pinn")  # bench/burgers_pinn.py: the plain set-up is the chapter's main run
    assert burgers["plain"]["n"] == 1000 and burgers["plain"]["lbfgs"] == 1500 and burgers["plain"]["adam"] == 0
    runs = {}
    for r in burgers["runs"]:
        runs.setdefault(r["candidate"], []).append(r)
    assert set(runs) == set(burgers["candidates"]) == set(burgers["summary"]) and "plain" in runs
    for name, rs in runs.items():
        assert [r["seed"] for r in rs] == burgers["seeds"] == [0, 1, 2], name
        row = burgers["summary"][name]
        for key in ("test error", "validation error", "cpu seconds"):
            # the mean to round-off: Python 3.13's float sums differ from 3.11's in the last bit
            assert row[key]["values"] == [r[key] for r in rs]
            assert row[key]["mean"] == pytest.approx(spread(row[key]["values"]).mean, rel=1e-12, abs=0)
        assert all(r["test error"] == r["test error by iteration"][-1][1] for r in rs)
        if name != "plain":  # the stored verdict is the one the stored numbers give
            plain = burgers["summary"]["plain"]["test error"]["values"]
            assert row["test error vs plain"] == compare(spread(row["test error"]["values"]), spread(plain),
                                                         False, (name, "plain"), paired=True)
    # the same seeds and settings give the same run: the 3000-iteration run passes through the plain one
    for plain, longer in zip(runs["plain"], runs["plain, 3000 its"]):
        assert dict(longer["test error by iteration"])[1500] == plain["test error"]
