"""The ``sessionful`` command line: every command's happy path and its errors, in process
(typer's CliRunner) and as real subprocesses of the installed console script; its reference in
docs/cli.md; the example configuration file there."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sessionful import ChatMessage, SessionKey
from sessionful.cli._output import parse_age
from sessionful.cli.app import app
from sessionful.cli.info import masked
from sessionful.service.config import ConfigFileError, Settings, load_settings
from sessionful.stores import SQLiteStore, TurnWrite
from support import load_file

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "sessionful"
DAY = 86_400.0


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in an empty directory, with no SESSIONFUL_* variable set."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SESSIONFUL_"):
            monkeypatch.delenv(name)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: ours without SESSIONFUL_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONFUL_")}
    return {**env, **extra}


def invoke(*args: str, input: str | None = None, **env: str) -> Result:
    result = CliRunner().invoke(app, list(args), input=input, env=env or None)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a bug: show it
    return result


def run(
    *args: str, cwd: Path, input: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real console script, as a user runs it."""
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        check=False,
    )


def one_red_line(stderr: str) -> str:
    """The single line of an error report (and nothing that looks like a traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ")
    return lines[0]


STUB_CONFIG = """\
store = "sqlite:///{db}"

[[agents]]
id = "echo-bot"
framework = "stub"
template_id = "echo"

[[agents]]
id = "customer-service-bot"
template_id = "tool-agent"
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def config(tmp_path: Path, db: Path) -> Path:
    """A configuration with a stub agent (fast) and the LangGraph one, on ``db``."""
    path = tmp_path / "sessionful.toml"
    path.write_text(STUB_CONFIG.format(db=db), encoding="utf-8")
    return path


def populate(db: Path, sessions: Sequence[tuple[str | None, str, str, float]]) -> None:
    """Store one turn for each ``(principal, agent, session, last activity)``."""

    async def write() -> None:
        store = SQLiteStore(db)
        await store.open()
        try:
            for principal, agent, session, at in sessions:
                key = SessionKey(agent, session, principal)
                lease, _ = await store.claim(key, "test", "echo", "1", at)
                messages = [ChatMessage.user("hi"), ChatMessage.assistant("echo #1: hi")]
                await store.append_turn(lease, TurnWrite(1, messages, at, 0.004))
        finally:
            await store.aclose()

    asyncio.run(write())


def stored(db: Path) -> list[str]:
    async def read() -> list[str]:
        store = SQLiteStore(db)
        await store.open()
        try:
            return [str(r.key) for r in await store.list_sessions(limit=1000)]
        finally:
            await store.aclose()

    return asyncio.run(read())


# -- the application ------------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("demo", "chat", "serve", "sessions", "plugins", "config"):
        assert command in result.stdout
    sessions = invoke("sessions", "--help")
    for command in ("list", "show", "end", "cleanup"):
        assert command in sessions.stdout


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == "sessionful 0.1.0"


def test_the_console_script_is_installed_and_reports_a_bad_file_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.toml").write_text(
        'strategy = "persisted"\n\n[lifecycle]\nidle_timeout = -5\n', encoding="utf-8"
    )
    done = run("--config", "bad.toml", "sessions", "list", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    line = one_red_line(done.stderr)
    assert line == "error: bad.toml:4: lifecycle.idle_timeout: Input should be greater than 0"


# -- configuration errors: one red line, exit 2 --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[agents]]\nid = "a"\ntemplate_id = "chat"\n\n[[agents]]\nid = "b"\n'
            'template_id = "chat"\nbogus = 1\n',
            "error: bad.toml:8: agents.1.bogus: Extra inputs are not permitted",
        ),
        ("strategy = \n", "error: bad.toml:1: not valid TOML"),
        (
            '[auth]\napi_keys = { "short" = "tenant-a" }\n',
            "error: bad.toml:2: auth.api_keys: Value error, every API key must be at least 16",
        ),
        ('overlap = "sometimes"\n', "error: bad.toml:1: overlap: Input should be 'enqueue'"),
    ],
    ids=["unknown-key", "toml-syntax", "short-api-key", "bad-literal"],
)
def test_a_wrong_file_names_its_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    for args in (["config"], ["sessions", "list"], ["chat", "--agent", "a"], ["serve"]):
        result = invoke("--config", "bad.toml", *args)
        assert result.exit_code == 2, (args, result.output)
        assert one_red_line(result.stderr).startswith(expected)


