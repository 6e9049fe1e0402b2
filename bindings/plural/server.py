"""`plural serve` in a child process, for notebooks, tests and scripts that want a server next to them (docs/serve.md).
In production run the CLI under a process supervisor instead."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Optional, Sequence

from .client import Client


def find_cli() -> str:
    """The `plural` executable: $PLURAL_CLI, else the one built (or installed) with this package, else `plural` on
    PATH."""
    if os.environ.get("PLURAL_CLI"):
        return os.environ["PLURAL_CLI"]
    from . import _build_info
    if os.access(_build_info.CLI, os.X_OK):
        return _build_info.CLI
    found = shutil.which("plural")
    if not found:
        raise FileNotFoundError("no `plural` executable: set PLURAL_CLI, or build the project (`make demo`)")
    return found


class Server:
    """Starts `plural serve --model M --cache C --db D` on a free loopback port and waits until it listens.

        with plural.Server("model.pt", "cache.h5", "users.sqlite", candidates="pool.jsonl") as server:
            client = server.client()

    `options` are further CLI flags (e.g. ["--scorer", "dopt"]). The cache file must not be open in this process
    through a FeatureStore (the file is locked): give the server its own copy."""

    def __init__(self, model: str, cache: str, db: str, *, encoder: Optional[str] = None,
                 candidates: Optional[str] = None, token_file: Optional[str] = None, threads: Optional[int] = None,
                 options: Sequence[str] = (), cli: Optional[str] = None, start_timeout: float = 120):
        args = [cli or find_cli(), "serve", "--model", model, "--cache", cache, "--db", db, "--port", "0"]
        for flag, value in (("--encoder", encoder), ("--candidates", candidates), ("--token-file", token_file),
                            ("--threads", threads)):
            if value is not None:
                args += [flag, str(value)]
        # stderr goes to a file, not a pipe nobody reads (a full pipe would block the server's workers).
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args + list(options), stdout=subprocess.PIPE, stderr=self.log, text=True)
        first = []  # the server prints its address once it listens
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(start_timeout)
        m = re.search(r"(http://[\d.]+:\d+)", first[0]) if first else None
        if not m:
            self.proc.kill()
            self.proc.wait()
            said = first[0].strip() if first else f"no address within {start_timeout:.0f} s"
            raise RuntimeError(f"plural serve did not start: {said} {self.stderr()}")
        self.url = m.group(1)
        self.proc.stdout.close()  # nothing more is read from it; the server prints nothing else there

    def stderr(self) -> str:
        """What the server wrote to stderr so far (its warnings and internal errors)."""
        self.log.seek(0)
        return self.log.read().strip()

    def client(self, **kwargs) -> Client:
        return Client(self.url, **kwargs)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as a supervisor would: the server finishes its requests and exits; an error exit raises (not
        after kill())."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        if code != 0 and code != -signal.SIGKILL:
            raise RuntimeError(f"plural serve exited with {code}: {self.stderr()}")

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the store (tests of durability)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.stop()
        except RuntimeError:
            if exc_type is None:  # an exception from the block matters more than how the server ended
                raise
