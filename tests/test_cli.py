"""The ``taskade-frames`` command as a Unix tool, against the emulator over loopback.

Most tests call ``cli.main([...])`` in-process and read what it printed; the
broken pipe and Ctrl-C cases run the real command in a child process, since
only there do a closed pipe and a SIGINT behave as they do in a shell.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys

import pandas as pd
import pytest

import taskade_frames
from taskade_frames import TaskadeClient, cli
from taskade_frames.cli import EXIT_CODES, build_parser, main
from taskade_frames.emulator import sample_workspace
from taskade_frames.loaders import load_projects, load_spaces, load_tasks

from .conftest import FAKE_TOKEN

CHILD_TIMEOUT = 120


@pytest.fixture
def env(emulator, monkeypatch):
    """A token and URL in the environment, as a scheduled run has them: the emulator's."""
    monkeypatch.setenv("TASKADE_API_URL", emulator.base_url)
    monkeypatch.setenv("TASKADE_API_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("TASKADE_TOKEN", raising=False)
    return emulator


@pytest.fixture
def client(env):
    with TaskadeClient(FAKE_TOKEN, base_url=env.base_url) as c:
        yield c


def project_named(emulator, name: str) -> str:
    return next(p.id for p in emulator.workspace.projects.values() if p.name == name)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKADE_")}
    env.update(extra)
    return env


# -- version, help, exit codes --------------------------------------------------------------


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])

    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"taskade-frames {taskade_frames.__version__}"


def test_help_lists_every_exit_code():
    text = build_parser().format_help()

    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning[:30])}", text, re.M), code
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 6
    assert {0, 1, 3} <= set(EXIT_CODES) and "partial" in EXIT_CODES[3]


# -- listings: --limit, --format, --output ---------------------------------------------------


def test_limit_prints_that_many_tasks_of_a_thousand(env, capsys):
    backlog = project_named(env, "Bug Triage Backlog")

    code = main(["tasks", "--project", backlog, "--limit", "5"])

    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("[x]", "[ ]"))]
    assert code == 0 and len(rows) == 5
    assert "5 of 1000 tasks shown" in out