def test_the_file_comes_from_the_option_the_variable_or_the_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "sessionful.toml").write_text('strategy = "shared"\n', encoding="utf-8")
    (tmp_path / "other.toml").write_text('strategy = "per_session"\n', encoding="utf-8")
    assert json.loads(invoke("config").stdout)["strategy"] == "shared"
    via_env = invoke("config", SESSIONFUL_CONFIG="other.toml")
    assert json.loads(via_env.stdout)["strategy"] == "per_session"
    assert "configuration: other.toml" in via_env.stderr
    assert json.loads(invoke("-c", "other.toml", "config").stdout)["strategy"] == "per_session"


def test_a_missing_file_and_a_wrong_variable(tmp_path: Path) -> None:
    missing = invoke("--config", "nowhere.toml", "config")
    assert missing.exit_code == 2
    assert one_red_line(missing.stderr) == (
        "error: nowhere.toml: cannot read it: No such file or directory"
    )
    wrong = invoke("config", SESSIONFUL_LIFECYCLE__IDLE_TIMEOUT="-1")
    assert wrong.exit_code == 2
    assert one_red_line(wrong.stderr) == (
        "error: environment: SESSIONFUL_LIFECYCLE__IDLE_TIMEOUT (lifecycle.idle_timeout): "
        "Input should be greater than 0"
    )


def test_a_wrong_variable_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    (tmp_path / "sessionful.toml").write_text("[server]\ngraceful_timeout = 5\n")
    result = invoke("config", SESSIONFUL_SERVER__GRACEFUL_TIMEOUT="soon")
    assert result.exit_code == 2
    line = one_red_line(result.stderr)
    assert line.startswith("error: environment: SESSIONFUL_SERVER__GRACEFUL_TIMEOUT"), line
    assert "sessionful.toml" not in line


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "SESSIONFUL_SERVER__GRACEFUL_TIMEOUT",
            "inf",
            "error: environment: SESSIONFUL_SERVER__GRACEFUL_TIMEOUT (server.graceful_timeout): "
            "Input should be a finite number",
        ),
        (
            "SESSIONFUL_AUTH__API_KEYS",
            "{not json",
            "error: environment: SESSIONFUL_AUTH__API_KEYS: not valid JSON",
        ),
        (
            "SESSIONFUL_AUTH__API_KEYS",
            '{"short": "alice"}',
            "error: environment: SESSIONFUL_AUTH__API_KEYS (auth.api_keys): Value error, every "
            "API key must be at least 16 characters long",
        ),
    ],
)
def test_a_bad_variable_is_one_clean_line(variable: str, value: str, expected: str) -> None:
    for command in (["config"], ["serve"]):
        result = invoke(*command, **{variable: value})
        assert result.exit_code == 2
        assert one_red_line(result.stderr).startswith(expected)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SESSIONFUL_STRATEGY", "nope", "error: unknown strategy 'nope'"),
        ("SESSIONFUL_STORE", "redis://x", "error: unknown store scheme 'redis'"),
    ],
)
def test_config_exits_2_on_an_unknown_strategy_or_store(
    variable: str, value: str, expected: str
) -> None:
    result = invoke("config", **{variable: value})
    assert result.exit_code == 2
    assert one_red_line(result.stderr).startswith(expected)
    assert not result.stdout


def test_environment_overrides_the_file(config: Path) -> None:
    result = invoke(
        "-c", str(config), "config",
        SESSIONFUL_LIFECYCLE__RETENTION="3600", SESSIONFUL_LOAD_PLUGINS="stub",
    )  # fmt: skip
    assert json.loads(result.stdout)["lifecycle"]["retention"] == 3600.0
    assert result.stderr.strip().endswith(
        "sessionful.toml; overridden by SESSIONFUL_LIFECYCLE__RETENTION"
    )  # not by SESSIONFUL_LOAD_PLUGINS, which is no setting


# -- config ---------------------------------------------------------------------------------------


def test_config_without_a_file_is_the_embedded_default() -> None:
    result = invoke("config")
    assert result.exit_code == 0
    assert "built-in defaults (no file)" in result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "persisted"
    assert data["store"] == "sqlite:///.sessionful/sessions.db"
    assert [(a["id"], a["framework"], a["template_id"]) for a in data["agents"]] == [
        ("customer-service-bot", "langgraph", "tool-agent")
    ]


