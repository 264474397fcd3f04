"""Run a set of programs under supervisord and wait until they answer.

``make run``, ``make cluster`` and the tests' stacks describe their processes as
:class:`Program` values; :class:`Supervisor` renders a ``supervisord.conf`` for them, runs
``supervisord -n`` and talks to it over its XML-RPC API (a private Unix socket). supervisord
restarts a program that dies (``autorestart``; a program that keeps dying during start-up
backs off and is retried ``startretries`` times); its own log lines, one per crash and
restart, go to ``supervisord.log`` and, for ``make run``, to the console.

An operator can use ``supervisorctl -c <run dir>/supervisord.conf status`` (or ``restart
rasa``) on the running stack.
"""

from __future__ import annotations

import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from supervisor.xmlrpc import SupervisorTransport

# A Unix socket path longer than this does not fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100


@dataclass
class Program:
    """One supervised process: what to run and how to tell that it is ready.

    ``ready_url`` (an HTTP URL that answers 200) or ``ready_port`` (a TCP port on the
    loopback that accepts connections) says when the program is ready; ``env`` holds only
    what differs from the supervisor's own environment, which every program inherits.
    """

    name: str
    command: Sequence[str]
    directory: Path = Path(".")
    env: Dict[str, str] = field(default_factory=dict)
    ready_url: Optional[str] = None
    ready_port: Optional[int] = None
    ready_timeout: float = 120.0
    # Started (and so stopped, in reverse) by priority: Redis before the services using it.
    priority: int = 50
    # A program that exits sooner than this after a start counts as a failed start.
    startsecs: int = 3
    startretries: int = 5
    stopwaitsecs: int = 15
    log_name: Optional[str] = None  # the log file in log_dir; default ``<name>.log``

    def is_ready(self) -> bool:
        """True once the program answers on its ready URL or port."""
        if self.ready_url:
            return _http_ok(self.ready_url)
        if self.ready_port:
            return _port_open(self.ready_port)
        return True


class SupervisionError(RuntimeError):
    """A program did not start, or supervisord itself failed."""


