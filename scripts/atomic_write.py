"""The scripts' one way to write a file, as plural's C++ AtomicFile does it (docs/reliability.md): a temporary beside
the target, fsync, rename over the target, fsync of the folder. On any failure the target is as it was."""
import contextlib
import os


@contextlib.contextmanager
def atomic_path(target: str):
    """Yields a temporary path to write; on leaving the block without an error it replaces `target`."""
    target = os.fspath(target)
    tmp = f"{target}.tmp-{os.getpid()}-0"
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        folder = os.open(os.path.dirname(os.path.abspath(target)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