def test_config_masks_keys_and_secrets(tmp_path: Path) -> None:
    (tmp_path / "sessionful.toml").write_text(
        'store = "postgresql://app:hunter2-password@db.internal:5432/sessions"\n'
        "[framework_settings.langgraph]\nrecursion_limit = 5\n"
        "[[agents]]\nid = 'bot'\ntemplate_id = 'tool-agent'\n"
        "configuration = { api_key = 'sk-live-very-secret', model = 'offline' }\n"
        "[auth]\napi_keys = { 'tenant-a-key-0123456789' = 'tenant-a', "
        "'tenant-a-key-9876543210' = 'tenant-a2' }\n",
        encoding="utf-8",
    )
    result = invoke("config")
    assert result.exit_code == 0
    for secret in ("hunter2", "0123456789", "9876543210", "sk-live"):
        assert secret not in result.stdout
    data = json.loads(result.stdout)
    assert data["store"] == "postgresql://app:***@db.internal:5432/sessions"
    assert sorted(data["auth"]["api_keys"].values()) == ["tenant-a", "tenant-a2"]
    assert data["agents"][0]["configuration"] == {"api_key": "***", "model": "offline"}


def test_masked_keeps_everything_else() -> None:
    settings = Settings()
    assert masked(settings) == settings.model_dump(mode="json")


# -- chat -----------------------------------------------------------------------------------------


