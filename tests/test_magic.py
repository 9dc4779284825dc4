"""``%load_ext taskade_frames`` and ``%%taskade`` in a real IPython shell, against the emulator."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import Markdown
from traitlets.config import Config

from taskade_frames import load_agents, load_spaces
from taskade_frames._notebook import use_client
from taskade_frames.magic import AgentReply, frame_to_markdown, interpolate


@pytest.fixture(scope="module")
def _shell():
    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # never touch the user's history database
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "taskade_frames")
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def shell(_shell, client):
    """The shell with a fresh namespace holding ``client``, and the magic's defaults cleared."""
    _shell.reset(new_session=False)
    _shell.user_ns["client"] = client
    magics = _shell.magics_manager.registry["TaskadeMagics"]
    magics.space_id = magics.agent_id = magics.client_name = None
    magics.max_rows = 20
    use_client(None)
    yield _shell
    use_client(None)


@pytest.fixture
def target(client):
    space = load_spaces(client)["id"].iloc[0]
    agent = load_agents(space, client)["id"].iloc[0]
    return space, agent


def run(shell, source):
    """Run a cell as a notebook would; return its value, re-raising what the cell raised."""
    result = shell.run_cell(source)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    if result.error_before_exec is not None:
        raise result.error_before_exec
    return result.result


def last_prompt(emulator) -> str:
    return [r for r in emulator.requests if r["operation"] == "promptAgent"][-1]["body"]["prompt"]


# -- the magic --------------------------------------------------------------------------


def test_load_ext_registers_line_and_cell_magic(shell):
    magics = shell.magics_manager.magics
    assert "taskade" in magics["cell"]
    assert "taskade" in magics["line"]


def test_cell_is_sent_to_the_agent_and_the_reply_is_markdown(shell, emulator, target):
    space, agent = target

    reply = run(
        shell,
        f"%%taskade --space {space} --agent {agent} --client client\nWhat should we ship next?\n",
    )

    assert isinstance(reply, Markdown) and isinstance(reply, AgentReply)
    assert reply.text.startswith("[Emulator canned reply]")
    assert reply._repr_markdown_() == reply.text
    assert repr(reply) == reply.text  # readable in a terminal too
    assert reply.agent_id == agent and reply.space_id == space
    assert last_prompt(emulator) == "What should we ship next?"


def test_dataframes_are_interpolated_as_markdown_tables(shell, emulator, target):
    space, agent = target
    shell.user_ns["overdue"] = pd.DataFrame({"task": ["Ship | beta", "Fix login"], "days": [3, 11]})
    shell.user_ns["team"] = "Platform"

    run(
        shell,
        f"%%taskade -s {space} -a {agent} -c client\n"
        "Team {team}. Which of these first?\n{overdue}\nAnswer in {{bullets}}.",
    )

    sent = last_prompt(emulator)
    assert sent.startswith("Team Platform. Which of these first?")
    assert "| task | days |\n| --- | ---: |\n| Ship \\| beta | 3 |\n| Fix login | 11 |" in sent
    assert sent.endswith("Answer in {bullets}.")


def test_line_magic_sets_defaults_for_later_cells(shell, emulator, target, capsys):
    space, agent = target

    run(shell, f"%taskade --space {space} --agent {agent} --client client --max-rows 2")
    printed = capsys.readouterr().out
    shell.user_ns["big"] = pd.DataFrame({"n": range(50)})
    reply = run(shell, "%%taskade\nSummarise {big}")

    assert agent in printed and space in printed and "client" in printed
    assert reply.agent_id == agent
    assert "_(first 2 of 50 rows)_" in last_prompt(emulator)


def test_dry_run_returns_the_prompt_without_sending(shell, emulator):
    shell.user_ns["df"] = pd.DataFrame({"a": range(30)})

    shown = run(shell, "%%taskade --dry-run --max-rows 3\nLook at {df}")

    assert isinstance(shown, Markdown)
    assert "| a |" in shown.data and "_(first 3 of 30 rows)_" in shown.data
    assert emulator.request_count("promptAgent") == 0


def test_undefined_variable_is_a_usage_error(shell, emulator, target):
    space, agent = target
    with pytest.raises(UsageError, match=r"not defined: missing_frame"):
        run(shell, f"%%taskade -s {space} -a {agent} -c client\nUse {{missing_frame}}")
    assert emulator.request_count("promptAgent") == 0


def test_out_of_credits_is_one_plain_line(shell, emulator, target):
    space, agent = target
    emulator.credits = 0

    with pytest.raises(UsageError, match=r"^Out of credits: .*HTTP 402"):
        run(shell, f"%%taskade -s {space} -a {agent} -c client\nhello")


