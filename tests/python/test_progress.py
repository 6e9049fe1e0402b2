"""Progress where the user looks: lines in a log when stderr is not a terminal (the Python side: test_models)."""
import os
import re
import subprocess

from plural.server import find_cli

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "data", "prism", "conversations.jsonl")


def test_train_writes_progress_lines_to_a_log(tmp_path):
    cli = find_cli()
    data = str(tmp_path / "p.h5")
    subprocess.run([cli, "import", "prism", FIXTURE, "-o", data], check=True, capture_output=True)
    cmd = [cli, "train", "--data", data, "--cache", str(tmp_path / "c.h5"), "--encoder", "hashed:dim=16",
           "--family", "bt", "--epochs", "2", "--batch-size", "4", "-o", str(tmp_path / "m.pt")]
    env = dict(os.environ, PLURAL_PROGRESS_SECONDS="0")  # a line at every update instead of every 30 s
    log = subprocess.run(cmd, capture_output=True, text=True, env=env)  # stderr is a pipe: a log, not a terminal
    assert log.returncode == 0, log.stderr
    lines = log.stderr.splitlines()
    assert "\r" not in log.stderr and "\033[" not in log.stderr  # no terminal bar in a log
    assert any(re.fullmatch(r"epoch 1 1/4 \(25%\) \d+s, eta \d+s ?", ln) for ln in lines), lines
    finished = [ln for ln in lines if re.match(r"epoch \d 4/4 done in [\d.]+s loss [\d.]+ val [\d.]+ acc [\d.]+", ln)]
    assert len(finished) == 2, lines
    quiet = subprocess.run(cmd, capture_output=True, text=True)  # the default: only each epoch's result
    assert not any("(25%)" in ln for ln in quiet.stderr.splitlines())
    assert sum("done in" in ln for ln in quiet.stderr.splitlines()) == 2