def session_of(output: str) -> str:
    found = re.search(r"^session (\S+): (new|continuing)", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def test_chat_remembers_across_two_runs_of_the_command(tmp_path: Path) -> None:
    """Two real processes, no configuration file: the default agent on the default SQLite
    store in the working directory."""
    first = run(
        "chat", "--agent", "customer-service-bot", cwd=tmp_path, input="Hello, my name is Ada\n"
    )
    assert first.returncode == 0, first.stderr
    session = session_of(first.stdout)
    assert "agent: Nice to meet you, Ada." in first.stdout
    assert f"continue with: sessionful chat --agent customer-service-bot --session {session}" in (
        first.stdout
    )
    assert (tmp_path / ".sessionful" / "sessions.db").is_file()

    second = run(
        "chat", "--agent", "customer-service-bot", "--session", session,
        cwd=tmp_path, input="What is my name?\n",
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"session {session}: continuing (1 turn so far)" in second.stdout
    assert "agent: Your name is Ada." in second.stdout


def test_chat_streams_tool_calls_and_stops_at_exit(config: Path, db: Path) -> None:
    result = invoke(
        "-c", str(config), "chat", "-a", "customer-service-bot", "-s", "s1",
        input="What's my order status?\n/exit\nnever read\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:5] == [
        "session s1: new",
        "you: What's my order status?",
        "agent: (calls order_status({'order_id': 'latest'})) ",
        "  tool: order A-1001 has shipped and arrives on Friday",
        "agent: Your order status: order A-1001 has shipped and arrives on Friday",
    ]
    assert "never read" not in result.stdout
    assert stored(db) == ["customer-service-bot#s1"]


def test_chat_keeps_principals_apart(config: Path) -> None:
    invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s", "-p", "tenant-a", input="a\n")
    other = invoke(
        "-c", str(config), "chat", "-a", "echo-bot", "-s", "s", "-p", "tenant-b", input="b\n"
    )
    assert "session s: new" in other.stdout and "echo #1: b" in other.stdout
    again = invoke(
        "-c", str(config), "chat", "-a", "echo-bot", "-s", "s", "-p", "tenant-a", input="c\n"
    )
    assert "continuing (1 turn so far)" in again.stdout and "echo #2: c" in again.stdout


def test_chat_reports_a_failing_turn_goes_on_and_exits_1(config: Path) -> None:
    result = invoke("-c", str(config), "chat", "-a", "echo-bot", input="hi\nboom !fail\nagain\n")
    assert result.exit_code == 1
    assert "echo #1: hi" in result.stdout and "echo #2: again" in result.stdout
    assert one_red_line(result.stderr).startswith("error: the turn failed: StubFault(")


def test_chat_after_a_failed_first_turn_saves_nothing(config: Path, db: Path) -> None:
    result = invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s1", input="!fail\n")
    assert result.exit_code == 1
    assert "saved;" not in result.stdout
    assert "session s1 not saved: no turn completed" in result.stdout
    assert stored(db) == []
    # A session that had turns is saved even when the latest one failed.
    invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s2", input="hi\n")
    again = invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s2", input="!fail\n")
    assert "session s2 saved; continue with" in again.stdout
    assert stored(db) == ["echo-bot#s2"]


def test_chat_shows_the_question_and_sends_the_answer_as_the_resume(config: Path, db: Path) -> None:
    result = invoke(
        "-c", str(config), "chat", "-a", "echo-bot", "-s", "s1", input="ask: refund $20?\nyes\n"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "session s1: new",
        "you: ask: refund $20?",
        "agent asks: refund $20?",
        "answer: yes",
        "agent: answered: yes",
    ], result.stdout


def test_an_interrupt_waits_across_runs_and_sessions_show_lists_it(config: Path, db: Path) -> None:
    first = invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s1", input="ask: ok?\n")
    assert first.exit_code == 0, first.output
    shown = invoke("-c", str(config), "sessions", "show", "echo-bot", "s1")
    assert shown.exit_code == 0, shown.output
    assert re.search(r"tokens +2 in, 0 out *\n", shown.stdout), shown.stdout
    assert re.search(r"interrupts +1 pending *\n", shown.stdout), shown.stdout
    assert re.search(r"\n  ask-1: ok\?\n", shown.stdout), shown.stdout
    second = invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "s1", input="sure\n")
    assert second.exit_code == 0, second.output
    assert "agent asks: ok?" in second.stdout and "agent: answered: sure" in second.stdout
    shown = invoke("-c", str(config), "sessions", "show", "echo-bot", "s1")
    assert re.search(r"interrupts +none *\n", shown.stdout), shown.stdout
    assert re.search(r"tokens +2 in, 2 out *\n", shown.stdout), shown.stdout


def test_chat_leaves_at_the_first_ctrl_c_at_the_prompt(tmp_path: Path, config: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(BIN), "-c", str(config), "chat", "-a", "echo-bot", "-s", "s1"],
        cwd=tmp_path,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    os.close(follower)
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"you>" not in seen:  # the prompt goes to stdout, a pipe: wait for the note
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
            seen = b"you>" if _prompting(process) else b""
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "session s1" in out.decode()
    assert "Traceback" not in err.decode()


def _prompting(process: subprocess.Popen[bytes]) -> bool:
    """Whether the chat process waits at its prompt (blocked reading its terminal)."""
    try:
        wchan = Path(f"/proc/{process.pid}/wchan").read_text()
        stat = Path(f"/proc/{process.pid}/stat").read_text().split()
    except OSError:
        return False
    return stat[2] == "S" and ("tty" in wchan or "wait_woken" in wchan or "n_tty" in wchan)


def test_chat_with_an_unknown_agent(config: Path) -> None:
    result = invoke("-c", str(config), "chat", "--agent", "nope", input="hi\n")
    assert result.exit_code == 2
    assert one_red_line(result.stderr) == (
        "error: unknown agent 'nope'; configured agents: 'echo-bot', 'customer-service-bot'"
    )


def test_chat_with_an_invalid_session_id(config: Path) -> None:
    result = invoke("-c", str(config), "chat", "-a", "echo-bot", "-s", "a" * 300, input="hi\n")
    assert result.exit_code == 2
    assert one_red_line(result.stderr).startswith("error: invalid session_id")


def test_chat_without_a_store_says_it_forgets(config: Path) -> None:
    result = invoke(
        "-c", str(config), "chat", "-a", "echo-bot", input="hi\n",
        SESSIONFUL_STRATEGY="per_session",
    )  # fmt: skip
    assert result.exit_code == 0
    assert "forgotten when the command ends" in result.stderr
    assert "echo #1: hi" in result.stdout


# -- demo -----------------------------------------------------------------------------------------


def test_demo_restores_both_sessions_and_shows_the_analytics(tmp_path: Path, config: Path) -> None:
    done = run("demo", "--db", "demo.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    for line in (
        "[session-ada  created] user: Hello, my name is Ada",
        "[session-bob  created] user: Hi, my name is Bob",
        "agent calls order_status({'order_id': 'latest'})",
        "agent calls refund({'order_id': 'A-1001', 'amount': 20.0})",
        "interrupted: asks 'Refund $20.00 on order A-1001?'",
        "agent: Refund: refund of $20.00 on order A-1001 approved and issued",
        "chunks: Your  | name  | is  | Ada.",
        "graphs compiled: 1 for 2 sessions",
        "== Restart: a new manager on the same SQLite file",
        "[session-bob restored] user: What is my name?",
        "[session-ada restored] user: What is my name?",
        "restored from SQLite: session-ada, session-bob",
        "customer-service-bot: sessions after the restart",
        "end_session(session-bob) deleted {'sessions': 1, 'messages': 6, ",  # + what LangGraph kept
        "demo finished",
    ):
        assert line in out, f"{line!r} not in:\n{out}"
    assert out.count("Your name is Bob.") == 2 and out.count("Your name is Ada.") == 1
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if (cells := [c.strip() for c in line.strip("│┃ ").split("│")]) and len(cells) > 2
    }
    assert rows["session-bob"][:3] == ["restored", "3", "6"]
    assert rows["session-ada"][:3] == ["restored", "7", "16"]  # with the approved refund
    assert rows["restored"] == ["0", "2"] and rows["created"] == ["2", "0"]
    # what the demo left in its SQLite file, seen by the sessions commands
    (tmp_path / "demo.toml").write_text(f'store = "sqlite:///{tmp_path / "demo.db"}"\n')
    listed = invoke("-c", "demo.toml", "sessions", "list")
    assert "session-ada" in listed.stdout and "session-bob" not in listed.stdout