class Supervisor:
    """A running ``supervisord -n`` for ``programs``; use :meth:`start` / :meth:`stop`.

    Args:
        programs: What to run, in any order (``priority`` orders them).
        run_dir: Where ``supervisord.conf``, its pid file and socket go (created).
        log_dir: One log file per program, plus ``supervisord.log``.
        env: The environment of supervisord, inherited by every program.
        console: Let supervisord's own log lines (starts, crashes, restarts) reach this
            process's stdout, as ``make run`` shows them.
    """

    def __init__(
        self,
        programs: Iterable[Program],
        run_dir: Path,
        log_dir: Path,
        env: Optional[Mapping[str, str]] = None,
        console: bool = False,
    ) -> None:
        self.programs: Dict[str, Program] = {p.name: p for p in programs}
        self.run_dir = Path(run_dir).resolve()
        self.log_dir = Path(log_dir).resolve()
        self.env = dict(os.environ if env is None else env)
        self.console = console
        self.config_path = self.run_dir / "supervisord.conf"
        self.socket_path = self._socket_path()
        self._proc: Optional[subprocess.Popen] = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, names: Optional[Iterable[str]] = None) -> None:
        """Start supervisord, then the programs (all by default): :meth:`launch` + :meth:`run`."""
        self.launch()
        self.run(names or list(self.programs))

    def launch(self) -> None:
        """Render the config and start supervisord, with no program running yet."""
        self._launch()

    def run(self, names: Iterable[str]) -> None:
        """Start the named programs and wait until each is ready.

        Programs of one priority start together; the next priority starts once they are
        ready (Redis answers before the services that use it start).
        """
        chosen = [self.programs[name] for name in names]
        for priority in sorted({p.priority for p in chosen}):
            batch = [p for p in chosen if p.priority == priority]
            for program in batch:
                self.rpc.supervisor.startProcess(program.name, False)
            for program in batch:
                self.wait_ready(program.name)

    def stop(self) -> None:
        """Stop every program (highest priority first) and supervisord; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        pids = self._pids_or_empty()
        try:
            self.rpc.supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault):
            proc.send_signal(signal.SIGTERM)
        longest = max((p.stopwaitsecs for p in self.programs.values()), default=10)
        try:
            proc.wait(timeout=longest * 2 + 10)
        except subprocess.TimeoutExpired:
            # supervisord hung: do not leave its children behind.
            for pid in pids:
                _kill_quietly(pid)
            proc.kill()
            proc.wait()

    def __enter__(self) -> "Supervisor":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what tests and operators ask --------------------------------------------------------

    @property
    def rpc(self) -> xmlrpc.client.ServerProxy:
        """supervisord's XML-RPC API (``supervisor.*`` methods), a new proxy per call."""
        return supervisor_rpc(self.socket_path)

    def info(self, name: str) -> Dict[str, object]:
        """supervisord's ``getProcessInfo``: ``statename``, ``pid``, ``spawnerr``, ..."""
        return self.rpc.supervisor.getProcessInfo(name)

    def pid(self, name: str) -> int:
        """The program's current pid (0 when it is not running)."""
        return int(self.info(name)["pid"])

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` to the program (SIGKILL: a crash); returns the pid that got it."""
        pid = self.pid(name)
        if not pid:
            raise SupervisionError(f"{name} is not running")
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: Optional[float] = None) -> int:
        """Wait until supervisord has restarted ``name`` and it is ready again; its new pid."""
        program = self.programs[name]
        deadline = time.monotonic() + (timeout or program.ready_timeout)
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid and pid != old_pid:
                self.wait_ready(name, deadline - time.monotonic())
                return pid
            time.sleep(0.2)
        raise SupervisionError(f"{name} was not restarted within the timeout; see {self.log(name)}")

    def wait_ready(self, name: str, timeout: Optional[float] = None) -> None:
        """Wait until ``name`` answers; fail early when supervisord gave up on it (FATAL)."""
        program = self.programs[name]
        deadline = time.monotonic() + (program.ready_timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            state = self.info(name)["statename"]
            if state == "FATAL":
                raise SupervisionError(f"{name} could not start: {self._tail(name)}")
            if state in ("RUNNING", "STARTING") and program.is_ready():
                return
            time.sleep(0.3)
        raise SupervisionError(f"{name} was not ready in time: {self._tail(name)}")

    def log(self, name: str) -> Path:
        """The program's log file (its stdout and stderr)."""
        return self.log_dir / (self.programs[name].log_name or f"{name}.log")

    # --- rendering and launching -------------------------------------------------------------

    def render(self) -> str:
        """The ``supervisord.conf`` text for these programs."""
        sections = [
            "[unix_http_server]",
            f"file={_escape(str(self.socket_path))}",
            "chmod=0700",
            "",
            "[supervisord]",
            "nodaemon=true",
            # Every program may open as many files (sockets) as this user is allowed.
            f"minfds={file_limit()}",
        ]
        if os.geteuid() == 0:
            # Said out loud, or supervisord warns that it does not drop root (it need not).
            sections.append("user=root")
        sections += [
            f"silent={'false' if self.console else 'true'}",
            f"logfile={_escape(str(self.log_dir / 'supervisord.log'))}",
            "logfile_maxbytes=10MB",
            "logfile_backups=3",
            f"pidfile={_escape(str(self.run_dir / 'supervisord.pid'))}",
            f"childlogdir={_escape(str(self.log_dir))}",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{_escape(str(self.socket_path))}",
            "",
        ]
        for program in sorted(self.programs.values(), key=lambda p: (p.priority, p.name)):
            sections += self._program_section(program)
        return "\n".join(sections)

    def _program_section(self, program: Program) -> List[str]:
        lines = [
            f"[program:{program.name}]",
            f"command={_escape(shlex.join(str(part) for part in program.command))}",
            f"directory={_escape(str(Path(program.directory).resolve()))}",
            # Started by start() in priority batches, so that each waits for what it needs.
            "autostart=false",
            "autorestart=true",
            f"startsecs={program.startsecs}",
            f"startretries={program.startretries}",
            f"priority={program.priority}",
            "stopsignal=TERM",
            f"stopwaitsecs={program.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_escape(str(self.log(program.name)))}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=3",
        ]
        if program.env:
            lines.append(f"environment={_environment(program.env)}")
        return lines + [""]

    def _launch(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The commands carry Rasa's API token: the file is for this user only.
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(self.render())
        self.socket_path.unlink(missing_ok=True)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.config_path)],
            env=self.env,
            cwd=self.run_dir,
            stdout=None if self.console else subprocess.DEVNULL,
            stderr=None if self.console else subprocess.DEVNULL,
            # Its own session: Ctrl+C reaches the launcher, which then stops it in order.
            start_new_session=True,
        )
        self._wait_for_api()

    def _wait_for_api(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SupervisionError(
                    f"supervisord exited with {self._proc.returncode}; "
                    f"see {self.log_dir / 'supervisord.log'}"
                )
            try:
                if self.rpc.supervisor.getState()["statename"] == "RUNNING":
                    return
            except (OSError, xmlrpc.client.Fault):
                pass
            time.sleep(0.1)
        raise SupervisionError("supervisord did not answer on its socket")

    def _socket_path(self) -> Path:
        path = self.run_dir / "supervisor.sock"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return path
        return Path(tempfile.mkdtemp(prefix="supervisor-")) / "supervisor.sock"

    def _pids_or_empty(self) -> List[int]:
        try:
            return [int(p["pid"]) for p in self.rpc.supervisor.getAllProcessInfo() if p["pid"]]
        except (OSError, xmlrpc.client.Fault):
            return []

    def _tail(self, name: str, lines: int = 15) -> str:
        path = self.log(name)
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"no log at {path}"
        return f"see {path}; last lines:\n" + "\n".join(text)


def supervisor_rpc(socket_path: Path) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy to the supervisord listening on ``socket_path``."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def file_limit() -> int:
    """The hard limit of open files (capped): what supervisord raises its programs' limit to."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)


def _escape(text: str) -> str:
    # supervisord expands %(name)s in its values: a literal % is written %%.
    return text.replace("%", "%%")


def _environment(env: Mapping[str, str]) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return ",".join(f"{key}={_escape(quoted(str(value)))}" for key, value in env.items())


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _kill_quietly(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
