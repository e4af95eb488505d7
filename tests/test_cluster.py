"""Three instances behind nginx on one Postgres, with one instance killed and another paused.

Real processes on loopback: three ``python -m sessionful.service.http`` instances (``persisted`` on
the test Postgres, the stub agent) behind nginx rendered from ``deploy/nginx.conf``
(``hash $session consistent``, ``proxy_next_upstream error timeout http_502 http_503``).
Concurrent clients, one thread per session, run their turns through nginx; once a quarter of
the turns are answered, one instance gets SIGKILL; a little later another gets SIGSTOP, stays
stopped past nginx's read timeout (so its sessions move and are claimed elsewhere, bumping their
epochs) and is then resumed with SIGCONT while the clients go on. A client retries a turn on a
connection error, 502, 503 or 504 and counts each retry.

Then every session's stored history is read and the figures are printed and asserted:

* acknowledged turns lost: 0. Every turn answered 200 is in the history, in order, with the
  very reply the client got;
* forked histories: 0, and writes accepted from a stale epoch: 0. The stub replies
  ``echo #n`` where ``n`` counts the user messages its instance has seen, so in a history built
  by one lease holder after another the n-th user message has reply ``echo #n``. An instance
  writing on a stale lease (the paused one, resuming with its old instance and its old counter)
  would break that count;
* takeover time after the kill: from SIGKILL to the first answered turn of a session the killed
  instance was serving (no lease has to expire, so this is the time to notice a refused
  connection and restore);
* errors seen by clients: every retried request, by cause.

The short version (20 sessions x 10 turns) runs in ``make test``; ``SESSIONFUL_SOAK=1``
(``make soak``) runs 50 sessions x 20 turns with a longer pause.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support import cluster as clusters
from support import server as servers

ALICE, ECHO = servers.ALICE, servers.ECHO

pytestmark = pytest.mark.slow

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
SESSIONS, TURNS = (50, 20) if SOAK else (20, 10)
PAUSE = 5.0 if SOAK else 3.0
"""Seconds the paused instance stays stopped (longer than nginx's read timeout)."""
PACE = 0.6 if SOAK else 1.0
"""Seconds a client waits between its turns, so the faults land mid-conversation and traffic
goes on long enough after the resume for the resumed instance to get its sessions back."""
READ_TIMEOUT = 2.0
"""nginx's proxy_read_timeout here: how long a paused instance holds a request."""
TURN_DEADLINE = 90.0
"""Seconds a client may spend retrying one turn before the test fails."""
RETRIABLE = {502, 503, 504}


@dataclass
class Turn:
    text: str
    reply: str
    upstream: str
    event: str
    started: float
    """time.monotonic() when the turn was first sent."""
    done: float
    """time.monotonic() when the answer arrived."""


@dataclass
class Conversation:
    session_id: str
    acknowledged: list[Turn] = field(default_factory=list)
    failure: str | None = None


@dataclass
class Load:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    owner_headers: int = 0

    def retry(self, cause: str) -> None:
        with self.lock:
            self.retries[cause] += 1


def _post(client: httpx.Client, path: str, load: Load, **kwargs: object) -> httpx.Response:
    """POST through nginx until it is answered with something else than a retriable failure."""
    deadline = time.monotonic() + TURN_DEADLINE
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"POST {path}: still failing after {TURN_DEADLINE} s")
        try:
            response = client.post(path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            load.retry(f"transport {type(exc).__name__}")
            time.sleep(0.05)
            continue
        if response.status_code in RETRIABLE:
            code = ""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                code = " " + response.json()["error"]["code"]
            load.retry(f"{response.status_code}{code}")
            time.sleep(min(float(response.headers.get("retry-after", 0.05)), 0.2))
            continue
        if clusters.OWNER_HEADER in response.headers:
            with load.lock:
                load.owner_headers += 1
        return response


def _converse(url: str, conversation: Conversation, load: Load) -> None:
    path = f"/v1/agents/{ECHO}/sessions/{conversation.session_id}/messages"
    try:
        with httpx.Client(base_url=url, headers=servers.auth(ALICE), timeout=15.0) as client:
            for i in range(TURNS):
                text = f"{conversation.session_id[:8]} turn {i}"
                body = {"messages": [{"role": "user", "content": text}]}
                sent = time.monotonic()
                response = _post(client, path, load, json=body)
                assert response.status_code == 200, response.text
                data = response.json()
                conversation.acknowledged.append(
                    Turn(
                        text,
                        data["messages"][-1]["content"],
                        response.headers.get(clusters.UPSTREAM_HEADER, ""),
                        data["instance_event"],
                        sent,
                        time.monotonic(),
                    )
                )
                with load.lock:
                    load.answered += 1
                time.sleep(PACE)
    except Exception as exc:  # reported by the test, with the logs
        conversation.failure = f"{type(exc).__name__}: {exc}"


def _wait_answered(load: Load, count: int, threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + 120
    while load.answered < count and any(t.is_alive() for t in threads):
        assert time.monotonic() < deadline, f"only {load.answered} turns answered"
        time.sleep(0.02)


def _serving(
    conversations: list[Conversation], cluster: object, before: float
) -> dict[str, int | None]:
    """Per session, the instance that answered its last turn before ``before``."""
    out: dict[str, int | None] = {}
    for c in conversations:
        turns = [t for t in c.acknowledged if t.done < before]
        if turns:
            out[c.session_id] = cluster.by_address(turns[-1].upstream)  # type: ignore[attr-defined]
    return out


def _check_history(
    conversation: Conversation, history: list[dict[str, object]]
) -> tuple[int, int, int]:
    """(acknowledged turns lost, replies out of count, stored turns never acknowledged)."""
    pairs: list[tuple[str, str]] = []
    for message in history:
        if message["role"] == "user":
            pairs.append((str(message["content"]), ""))
        elif message["role"] == "assistant" and pairs and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0], str(message["content"]))
    miscounted = sum(
        reply != f"echo #{n}: {text}" for n, (text, reply) in enumerate(pairs, start=1)
    )
    at, lost = 0, 0
    for turn in conversation.acknowledged:
        for i in range(at, len(pairs)):
            if pairs[i] == (turn.text, turn.reply):
                at = i + 1
                break
        else:
            lost += 1
    return lost, miscounted, len(pairs) - (len(conversation.acknowledged) - lost)