# -- sessions -------------------------------------------------------------------------------------


@pytest.fixture
def filled(db: Path) -> Iterator[Path]:
    now = time.time()
    populate(
        db,
        [
            (None, "echo-bot", "s1", now - 10),
            ("tenant-a", "echo-bot", "s2", now - 5),
            ("tenant-a", "customer-service-bot", "s3", now - 3),
            ("tenant-b", "echo-bot", "s4", now - 1),
        ],
    )
    yield db


KEYS = {
    "s1": "echo-bot#s1",
    "s2": "tenant-a|echo-bot#s2",
    "s3": "tenant-a|customer-service-bot#s3",
    "s4": "tenant-b|echo-bot#s4",
}
"""The keys of the ``filled`` sessions, as ``sessions list`` prints them."""


def test_sessions_list_filters_and_pages(config: Path, filled: Path) -> None:
    everything = invoke("-c", str(config), "sessions", "list")
    assert everything.exit_code == 0
    for key in KEYS.values():
        assert f"│ {key} " in everything.stdout
    assert "more:" not in everything.stdout

    mine = invoke(
        "-c", str(config), "sessions", "list", "--principal", "tenant-a", "--agent", "echo-bot"
    )
    assert f"│ {KEYS['s2']} " in mine.stdout
    assert all(f"#{s} " not in mine.stdout for s in ("s1", "s3", "s4"))

    seen: list[str] = []
    args = ["sessions", "list", "--limit", "3"]
    for _ in range(3):
        page = invoke("-c", str(config), *args)
        seen += re.findall(r"#(s\d) ", page.stdout)
        more = re.search(r"^more: (.*)$", page.stdout, re.MULTILINE)
        if more is None:
            break
        args = shlex.split(more.group(1))[1:]
    assert sorted(seen) == ["s1", "s2", "s3", "s4"] and len(seen) == 4


def test_sessions_list_on_no_store_creates_nothing(config: Path, db: Path) -> None:
    result = invoke("-c", str(config), "sessions", "list")
    assert result.exit_code == 0
    # An empty listing names the store it looked in.
    assert result.stdout.strip() == f"no stored sessions in sqlite:///{db}"
    assert not db.exists()


def test_show_and_end_take_the_key_that_list_prints(config: Path, filled: Path) -> None:
    listed = invoke("-c", str(config), "sessions", "list").stdout
    key = re.search(r"│ (tenant-a\|echo-bot#s2) ", listed)
    assert key is not None, listed
    shown = invoke("-c", str(config), "sessions", "show", key.group(1))
    assert shown.exit_code == 0, shown.output
    assert "tenant-a|echo-bot#s2" in shown.stdout and re.search(
        r"principal +tenant-a", shown.stdout
    )
    wrong = invoke("-c", str(config), "sessions", "show", key.group(1), "-p", "tenant-b")
    assert wrong.exit_code == 1 and "leave out --principal" in one_red_line(wrong.stderr)
    agent_only = invoke("-c", str(config), "sessions", "show", "echo-bot")
    assert agent_only.exit_code == 1 and "names no session" in one_red_line(agent_only.stderr)
    ended = invoke("-c", str(config), "sessions", "end", key.group(1))
    assert ended.exit_code == 0 and ended.stdout.startswith("ended tenant-a|echo-bot#s2")
    assert KEYS["s2"] not in stored(filled)
    plain = invoke("-c", str(config), "sessions", "end", KEYS["s1"])  # no principal
    assert plain.exit_code == 0 and KEYS["s1"] not in stored(filled)