def test_tasks_print_as_a_left_aligned_indented_outline(env, client, capsys):
    roadmap = project_named(env, "Q3 Product Roadmap")
    tasks = load_tasks(roadmap, client)

    assert main(["tasks", "--project", roadmap]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "done  share  task"
    rows = lines[1 : 1 + len(tasks)]
    assert len(rows) == len(tasks) == 30
    text_column = len("[ ]   100%  ")  # mark, share right-aligned in 5, then the outline
    for row, depth, text, done in zip(
        rows, tasks["depth"], tasks["text"], tasks["completed"], strict=True
    ):
        assert row.startswith("[x]" if done else "[ ]")
        assert row[text_column:] == "  " * int(depth) + text, row
    assert tasks["depth"].max() >= 3  # the outline really is nested


def test_formats_for_scripts_carry_the_loaders_frames(env, client, capsys, tmp_path):
    space = load_spaces(client)["id"].iloc[0]
    projects = load_projects(space, client)

    assert main(["projects", "--space", space, "--format", "csv"]) == 0
    from_csv = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert main(["projects", "--space", space, "--format", "json"]) == 0
    from_json = json.loads(capsys.readouterr().out)
    target = tmp_path / "projects.parquet"
    assert main(["projects", "--space", space, "--format", "parquet", "-o", str(target)]) == 0

    assert capsys.readouterr().out == ""  # the data went to the file, nothing else
    assert from_csv.to_dict("records") == projects.astype(object).to_dict("records")
    assert from_json == projects.astype(object).to_dict("records")
    # pandas before 2.3 reads Arrow strings back as its own string dtype: compare as declared.
    pd.testing.assert_frame_equal(pd.read_parquet(target).astype(projects.dtypes), projects)
    assert not [p for p in tmp_path.iterdir() if p.name != "projects.parquet"]  # no leftovers


def test_limit_applies_to_every_format(env, capsys):
    backlog = project_named(env, "Bug Triage Backlog")

    assert main(["tasks", "--project", backlog, "--format", "json", "--limit", "7"]) == 0

    out = capsys.readouterr().out
    assert len(json.loads(out)) == 7  # and no footer mixed into the data


def test_parquet_goes_to_a_redirected_stdout(env, capfdbinary):
    assert main(["spaces", "--format", "parquet"]) == 0

    data = capfdbinary.readouterr().out
    assert data.startswith(b"PAR1") and data.endswith(b"PAR1")
    assert pd.read_parquet(io.BytesIO(data))["name"].tolist() == ["Acme Product", "Personal"]


def test_parquet_is_never_written_to_a_terminal(env, monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    code = main(["spaces", "--format", "parquet"])

    captured = capsys.readouterr()
    assert code == 2 and "--output FILE" in captured.err and captured.out == ""


def test_unknown_format_and_negative_limit_are_usage_errors(capsys):
    for argv in (["spaces", "--format", "xml"], ["spaces", "--limit", "-1"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- the demo, the emulator, exit codes --------------------------------------------------------


def test_the_demo_gets_its_plurals_right(monkeypatch, capsys):
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL"):
        monkeypatch.delenv(name, raising=False)

    code = main(["demo", "--quiet"])

    out = capsys.readouterr().out
    assert code == 0
    assert "3 projects, 39 tasks, 1 agent, 5 memberships, 0 errors" in out
    assert not re.search(r"\b1 (agents|projects|tasks|errors|spaces)\b", out)


def test_the_emulator_command_has_every_option_of_the_emulator():
    from taskade_frames.emulator._main import _parser

    def options(parser):
        return {s for a in parser._actions for s in a.option_strings}

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["emulator"]
    assert options(sub) == options(_parser())
    for flag in (
        "--latency",
        "--rate-limit",
        "--page-cap",
        "--scope",
        "--errors",
        "--clamp-pages",
        "--advance-days",
        "--advance-every",
    ):
        assert flag in options(sub)


def test_advance_days_changes_what_the_emulator_serves(monkeypatch, capsys):
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN", "TASKADE_API_URL"):
        monkeypatch.delenv(name, raising=False)
    backlog = next(
        p.id for p in sample_workspace().projects.values() if p.name == "Bug Triage Backlog"
    )

    counts = []
    for days in ("0", "3"):
        assert (
            main(
                [
                    "tasks",
                    "--emulator",
                    "--advance-days",
                    days,
                    "--project",
                    backlog,
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        tasks = json.loads(capsys.readouterr().out)
        counts.append(sum(t["completed"] for t in tasks))
    assert counts[1] > counts[0] == 519


def test_advance_days_needs_the_emulator(env, capsys):
    code = main(["spaces", "--advance-days", "2"])

    assert code == 2 and "--emulator" in capsys.readouterr().err


def test_a_partial_export_exits_3_and_says_so(env, tmp_path, capsys):
    env.forbidden = {project_named(env, "Trip to Lisbon")}
    space = env.workspace.projects[project_named(env, "Trip to Lisbon")].space_id

    code = main(["export", "--space", space, "--out", str(tmp_path), "--quiet"])

    captured = capsys.readouterr()
    assert code == cli.EXIT_PARTIAL == 3
    assert "errors: 4" in captured.out and "partial" in captured.err


def test_a_failed_listing_exits_1(env, capsys):
    code = main(["tasks", "--project", "NoSuchProject000"])

    assert code == 1 and "error:" in capsys.readouterr().err


# -- real processes: a closed pipe and Ctrl-C ----------------------------------------------------


def test_a_closed_pipe_ends_quietly():
    # The reader goes away before the demo writes (as `| head -3` does once it has its
    # lines): however large the pipe's buffer, the write then meets a closed pipe.
    argv = [sys.executable, "-m", "taskade_frames", "demo", "--quiet"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
    ) as proc:
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(CHILD_TIMEOUT)

    assert code == cli.EXIT_BROKEN_PIPE, err
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_ctrl_c_exits_130_without_a_traceback():
    # A server that accepts and never answers: the child is surely inside a request
    # when the signal comes, and the test knows when that is without any timing.
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(CHILD_TIMEOUT)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/api/v2"
        env = child_env(TASKADE_API_TOKEN=FAKE_TOKEN, TASKADE_API_URL=url)
        with subprocess.Popen(
            [sys.executable, "-m", "taskade_frames", "spaces"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        ) as proc:
            conn, _ = server.accept()
            with conn:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=CHILD_TIMEOUT)

    assert proc.returncode == cli.EXIT_INTERRUPTED == 130, err
    assert b"Traceback" not in err and b"interrupted" in err
    assert FAKE_TOKEN.encode() not in out + err


# -- pure pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "text"), [(0, "0 agents"), (1, "1 agent"), (2, "2 agents")])
def test_plurals(n, text):
    assert cli._plural(n, "agent") == text


def test_tables_align_numbers_right_and_text_left():
    df = pd.DataFrame({"name": ["a", "longer name", None], "tasks": [5, 1000, 7]})
    df["name"] = df["name"].astype("string")
    df["tasks"] = df["tasks"].astype("Int64")

    lines = cli._table(df).splitlines()

    assert lines == [
        "name         tasks",
        "a                5",
        "longer name   1000",
        "                 7",
    ]
    assert cli._table(df.iloc[0:0]) == "(none)"


def test_an_unwritable_output_file_fails_with_exit_1_and_leaves_nothing(env, tmp_path, capsys):
    target = tmp_path / "missing-folder" / "spaces.csv"

    code = main(["spaces", "--format", "csv", "--output", str(target)])

    err = capsys.readouterr().err
    assert code == 1 and f"error: cannot write {target}: no folder {target.parent}" in err
    assert "partial" not in err  # the temporary file's name is ours, not the user's business
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_folder_is_a_usage_error_and_writes_nothing(env, tmp_path, capsys):
    folder = tmp_path / "reports"
    folder.mkdir()

    code = main(["spaces", "--format", "csv", "--output", str(folder)])

    err = capsys.readouterr().err
    # was: a temporary file written next to the folder, then "[Errno 21] Is a directory"
    assert code == 2 and f"--output {folder} is a folder: name a file in it" in err
    assert [p.name for p in tmp_path.iterdir()] == ["reports"] and not any(folder.iterdir())


@pytest.mark.parametrize("extra", [["--keep-last", "1"], ["--older-than", "30d"], ["--dry-run"]])
def test_prune_options_on_snapshots_list_are_a_usage_error(extra, tmp_path, capsys):
    # was: silently ignored, so "list --keep-last 1" looked like a preview of a prune
    code = main(["snapshots", "list", "--out", str(tmp_path), *extra])

    assert code == 2 and "go with prune" in capsys.readouterr().err
