"""The `plural` console script of a pip-installed plural (pyproject.toml): runs the tool shipped inside the package,
plural/bin/plural. A module of its own, outside the package, so that starting the tool does not import torch."""
import importlib.util
import os
import sys


def main() -> None:
    spec = importlib.util.find_spec("plural")  # finds the package folder without running its __init__
    folders = list(spec.submodule_search_locations or []) if spec else []
    tool = os.path.join(folders[0], "bin", "plural") if folders else ""
    if not tool or not os.access(tool, os.X_OK):
        sys.exit("plural: the package's tool (plural/bin/plural) is missing from this Python; reinstall it with "
                 "`pip install .` from plural's source tree")
    os.execv(tool, ["plural"] + sys.argv[1:])


if __name__ == "__main__":
    main()