def test_sessions_show_and_list_print_user_labels_and_feedback(config: Path, db: Path) -> None:
    async def write() -> None:
        store = SQLiteStore(db)
        await store.open()
        try:
            key = SessionKey("echo-bot", "rated", "tenant-a")
            await store.claim(
                key, "test", "echo", "1", time.time(), user_id="u-7", labels={"channel": "web"}
            )
            await store.record_feedback(key, 5, "great", 1, time.time())
            await store.record_feedback(key, 4, None, None, time.time())
            await store.claim(SessionKey("echo-bot", "other", "tenant-a"), "t", "echo", "1", 0.0)
        finally:
            await store.aclose()

    asyncio.run(write())
    shown = invoke("-c", str(config), "sessions", "show", "tenant-a|echo-bot#rated").stdout
    assert re.search(r"user +u-7", shown) and re.search(r"labels +channel:web", shown)
    assert re.search(r"feedback +2 ratings, mean 4\.50", shown), shown
    listed = invoke("-c", str(config), "sessions", "list", "--user", "u-7").stdout
    assert "tenant-a|echo-bot#rated" in listed and "#other" not in listed
    assert "4.50 (2)" in listed and "channel:web" in listed
    by_label = invoke("-c", str(config), "sessions", "list", "-l", "channel:web").stdout
    assert "#rated" in by_label and "#other" not in by_label
    bad = invoke("-c", str(config), "sessions", "list", "--label", "web")
    assert bad.exit_code == 2 and "name:value" in one_red_line(bad.stderr)


def test_sessions_show(config: Path, filled: Path) -> None:
    result = invoke(
        "-c", str(config), "sessions", "show", "echo-bot", "s2", "--principal", "tenant-a"
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tenant-a|echo-bot#s2" in out
    assert re.search(r"turns +1 *\n", out) and re.search(r"messages +2 *\n", out)
    assert "mean response  4.0 ms" in out
    assert "history (2 of 2 messages):\n  user: hi\n  assistant: echo #1: hi\n" in out
    last = invoke(
        "-c", str(config), "sessions", "show", "echo-bot", "s2", "-p", "tenant-a", "--last", "1"
    )
    assert "history (latest 1 of 2 messages):\n  assistant: echo #1: hi\n" in last.stdout


@pytest.mark.parametrize("command", ["show", "end"])
def test_an_unknown_session_is_exit_1(config: Path, filled: Path, command: str) -> None:
    for args in (["echo-bot", "nope"], ["echo-bot", "s2"], ["echo-bot", "s2", "-p", "tenant-b"]):
        result = invoke("-c", str(config), "sessions", command, *args)
        assert result.exit_code == 1
        assert one_red_line(result.stderr).startswith(f"error: no session '{args[1]}' of agent")
    assert len(stored(filled)) == 4


def test_sessions_end_says_what_was_deleted(config: Path, filled: Path) -> None:
    result = invoke("-c", str(config), "sessions", "end", "echo-bot", "s2", "-p", "tenant-a")
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "ended tenant-a|echo-bot#s2: deleted 1 session, 2 messages, 0 snapshots"
    )
    assert "tenant-a|echo-bot#s2" not in stored(filled)
    again = invoke("-c", str(config), "sessions", "end", "echo-bot", "s2", "-p", "tenant-a")
    assert again.exit_code == 1


def test_sessions_commands_need_a_persisted_strategy(config: Path) -> None:
    for args in (["list"], ["show", "a", "b"], ["end", "a", "b"], ["cleanup", "--older-than", "1"]):
        result = invoke("-c", str(config), "sessions", *args, SESSIONFUL_STRATEGY="per_session")
        assert result.exit_code == 2
        assert "keeps no sessions in a store" in one_red_line(result.stderr)


