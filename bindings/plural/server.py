"""`plural serve` in a child process, for notebooks, tests and scripts that want a server next to them (docs/serve.md).
In production run the CLI under a process supervisor instead."""
import os
import re
import shutil
import signal
import subprocess
from typing import Optional, Sequence

from .client import Client


def find_cli() -> str:
    """The `plural` executable: $PLURAL_CLI, else the one built beside this package, else `plural` on PATH."""
    if os.environ.get("PLURAL_CLI"):
        return os.environ["PLURAL_CLI"]
    try:
        from . import _build_info
        built = os.path.join(_build_info.BINARY_DIR, "plural")
        if os.access(built, os.X_OK):
            return built
    except (ImportError, AttributeError):
        pass
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
                 options: Sequence[str] = (), cli: Optional[str] = None):
        args = [cli or find_cli(), "serve", "--model", model, "--cache", cache, "--db", db, "--port", "0"]
        for flag, value in (("--encoder", encoder), ("--candidates", candidates), ("--token-file", token_file),
                            ("--threads", threads)):
            if value is not None:
                args += [flag, str(value)]
        self.proc = subprocess.Popen(args + list(options), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # the server prints its address once it listens
        m = re.search(r"(http://[\d.]+:\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"plural serve did not start: {line.strip()} {self.proc.stderr.read().strip()}")
        self.url = m.group(1)

    def client(self, **kwargs) -> Client:
        return Client(self.url, **kwargs)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as a supervisor would: the server finishes its requests and exits; an error exit raises."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        if code != 0:
            raise RuntimeError(f"plural serve exited with {code}: {self.proc.stderr.read().strip()}")

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the store (tests of durability)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
