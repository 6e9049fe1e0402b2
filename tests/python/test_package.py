"""The package as a whole: which Python it needs, its stubs, zero-copy tensors, the GIL, exceptions."""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import plural
from plural import _core

PKG_DIR = os.path.dirname(plural.__file__)


def import_in(python, *flags):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(PKG_DIR))
    return subprocess.run([python, *flags, "-c", "import plural"], env=env, capture_output=True, text=True)


def test_another_interpreter_gets_a_message_naming_the_right_python():
    # -S: no site-packages, hence no torch — what any interpreter without Debian's python3-torch sees.
    r = import_in(sys.executable, "-S")
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "plural was built for /usr/bin/python3" in r.stderr and "cannot import torch" in r.stderr


def test_pyenv_python_on_path_gets_the_same_message():
    other = shutil.which("python3")
    if other is None or os.path.realpath(other) == os.path.realpath(sys.executable):
        pytest.skip("no second python3 on PATH")
    r = import_in(other)
    assert r.returncode != 0
    assert "Run it with /usr/bin/python3" in r.stderr


def test_stubs_name_every_public_symbol_of_core():
    stub = open(os.path.join(PKG_DIR, "_core.pyi")).read()
    declared = set(re.findall(r"^(?:class|def) (\w+)", stub, re.M)) | set(re.findall(r"^(\w+)\s*[:=]", stub, re.M))
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert public - declared == set(), "missing from _core.pyi"
    assert declared - public == set(), "in _core.pyi but not in _core"


def test_tensors_and_numpy_arrays_cross_without_copies():
    x = torch.randn(5, 8)
    items = plural.ItemBatch(x)
    assert items.x.data_ptr() == x.data_ptr()
    a = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    assert plural.ItemBatch(a).x.data_ptr() == a.ctypes.data  # the numpy buffer itself
    label = np.ones(4, np.float32)
    pairs = plural.PairBatch(plural.ItemBatch(a), plural.ItemBatch(a), label=label)
    assert pairs.label.data_ptr() == label.ctypes.data and len(pairs) == 4  # the caller's array, not a copy
    label[0] = 0.25
    assert pairs.label[0].item() == 0.25


def test_other_inputs_are_converted_or_refused_clearly():
    assert plural.ItemBatch(torch.randn(3, 4, dtype=torch.float64)).x.dtype == torch.float32
    assert plural.ItemBatch(np.zeros((3, 4))).x.dtype == torch.float32
    with pytest.raises(ValueError, match="x must be a torch.Tensor or a numpy array, got list"):
        plural.ItemBatch([[0.0, 1.0]])
    with pytest.raises(ValueError, match="2-D"):
        plural.ItemBatch(torch.zeros(3))
    with pytest.raises(ValueError, match="prompt has 2 rows, x has 3"):
        plural.ItemBatch(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"labels .* must be in \[0, 1\]"):
        plural.PairBatch(plural.ItemBatch(torch.zeros(2, 4)), plural.ItemBatch(torch.zeros(2, 4)),
                         label=torch.tensor([0.0, 2.0]))


def test_errors_arrive_as_python_exceptions_with_the_same_message(tmp_path):
    with pytest.raises(ValueError, match="unknown model family 'nope'.*pal-b"):
        plural.Model("nope")
    with pytest.raises(OSError):
        plural.read_preferences(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "u", "a": "x", "b": "y", "label": 1.5}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: field 'label': must be in \[0, 1\]"):
        plural.read_preferences(str(bad))
    with pytest.raises(ValueError, match=r"<records>:2: field 'rejected': missing"):
        plural.preferences([{"chosen": "a", "rejected": "b"}, {"chosen": "c"}])


def test_heavy_calls_release_the_gil(persona2):
    pk, store = persona2
    view = store.view(pk.data)
    torch.manual_seed(0)
    model = plural.make_model("pal-b", view.dims(), {"k": 2})
    cfg = plural.default_train_config("pal-b")
    cfg.epochs, cfg.patience, cfg.progress, cfg.batch_size = 8, 0, False, 64
    done = threading.Event()
    worker = threading.Thread(target=lambda: (plural.train(model, view, cfg), done.set()))
    ticks = 0
    worker.start()
    time.sleep(0.05)
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    # With the GIL held for the whole training, the loop above could not run until it ended.
    assert ticks > 20


def test_threads_are_set_and_settable():
    assert plural.set_threads(2) == 2 and torch.get_num_threads() == 2
    assert plural.set_threads(1) == 1 and torch.get_num_threads() == 1
    plural.set_threads(0)
    assert torch.get_num_threads() == len(os.sched_getaffinity(0))