def test_an_unknown_store_scheme(config: Path) -> None:
    result = invoke("-c", str(config), "sessions", "list", SESSIONFUL_STORE="redis://x")
    assert result.exit_code == 2
    assert one_red_line(result.stderr).startswith("error: unknown store scheme 'redis'")


# -- cleanup --------------------------------------------------------------------------------------


@pytest.fixture
def aged(db: Path) -> Path:
    now = time.time()
    old = [(None, "echo-bot", f"old-{i}", now - 10 * DAY - i) for i in range(5)]
    fresh = [(None, "echo-bot", f"new-{i}", now - i) for i in range(2)]
    populate(db, old + fresh)
    return db


def test_cleanup_dry_run_counts_without_deleting(config: Path, aged: Path) -> None:
    result = invoke("-c", str(config), "sessions", "cleanup", "--older-than", "7d", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: would delete 5 stored sessions idle for more than 7d 0h" in result.stdout
    assert "old-4" in result.stdout and "new-0" not in result.stdout  # the oldest shown
    assert len(stored(aged)) == 7


def test_cleanup_deletes_in_batches_with_a_progress_bar(config: Path, aged: Path) -> None:
    result = invoke(
        "-c", str(config), "sessions", "cleanup", "--older-than", "604800", "--batch", "2"
    )
    assert result.exit_code == 0, result.output
    assert "5/5" in result.stdout  # the progress bar, finished
    assert "deleted 5 stored sessions idle for more than 7d 0h" in result.stdout
    assert sorted(stored(aged)) == ["echo-bot#new-0", "echo-bot#new-1"]
    nothing = invoke("-c", str(config), "sessions", "cleanup", "--older-than", "7d")
    assert "deleted 0 stored sessions" in nothing.stdout


def test_cleanup_defaults_to_the_configured_retention(config: Path, aged: Path) -> None:
    missing = invoke("-c", str(config), "sessions", "cleanup")
    assert missing.exit_code == 2
    assert "pass --older-than AGE or set lifecycle.retention" in one_red_line(missing.stderr)
    with_retention = invoke(
        "-c", str(config), "sessions", "cleanup", SESSIONFUL_LIFECYCLE__RETENTION=str(9 * DAY)
    )
    assert "deleted 5 stored sessions idle for more than 9d 0h" in with_retention.stdout


def test_cleanup_rejects_a_bad_age(config: Path) -> None:
    result = invoke("-c", str(config), "sessions", "cleanup", "--older-than", "soon")
    assert result.exit_code == 2
    assert "'soon' is not an age" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600.0), ("90s", 90.0), ("30m", 1800.0), ("12h", 43200.0), ("7d", 604800.0),
     ("2w", 1209600.0), ("1.5h", 5400.0)],
)  # fmt: skip
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


# -- plugins --------------------------------------------------------------------------------------