def test_kill_and_pause_behind_nginx(tmp_path: Path, postgres_dsn: str) -> None:
    if clusters.nginx_binary() is None:
        pytest.skip(clusters.NO_NGINX)
    started = time.monotonic()
    with clusters.cluster(
        tmp_path, postgres_dsn, read_timeout=READ_TIMEOUT, fail_timeout=2.0
    ) as cluster:
        clusters.healthy_through(cluster.url)
        load = Load()
        conversations = []
        with httpx.Client(base_url=cluster.url, headers=servers.auth(ALICE), timeout=15) as c:
            for _ in range(SESSIONS):
                created = _post(c, f"/v1/agents/{ECHO}/sessions", load, json={})
                assert created.status_code == 201, created.text
                conversations.append(Conversation(created.json()["session_id"]))
        threads = [
            threading.Thread(target=_converse, args=(cluster.url, c, load), daemon=True)
            for c in conversations
        ]
        for t in threads:
            t.start()
        total = SESSIONS * TURNS

        # SIGKILL the instance serving the most sessions once a fifth of the turns are done.
        _wait_answered(load, total // 5, threads)
        now = time.monotonic()
        served = Counter(i for i in _serving(conversations, cluster, now).values() if i is not None)
        killed = served.most_common(1)[0][0]
        killed_at = time.monotonic()
        cluster.instances[killed].kill()
        orphans = {s for s, i in _serving(conversations, cluster, killed_at).items() if i == killed}

        # SIGSTOP another (the busiest of the two left) a little later, resume it after PAUSE.
        _wait_answered(load, total * 3 // 10, threads)
        served = Counter(
            i
            for i in _serving(conversations, cluster, time.monotonic()).values()
            if i is not None and i != killed
        )
        paused = served.most_common(1)[0][0] if served else (killed + 1) % 3
        victim = cluster.instances[paused]
        victim.process.send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        time.sleep(PAUSE)
        victim.process.send_signal(signal.SIGCONT)
        resumed_at = time.monotonic()

        for t in threads:
            t.join(timeout=TURN_DEADLINE * 2)
        assert not any(t.is_alive() for t in threads), "clients still running"
        failures = [c.failure for c in conversations if c.failure]
        assert not failures, f"{failures[:3]}\n{cluster.logs()}"

        # The figures, from the stored histories.
        lost = miscounted = unacknowledged = 0
        forked: list[str] = []
        with httpx.Client(base_url=cluster.url, headers=servers.auth(ALICE), timeout=15) as c:
            for conversation in conversations:
                path = f"/v1/agents/{ECHO}/sessions/{conversation.session_id}"
                response = c.get(path)
                assert response.status_code == 200, response.text
                a, b, d = _check_history(conversation, response.json()["history"])
                lost, miscounted, unacknowledged = lost + a, miscounted + b, unacknowledged + d
                if b:
                    forked.append(conversation.session_id)
        takeovers = [
            min(t.done for t in c.acknowledged if t.done > killed_at) - killed_at
            for c in conversations
            if c.session_id in orphans and any(t.done > killed_at for t in c.acknowledged)
        ]
        takeover_turns = [  # the first turn after the kill, from its sending (or the kill) on
            min((t for t in c.acknowledged if t.done > killed_at), key=lambda t: t.done)
            for c in conversations
            if c.session_id in orphans and any(t.done > killed_at for t in c.acknowledged)
        ]
        turn_takeover = [t.done - max(t.started, killed_at) for t in takeover_turns]
        after_resume = sum(
            t.done > resumed_at and cluster.by_address(t.upstream) == paused
            for c in conversations
            for t in c.acknowledged
        )
        lease_lost = 0.0
        for line in httpx.get(f"{victim.url}/metrics", timeout=10).text.splitlines():
            if line.startswith("sessionful_sessions_evicted_total{") and "lease-lost" in line:
                lease_lost += float(line.rsplit(" ", 1)[1])
        events = Counter(t.event for c in conversations for t in c.acknowledged)
        elapsed = time.monotonic() - started
        sys.stderr.write(
            f"\ncluster: {SESSIONS} sessions x {TURNS} turns through nginx, 3 instances, "
            f"instance {killed} SIGKILLed, instance {paused} SIGSTOPped {PAUSE:g} s "
            f"(at +{paused_at - killed_at:.1f} s after the kill)\n"
            f"  acknowledged turns lost:            {lost}\n"
            f"  forked histories:                   {len(forked)}\n"
            f"  writes accepted from a stale epoch: {miscounted}\n"
            f"  stored turns never acknowledged:    {unacknowledged} (at-least-once retries)\n"
            f"  takeover after SIGKILL:             first {min(takeovers, default=0):.3f} s, "
            f"every orphaned session by {max(takeovers, default=0):.3f} s "
            f"({len(orphans)} sessions were on it; clients pause {PACE:g} s between turns)\n"
            f"  their first turn after the kill:    at most {max(turn_takeover, default=0):.3f} s "
            f"from sending (or the kill) to answer, retries included\n"
            f"  turns answered by the resumed one:  {after_resume}, after dropping "
            f"{lease_lost:g} stale instances (lease-lost)\n"
            f"  instance events:                    {dict(events)}\n"
            f"  errors seen by clients (retried):   {sum(load.retries.values())} "
            f"{dict(load.retries)}\n"
            f"  owner header seen on:               {load.owner_headers} answers\n"
            f"  elapsed:                            {elapsed:.1f} s\n"
        )
        assert lost == 0, cluster.logs()
        assert not forked, cluster.logs()
        assert miscounted == 0
        assert len(orphans) > 0
        assert takeovers, "no session of the killed instance continued"
        assert len(takeovers) == len(orphans), "a session of the killed instance did not go on"
        # No lease has to expire: a session goes on at its next turn (PACE away at most).
        assert max(takeovers) < PACE + 3.0
        assert max(turn_takeover) < 3.0
        assert after_resume > 0, "the resumed instance served nothing: no stale lease was met"
        assert sum(len(c.acknowledged) for c in conversations) == total


def _free_block(size: int = 4) -> int:
    """A base port with ``size`` consecutive free loopback ports."""
    import random
    import socket

    for _ in range(50):
        base = random.randrange(20_000, 60_000)
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no block of free ports")


def test_three_instances_example(postgres_dsn: str) -> None:
    """examples/three_instances.sh --smoke: three instances and nginx up, two turns through it."""
    if clusters.nginx_binary() is None:
        pytest.skip(clusters.NO_NGINX)
    import subprocess

    base = _free_block()
    env = {**os.environ, "DATABASE_URL": postgres_dsn, "BASE_PORT": str(base)}
    env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin"
    script = clusters.ROOT / "examples" / "three_instances.sh"
    run = subprocess.run(
        ["bash", str(script), "--smoke"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"nginx on http://127.0.0.1:{base}" in run.stdout
    assert "echo #1: Hello  (served by 127.0.0.1:" in run.stdout
    assert "echo #2: Still there?  (served by 127.0.0.1:" in run.stdout
