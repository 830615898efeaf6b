"""`sitelens autoscale simulate` and `traces`: the JSON object, the table, the PNG, and exit 2 with the
reason for invalid options and traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscale.traces import REFERENCES, read_trace
from sitelens.cli import main

ROOT = Path(__file__).resolve().parents[3]
DEPLOYED = str(ROOT / "infra" / "autoscale.formula")
COMMITTED = ROOT / "benchmarks" / "traces"


def sitelens(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["autoscale", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trace(tmp_path: Path):
    def write(text: str) -> str:
        path = tmp_path / "trace.csv"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_json_has_every_figure_and_they_agree_with_each_other(capsys, trace):
    path = trace("t,site\n100,a\n130,b\n7000,a\n")
    code, out, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--json", "--boot", "600")
    assert code == 0 and err == ""
    result = json.loads(out)
    for key in ("photos", "node_hours", "oracle_node_hours", "ratio", "idle_node_hours", "peak_nodes", "evaluations",
                "boot_s", "interval_s", "time_to_result_s", "oracle_time_to_result_s"):  # fmt: skip
        assert key in result, key
    assert result["photos"] == 3 and result["boot_s"] == 600 and result["interval_s"] == 300
    assert result["ratio"] == pytest.approx(result["node_hours"] / result["oracle_node_hours"], abs=0.01)
    assert set(result["time_to_result_s"]) == {"p50", "p95", "max"}
    # the first photo waits for an evaluation and a 600 s boot; the oracle's wait only their service time
    assert result["time_to_result_s"]["max"] >= 600
    assert result["oracle_time_to_result_s"]["max"] == pytest.approx(4 / 2.04, abs=0.01)


def test_the_kick_and_a_param_change_the_run(capsys, trace):
    path = trace("t\n100\n")
    plain = json.loads(sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--json")[1])
    kicked = json.loads(sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--json", "--kick")[1])
    assert kicked["kicks"] == 1 and plain["kicks"] == 0
    assert kicked["time_to_result_s"]["max"] < plain["time_to_result_s"]["max"]
    floor = json.loads(sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--json", "--param",
                                "minNodesAtWork=1", "--start", "2026-01-09T10:00:00Z")[1])  # fmt: skip
    # from Friday 10:00 a node is kept until 18:00 (8 node-hours; none on Saturday); it boots at once
    assert floor["node_hours"] == pytest.approx(8.0, abs=0.01)
    assert floor["time_to_result_s"]["max"] < plain["time_to_result_s"]["max"]


def test_the_table_and_the_plot(capsys, trace, tmp_path):
    path = trace("t\n0\n10\n20\n")
    png = tmp_path / "out" / "run.png"
    code, out, _ = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--plot", str(png))
    assert code == 0
    assert out.splitlines()[0].split() == ["formula", "oracle"]
    assert "node-hours" in out and "time to result p95" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("site\na\n", "line 1: the header must name a column 't'"),
        ("t\n10\nten\n", "line 3: t must be a number of seconds, not 'ten'"),
        ("t\n-5\n", "line 2: t must be a finite number"),
        ("t\ninf\n", "line 2: t must be a finite number"),
        ("", "line 1: the header"),
    ],
)
def test_a_malformed_trace_exits_2_with_the_line(capsys, trace, text, reason):
    code, out, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", trace(text))
    assert (code, out) == (2, "")
    assert reason in err


def test_unreadable_files_and_unknown_knobs_exit_2(capsys, trace, tmp_path):
    path = trace("t\n1\n")
    code, _, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv" in err
    code, _, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--param", "cap=3")
    assert code == 2 and "not a knob of this formula: cap" in err
    code, _, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", path, "--param", "maxNodes")
    assert code == 2 and "expected NAME=NUMBER" in err


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--interval", "299"], "must be at least 300"),
        (["--interval", "abc"], "not a number"),
        (["--boot", "-1"], "must be at least 0"),
        (["--slots", "0"], "must be at least 1"),
        (["--service-time", "0"], "must be above 0"),
        (["--service-time", "2", "--photos-per-node-s", "3"], "not allowed with argument"),
        (["--start", "monday"], "not an ISO 8601 time"),
    ],
)
def test_invalid_options_exit_2_with_the_reason(capsys, trace, options, reason):
    with pytest.raises(SystemExit) as exited:
        main(["autoscale", "simulate", "--formula", DEPLOYED, "--trace", trace("t\n1\n"), *options])
    assert exited.value.code == 2
    assert reason in capsys.readouterr().err


def test_a_fractional_slot_count_exits_2(capsys, trace):
    code, _, err = sitelens(capsys, "simulate", "--formula", DEPLOYED, "--trace", trace("t\n1\n"), "--slots", "1.5")
    assert code == 2 and "whole number" in err


def test_a_formula_that_does_not_parse_exits_1_with_azures_error(capsys, trace, tmp_path):
    bad = tmp_path / "bad.formula"
    bad.write_text("$TargetDedicatedNodes = ;", encoding="utf-8")
    code, out, _ = sitelens(capsys, "simulate", "--formula", str(bad), "--trace", trace("t\n1\n"))
    assert code == 1 and json.loads(out)["code"] == "AutoScalingFormulaSyntaxError"


def test_the_committed_reference_traces_are_what_the_seeded_generator_writes(capsys, tmp_path):
    code, out, _ = sitelens(capsys, "traces", "--out", str(tmp_path), "--seed", "1")
    assert code == 0 and len(out.splitlines()) == len(REFERENCES)
    committed = sorted(COMMITTED.glob("*.csv"))
    assert committed, "benchmarks/traces/ holds the small reference traces"
    for path in committed:
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name
    assert len(read_trace(tmp_path / "month-end.csv")) == 36_300