def test_missing_agent_and_missing_client_are_explained(shell, emulator, monkeypatch, target):
    with pytest.raises(UsageError, match="no agent chosen"):
        run(shell, "%%taskade -c client\nhello")
    shell.user_ns["team"] = "Platform"
    with pytest.raises(UsageError, match="team: a str, not a TaskadeClient"):
        run(shell, "%%taskade -s s -a a -c team\nhello")
    for name in ("TASKADE_API_TOKEN", "TASKADE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    space, agent = target
    with pytest.raises(UsageError, match=r"Not configured: .*emulator.*--client NAME"):
        run(shell, f"%%taskade -s {space} -a {agent}\nhello")


def test_the_session_client_is_used_without_client(shell, emulator, client, target):
    space, agent = target
    use_client(client)  # what a widget's token field does

    reply = run(shell, f"%%taskade -s {space} -a {agent}\nhello")

    assert reply.text.startswith("[Emulator canned reply]")


# -- the pieces -------------------------------------------------------------------------


def test_frame_to_markdown_keeps_tables_compact_and_valid():
    df = pd.DataFrame(
        {
            "text": ["line one\nline two", "a|b", "x" * 100, None],
            "done": pd.array([True, False, None, True], dtype="boolean"),
            "share": [0.123456, 1.0, float("nan"), 2.5],
        }
    )

    table = frame_to_markdown(df, max_cell_chars=20)

    lines = table.splitlines()
    assert lines[0] == "| text | done | share |"
    assert lines[1] == "| --- | --- | ---: |"
    assert lines[2] == "| line one line two | True | 0.1235 |"
    assert lines[3] == "| a\\|b | False | 1 |"
    assert lines[4] == "| " + "x" * 19 + "… |  |  |"
    assert lines[5] == "|  | True | 2.5 |"
    assert len(lines) == 6


def test_frame_to_markdown_truncates_rows_and_columns_and_shows_the_index():
    wide = pd.DataFrame({f"c{i}": range(30) for i in range(15)})
    table = frame_to_markdown(wide, 5)
    assert table.splitlines()[0].count("|") == 13  # 12 columns
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 2 + 5
    assert table.endswith("_(first 5 of 30 rows; first 12 of 15 columns)_")

    by_depth = pd.Series([3, 4], index=pd.Index([0, 1], name="depth"), name="tasks")
    assert frame_to_markdown(by_depth).splitlines()[:3] == [
        "| depth | tasks |",
        "| ---: | ---: |",
        "| 0 | 3 |",
    ]

    empty = frame_to_markdown(pd.DataFrame({"a": []}))
    assert empty.endswith("_(no rows)_")
    with pytest.raises(TypeError):
        frame_to_markdown([1, 2])


def test_interpolate_leaves_literal_braces_and_reads_attributes():
    class Space:
        name = "Acme"

    ns = {"space": Space(), "n": 3}
    text = 'Space {space.name} has {n} projects; reply as {"ok": true} or {{n}}.'
    assert interpolate(text, ns) == 'Space Acme has 3 projects; reply as {"ok": true} or {n}.'
    with pytest.raises(KeyError, match=r"not defined: space\.nope, other"):
        interpolate("{space.nope} {other} {other}", ns)


def test_the_suite_runs_inside_someone_elses_virtualenv(_shell, monkeypatch, tmp_path):
    """IPython warns when VIRTUAL_ENV names another venv; the README's test command is often
    run from inside one, so pytest's warnings-as-errors must let exactly that warning pass."""
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "someone-elses-venv"))
    with pytest.warns(UserWarning, match="Attempting to work in a virtualenv"):
        _shell.init_virtualenv()
    _shell.init_virtualenv()  # outside pytest.warns: raises if the filter is missing


# -- history ----------------------------------------------------------------------------


def test_out_keeps_every_exchange_not_only_the_last(shell, emulator, target):
    from taskade_frames import prompt_history
    from taskade_frames.history import HISTORY_COLUMNS

    space, agent = target
    cell = f"%%taskade -s {space} -a {agent} -c client --out answers\n"
    first = run(shell, cell + "first question")
    run(shell, cell + "second question")
    emulator.credits = 0
    with pytest.raises(UsageError, match="Out of credits"):
        run(shell, cell + "third question")

    answers = shell.user_ns["answers"]
    assert list(answers.columns) == list(HISTORY_COLUMNS)
    assert answers["prompt"].tolist() == ["first question", "second question", "third question"]
    assert answers["reply"].iloc[0] == first.text
    assert answers["error"].iloc[2].startswith("Out of credits")
    assert first.latency_s >= 0 and first.result.ok
    # The session history holds them too, with every other way of prompting.
    assert prompt_history()["prompt"].tolist()[-3:] == answers["prompt"].tolist()
