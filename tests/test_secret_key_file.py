"""The embedded mode's secret key file (no OMNISTREAM_SECRET_KEY): made once, private,
the same key for every process, even those starting at the same moment."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from omnistream.config import _key_file, load_settings


def test_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret.key"  # the folder does not exist yet
    first = _key_file(path)
    assert len(first) >= 60
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _key_file(path) == first
    assert path.read_text() == first
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left

    one = load_settings(data_dir=tmp_path / "var", secret_key=None)
    two = load_settings(data_dir=tmp_path / "var", secret_key=None)
    assert one.signing_key == two.signing_key == first


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    for round_ in range(10):
        path = tmp_path / str(round_) / "secret.key"
        barrier = threading.Barrier(12)

        def make(path: Path = path, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return _key_file(path)

        with ThreadPoolExecutor(12) as pool:
            keys = list(pool.map(lambda _: make(), range(12)))
        assert len(set(keys)) == 1 and keys[0] == path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


def test_separate_interpreters_agree(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    code = (
        "from pathlib import Path; from omnistream.config import _key_file; "
        f"print(_key_file(Path({str(path)!r})))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert keys == {path.read_text()}


def test_an_empty_file_is_waited_for_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.touch(mode=0o600)  # another process's exclusive create, not written yet

    def write_later() -> None:
        time.sleep(0.2)
        path.write_text("k" * 64)

    writer = threading.Thread(target=write_later)
    writer.start()
    assert _key_file(path) == "k" * 64
    writer.join()

    path.write_text("")  # left empty for good (e.g. a crash of an older version)
    with pytest.raises(OSError, match=r"secret\.key is empty; set OMNISTREAM_SECRET_KEY"):
        _key_file(path)
