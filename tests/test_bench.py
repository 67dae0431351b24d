"""The quick benchmark runs end to end and writes a complete, sane JSON report.

Speed targets are not asserted: a benchmark's figures depend on the machine, not on correctness.
What is asserted is what a broken benchmark would get wrong: missing measures, empty or negative
figures, and the 1 % change check, which is a correctness property of feedgen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.__main__ import Full, parse
from bench.calibrate import REFERENCE_SECONDS, verdict, work
from bench.full import Sizes, run_full
from bench.run import Busy, Options, exclusive, rss_sizes

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "Setup (once per run)",
    "Cycle after 1 % of users changed",
    "Peak RSS of a full rebuild, fresh process",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "bench.json"
    done = subprocess.run(
        # --rss-users: one more, larger CRM for the peak RSS table, measured after the rest.
        [sys.executable, "-m", "bench", "--quick", "--rss-users", "300"]
        + ["--dir", str(folder), "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PASS" in done.stdout or "FAIL" in done.stdout
    return json.loads(out.read_text())


@pytest.mark.slow
def test_report_has_every_part(report: dict[str, Any]) -> None:
    assert set(report) == {"meta", "sections", "targets", "raw"}
    meta = report["meta"]
    assert meta["users"] == 200 and meta["quick"] is True and meta["repeat"] == 1
    assert meta["crm"]["activities"] == 200 * 100
    assert meta["naive"]["sampled"] is False  # quick runs measure the naive baseline whole
    titles = list(report["sections"])
    assert any(t.startswith("Full rebuild") and "local" in t for t in titles)
    assert any(t.startswith("Full rebuild") and "S3" in t for t in titles)
    for title in SECTIONS:
        assert title in titles
    names = {t["name"] for t in report["targets"]}
    assert len(names) == 11
    assert all(t["pass"] in (True, False, None) for t in report["targets"])
    verdicts = {t["name"]: t["pass"] for t in report["targets"]}
    # Flat RSS is asked of 1,000 users and up; a quick run measures 20 and 200.
    assert verdicts["peak RSS flat across sizes"] is None
    # Asked at 10,000 and 100,000 users, and of PostgreSQL: a quick SQLite run measures none.
    assert verdicts["full rebuild, 10,000 users, auto processes"] is None
    assert verdicts["full rebuild at 100,000 users"] is None
    assert verdicts["two force builds at once"] is None


@pytest.mark.slow
def test_full_rebuilds_are_complete(report: dict[str, Any]) -> None:
    feeds = sum(report["meta"]["feeds"].values())
    raw = report["raw"]
    for name in ("rebuild_local", "rebuild_single", "rebuild_s3", "naive_local", "naive_s3"):
        for run in raw[name]:
            assert run["wall"] > 0
            assert run["feeds"] == feeds and run["uploads"] == feeds and run["failed"] == 0
            assert run["events"] > feeds  # about a hundred events a feed
            assert 0 < run["peak_rss_mb"] < 4000
    # Both sides render the same events; feedgen trims oversized team feeds, so it may show fewer.
    ours, naive = raw["rebuild_local"][0]["events"], raw["naive_local"][0]["events"]
    assert 0.5 * naive <= ours <= naive
    assert raw["put_ceiling"][0]["wall"] > 0


@pytest.mark.slow
def test_cycles_and_rendering(report: dict[str, Any]) -> None:
    raw = report["raw"]
    assert all(run["feeds"] == 0 and run["sql"] > 0 for run in raw["idle"])
    for run in raw["changed"]:
        assert run["users_changed"] >= 1
        assert run["feeds_expected"] >= run["users_changed"]
        assert 0 < run["team_feeds_expected"] < run["feeds_expected"]
        assert run["check"], run  # exactly the affected feeds changed, and only they were written
    rates = raw["render"]["runs"]
    assert all(rate > 0 for values in rates.values() for rate in values)
    assert raw["render"]["mismatches_vs_icalendar"] == 0
    sizes = report["sections"]["Peak RSS of a full rebuild, fresh process"]
    assert len(sizes) == 3 and all(row["median"] > 0 for row in sizes.values())


def test_rss_sizes_step_by_ten_and_reach_the_larger_crm_asked_for() -> None:
    assert rss_sizes(10_000) == [1_000, 10_000]
    assert rss_sizes(200) == [20, 200]
    assert rss_sizes(10_000, upto=100_000) == [1_000, 10_000, 100_000]
    assert rss_sizes(200, upto=300) == [20, 200, 300]


@pytest.mark.slow
def test_freshness_measures_every_edit_and_prints_its_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "freshness.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--freshness", "--users", "50", "--freshness-edits", "3"]
        + ["--dir", str(tmp_path), "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "freshness p95, defaults" in done.stdout
    document = json.loads(out.read_text())
    defaults = document["freshness"]["modes"]["defaults"]
    assert len(defaults["delays"]) == 3 and defaults["missed"] == 0
    assert all(0 < delay < 60 for delay in defaults["delays"])
    by_name = {t["name"]: t["pass"] for t in document["targets"]}
    assert by_name["freshness p95, NOTIFY"] is None  # PostgreSQL only: this run is on SQLite


@pytest.mark.slow
@pytest.mark.postgres
def test_the_full_run_measures_every_part_on_both_databases(
    pg_server: sa.URL, tmp_path: Path
) -> None:
    admin = pg_server.render_as_string(hide_password=False)
    sizes = Sizes(idle=[60, 120], freshness=[60], large=120)
    parts: list[str] = []
    opts = Options(users=60, repeat=1, quick=True, folder=tmp_path, naive_sample=0, budget=30)
    try:
        out = run_full(opts, admin, 2, lambda name, _out: parts.append(name), sizes)
    finally:
        _drop_bench_databases(pg_server, sizes)
    assert parts == ["timed", "idle", "force", "freshness", "large"]
    assert sorted(out["sizes"]) == [10, 120]  # a tenth of the run (at least 10), the large one
    idle = {(r["database"], r["users"]) for r in out["idle_sizes"]}
    assert idle == {(db, n) for db in ("sqlite", "postgresql") for n in (60, 120)}
    pair = out["force_pair"]
    assert sum(pair["built"]) == pair["feeds"] > 0
    [fresh] = out["freshness"]
    assert fresh["database"] == "postgresql" and set(fresh["modes"]) == {"defaults", "NOTIFY"}
    assert all(len(mode["delays"]) == 2 for mode in fresh["modes"].values())
    where = [name for name, _ in out["calibration"]]
    assert where == ["before", *(f"after {part}" for part in parts)]
    assert all(seconds > 0 for _, seconds in out["calibration"])


def test_the_full_run_times_its_measures_on_sqlite_and_the_rest_on_postgresql() -> None:
    url = "postgresql+psycopg2://postgres@db.example:5432/crm"
    job, _json, _idle = parse(["--full", "--postgres", url])
    assert isinstance(job, Full)
    assert job.opts.postgres is None  # the timed measures' header and JSON say "sqlite"
    assert job.postgres == url


def test_a_run_says_when_its_postgresql_does_not_answer(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--full", "--dir", str(tmp_path)]
        + ["--postgres", "postgresql+psycopg2://postgres@127.0.0.1:1/none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("bench: PostgreSQL (--postgres) does not answer: ")
    assert "Traceback" not in done.stderr


def _drop_bench_databases(server: sa.URL, sizes: Sizes) -> None:
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            names = conn.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'feedgen_bench%'")
            ).scalars()
            wanted = {str(n) for n in [*sizes.idle, *sizes.freshness, sizes.large]}
            for name in names:
                if name.rsplit("_", 1)[-1].split("-")[0] in wanted:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_runs_on_one_postgresql_server_do_not_overlap(
    pg_server: sa.URL, tmp_path: Path
) -> None:
    admin = pg_server.render_as_string(hide_password=False)
    # Two data folders: only the server is shared, and the databases named on it by size.
    busy = pytest.raises(Busy, match="another benchmark is running on this PostgreSQL server")
    with exclusive(tmp_path / "one", admin), busy, exclusive(tmp_path / "two", admin):
        pass
    with exclusive(tmp_path / "two", admin):  # free once the first run ends
        pass


def test_the_calibration_says_when_the_machine_s_speed_moved() -> None:
    steady = verdict([("before", 0.100), ("after timed", 0.110)])
    assert "moved 1.10x, steady;" in steady
    moved = verdict([("before", 0.100), ("after timed", 0.210), ("after idle", 0.120)])
    assert "moved 2.10x, NOT steady: absolute figures mix speeds;" in moved
    assert "0.210s after timed" in moved


def test_the_calibration_compares_the_machine_with_the_readme_s_reference() -> None:
    twice = verdict([("before", 2 * REFERENCE_SECONDS), ("after timed", 2 * REFERENCE_SECONDS)])
    assert twice.endswith(f"2.00x the time of the README's reference ({REFERENCE_SECONDS:.3f}s)")


def test_the_calibration_work_is_the_same_on_every_run() -> None:
    # Rendered without a RenderError (validate raises on a bad activity), and byte for byte alike.
    assert work() == work() > 4 * 1_000 * 300  # four passes of 1,000 events of 300 bytes and up
