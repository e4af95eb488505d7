"""Several real sessionful servers sharing one Postgres store, behind a real nginx.

For tests/test_cluster.py and benchmarks/cluster.py: each instance is ``python -m
sessionful.service.http`` (what ``sessionful serve`` runs) started by tests/support/server.py on
a free loopback port; nginx (Debian's package) runs as a child process, not a daemon, on the
documented ``deploy/nginx.conf`` rendered with the instances' ports and shorter timeouts,
everything (pid, logs, temporary files) in a temporary folder.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support import server as servers

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx.conf"
UPSTREAM_HEADER = "x-upstream"
"""nginx's ``add_header X-Upstream $upstream_addr``: which instance(s) answered."""
OWNER_HEADER = "x-sessionful-owner"
"""The service's optional owner header (cluster membership); the tests never require it."""

NO_NGINX = (
    "nginx is not installed: the multi-instance tests need Debian's nginx "
    "(apt-get install -y nginx-light || apt-get install -y nginx); .ci/run installs it"
)


def nginx_binary() -> str | None:
    """The nginx executable (``/usr/sbin`` is not on every user's PATH), or None."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    return found


def render_nginx(
    port: int,
    upstreams: list[int],
    *,
    read_timeout: float = 75.0,
    fail_timeout: float = 5.0,
) -> str:
    """``deploy/nginx.conf`` listening on ``port`` before the instances on ``upstreams``."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text, n = re.subn(r"listen 127\.0\.0\.1:\d+;", f"listen 127.0.0.1:{port};", text)
    assert n == 1, "deploy/nginx.conf: no `listen 127.0.0.1:PORT;` line"
    lines = "".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={fail_timeout:g}s;\n"
        for p in upstreams
    )
    text, n = re.subn(
        r"(?m)^ *server 127\.0\.0\.1:\d+ [^\n]*;\n(?: *server [^\n]*;\n)*", lines, text
    )
    assert n == 1, "deploy/nginx.conf: no block of `server 127.0.0.1:PORT ...;` lines"
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        text, n = re.subn(rf"{directive} \w+;", f"{directive} {read_timeout:g}s;", text)
        assert n == 1, f"deploy/nginx.conf: no {directive}"
    return text


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nginx(directory: Path, upstreams: list[int], attempts: int = 3, **options: Any) -> Nginx:
    """nginx in the foreground (``daemon off``) with its files in ``directory``; returns once its
    port accepts connections."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError(NO_NGINX)
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        port = servers.free_port()
        conf = directory / "nginx.conf"
        conf.write_text(render_nginx(port, upstreams, **options), encoding="utf-8")
        args = [binary, "-p", f"{directory}/", "-e", str(directory / "error.log")]
        args += ["-c", str(conf), "-g", "daemon off;"]
        with (directory / "stderr.log").open("ab") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        nginx = Nginx(process, port, directory)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                return nginx
            time.sleep(0.05)
        nginx.stop()
        if "Address already in use" not in nginx.log_text() or attempt == attempts - 1:
            raise RuntimeError(f"nginx did not start:\n{nginx.log_text()}")
    raise AssertionError("unreachable")


def instance_config(directory: Path, dsn: str, name: str, **options: Any) -> Path:
    """The shared configuration (``persisted`` on ``dsn``, the stub agent ``echo``, the test
    principals' keys), in a file of the instance's own so each has its own log next to it."""
    text = servers.config_text(directory / "unused.db", langgraph=False, **options)
    text = re.sub(r"(?m)^store = .*$", lambda _: f"store = {servers._toml(dsn)}", text)
    config = directory / f"{name}.toml"
    config.write_text(text, encoding="utf-8")
    return config


@dataclass
class Cluster:
    instances: list[Any]
    """tests/support/server.py ``Server``s."""
    nginx: Nginx
    directory: Path
    stopped: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.nginx.url

    def by_address(self, address: str) -> int | None:
        """The index of the instance at ``127.0.0.1:PORT`` (the last of nginx's list)."""
        last = address.split(",")[-1].strip().split(" : ")[-1].strip()
        for i, server in enumerate(self.instances):
            if last == f"127.0.0.1:{server.port}":
                return i
        return None

    def logs(self) -> str:
        out = [f"--- nginx\n{self.nginx.log_text()[-4000:]}"]
        for i, server in enumerate(self.instances):
            out.append(f"--- instance {i} (:{server.port})\n{server.log_text()[-4000:]}")
        return "\n".join(out)


@contextlib.contextmanager
def cluster(
    directory: Path, dsn: str, size: int = 3, *, config: dict[str, Any] | None = None, **nginx: Any
) -> Iterator[Cluster]:
    """``size`` instances on ``dsn`` behind nginx, all stopped afterwards (paused ones resumed
    first, so they can stop)."""
    started: list[Any] = []
    proxy: Nginx | None = None
    try:
        for i in range(size):
            cfg = instance_config(directory, dsn, f"instance-{i}", **(config or {}))
            started.append(servers.start(cfg, access_log=False))
        proxy = start_nginx(directory / "nginx", [s.port for s in started], **nginx)
        yield Cluster(started, proxy, directory)
    finally:
        if proxy is not None:
            proxy.stop()
        for server in started:
            if server.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    server.process.send_signal(signal.SIGCONT)
                with contextlib.suppress(AssertionError):
                    server.stop(timeout=20.0)


def healthy_through(url: str, timeout: float = 10.0) -> None:
    """Wait until ``url/healthz`` answers 200 through the proxy."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/healthz did not answer")
        time.sleep(0.05)