def test_plugins_lists_what_is_installed_with_its_distribution() -> None:
    result = invoke("plugins")
    assert result.exit_code == 0
    rows = [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    by_name = {(row[0], row[1]): row for row in rows}
    assert by_name[("framework", "stub")][3:] == ["stub", "sessionful-stub==0.1.0"]
    assert by_name[("framework", "langgraph")][3:] == [
        "langgraph",
        "sessionful-langgraph==0.1.0",
    ]
    assert by_name[("template", "langgraph/tool-agent@1")][4] == "sessionful-langgraph==0.1.0"
    for strategy in ("shared", "per_session", "persisted"):
        assert by_name[("strategy", strategy)][4] == "sessionful==0.1.0 (built in)"
    assert by_name[("store", "sqlite://")][2] == "SQLiteStore"
    assert ("store", "postgresql://, postgres://") in by_name


def test_plugins_obeys_the_plugin_filter() -> None:
    result = invoke("plugins", SESSIONFUL_LOAD_PLUGINS="stub")
    assert "sessionful-stub" in result.stdout
    assert "langgraph" not in result.stdout


# -- serve ----------------------------------------------------------------------------------------


def test_serve_hands_the_settings_over_with_overrides(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[tuple[Settings, dict[str, Any]]] = []
    fake = ModuleType("sessionful.service.http")
    fake.serve = lambda settings, **options: served.append((settings, options))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sessionful.service.http", fake)
    result = invoke("-c", str(config), "serve", "--host", "0.0.0.0", "--port", "9999")
    assert result.exit_code == 0, result.output
    ((settings, options),) = served
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9999)
    assert [a.id for a in settings.agents] == ["echo-bot", "customer-service-bot"]
    assert options["source"] == f"file {config.resolve()}"  # logged at startup
    switches = ("--log-level", "warning", "--no-access-log", "--log-format", "json", "--dev")
    result = invoke("-c", str(config), "serve", *switches)
    assert result.exit_code == 0, result.output
    settings = served[-1][0]
    assert settings.server.log_level == "warning"
    assert (settings.server.access_log, settings.server.log_format) == (False, "json")
    assert (settings.server.host, settings.auth.api_keys) == ("127.0.0.1", {})  # dev mode
    assert invoke("serve", "--log-level", "loud").exit_code == 2


def test_serve_without_the_server_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        n
        for n in sys.modules
        if n == "sessionful.service.http" or n.startswith("sessionful.service.http.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # importing it now fails
    result = invoke("serve")
    assert result.exit_code == 2
    assert one_red_line(result.stderr) == (
        "error: the HTTP service needs the server extra (fastapi is missing): "
        "pip install 'sessionful[server]'"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_runs_the_http_service_until_interrupted(tmp_path: Path, config: Path) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("sessionful.service.http")
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN), "-c", str(config), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# -- the reference and the example file in docs/cli.md -------------------------------------------

DOC = ROOT / "docs" / "cli.md"


def test_the_cli_reference_is_generated_from_the_app() -> None:
    """If this fails, run: .venv/bin/python scripts/gen_cli_reference.py"""
    generator = load_file("gen_cli_reference", ROOT / "scripts" / "gen_cli_reference.py")
    page = DOC.read_text(encoding="utf-8")
    assert generator.render(page) == page, "docs/cli.md is stale: run scripts/gen_cli_reference.py"


def test_every_command_and_option_is_documented() -> None:
    page = DOC.read_text(encoding="utf-8")
    generator = load_file("gen_cli_reference", ROOT / "scripts" / "gen_cli_reference.py")
    for ctx, command in generator.commands():
        assert f"### `{ctx.command_path}`" in page
        for param in command.get_params(ctx):
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt != "--help":
                    assert f"`{opt}`" in page, (ctx.command_path, opt)


def example_toml() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- example: sessionful.toml -->\n```toml\n", 1)[1]
    return block.split("```", 1)[0]


def test_the_example_configuration_loads_with_every_section(tmp_path: Path) -> None:
    (tmp_path / "sessionful.toml").write_text(example_toml(), encoding="utf-8")
    settings = load_settings()
    fields: dict[str, Any] = settings.model_dump()
    assert set(Settings.model_fields) <= set(fields)
    explicit = settings.model_fields_set
    assert explicit == set(Settings.model_fields), Settings.model_fields.keys() - explicit
    assert [a.id for a in settings.agents] == ["customer-service-bot", "echo-bot"]
    assert settings.lifecycle.retention == 30 * DAY
    # and it runs: the agents, templates and store it names exist
    from sessionful.service.app import AgentService

    assert sorted(AgentService(settings).managers) == ["langgraph", "stub"]


def test_the_documented_error_is_what_the_example_gives(tmp_path: Path) -> None:
    wrong = example_toml().replace("idle_timeout = 1800", "idle_timeout = -5")
    (tmp_path / "sessionful.toml").write_text(wrong, encoding="utf-8")
    with pytest.raises(ConfigFileError) as raised:
        load_settings()
    shown = DOC.read_text(encoding="utf-8").split("<!-- error of the example with", 1)[1]
    assert f"error: {raised.value}" in shown
    result = invoke("--config", "sessionful.toml", "sessions", "list")
    assert result.stderr.strip() == f"error: {raised.value}"


def test_make_demo_runs_the_cli_demo() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "demo: setup\n\t$(VENV)/bin/sessionful demo\n" in makefile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`make demo` runs `sessionful demo`" in readme


def _slug(title: str) -> str:
    return re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", title.strip().lower()))


def test_the_cli_page_links_resolve() -> None:
    text = DOC.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path_part, _, anchor = target.partition("#")
        path = (DOC.parent / path_part).resolve() if path_part else DOC
        assert path.exists(), target
        if anchor:
            headings = [
                _slug(line.lstrip("#"))
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")
            ]
            assert anchor in headings, target
