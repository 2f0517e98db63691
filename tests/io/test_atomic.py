"""Atomic writes and result sets: a crash leaves the old set or the new one, never a mix."""

import json
import os
import subprocess
import sys

import pytest

from bayes_vip.io import atomic
from bayes_vip.io.atomic import JOURNAL, atomic_path, recover, result_set, sha256, write_json


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _old_set(folder):
    folder.mkdir()
    for name in ("posterior.nc", "limits.json"):
        (folder / name).write_text(f"old {name}")


def test_a_set_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "results"
    _old_set(out)
    (out / "calibration.nc").write_text("kept")
    with result_set(out) as stage:
        (stage / "posterior.nc").write_text("new posterior")
        write_json(stage / "limits.json", {"posterior_sha256": sha256(stage / "posterior.nc")})
    assert (out / "posterior.nc").read_text() == "new posterior"
    rec = json.loads((out / "limits.json").read_text())
    assert rec["posterior_sha256"] == sha256(out / "posterior.nc")
    assert (out / "calibration.nc").read_text() == "kept"
    assert sorted(p.name for p in out.iterdir()) == ["calibration.nc", "limits.json",
                                                     "posterior.nc"]  # fmt: skip


def test_a_failure_inside_the_set_leaves_the_old_one(tmp_path):
    out = tmp_path / "results"
    _old_set(out)

    def killed_before_the_limits():
        with result_set(out) as stage:
            (stage / "posterior.nc").write_text("new posterior")
            msg = "killed before limits.json"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        killed_before_the_limits()
    assert (out / "posterior.nc").read_text() == "old posterior.nc"
    assert (out / "limits.json").read_text() == "old limits.json"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_crash_during_the_commit_is_rolled_forward(tmp_path, monkeypatch):
    out = tmp_path / "results"
    _old_set(out)
    moved = []
    real_replace = os.replace

    def crash_after_one(src, dst):  # dies after the journal and the first file moved in
        if len(moved) == 2:
            raise KeyboardInterrupt
        moved.append(dst)
        real_replace(src, dst)

    def killed_in_the_commit():
        with result_set(out) as stage:
            (stage / "limits.json").write_text("new limits")
            (stage / "posterior.nc").write_text("new posterior")
            monkeypatch.setattr(atomic.shutil, "rmtree", lambda *a, **k: None)  # no cleanup
            return stage.name

    monkeypatch.setattr(atomic.os, "replace", crash_after_one)
    stage_name = None
    with pytest.raises(KeyboardInterrupt):
        stage_name = killed_in_the_commit()
    monkeypatch.undo()
    stage_name = next(p.name for p in out.iterdir() if p.name.startswith(".set."))
    # a mix on disk now: the journal says which set it is
    assert (out / "limits.json").read_text() == "new limits"
    assert (out / "posterior.nc").read_text() == "old posterior.nc"
    assert (out / JOURNAL).is_file()
    assert (out / stage_name).is_dir()
    recover(out)
    assert (out / "limits.json").read_text() == "new limits"
    assert (out / "posterior.nc").read_text() == "new posterior"
    assert sorted(p.name for p in out.iterdir()) == ["limits.json", "posterior.nc"]


def test_orphaned_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "study-bands").mkdir()
    dead = _dead_pid()
    orphans = [
        out / f".limits.json.{dead}-ab12_x.tmp",
        out / "study-bands" / f".toys.parquet.{dead}-zz9.tmp",
        out / ".posterior.nc.k3j4h5.tmp",  # an older name, without the writer's pid
    ]
    for p in orphans:
        p.write_text("half")
    (out / f".set.{dead}-q1w2.tmp").mkdir()
    with atomic_path(out / "classic.json") as live:  # this process is writing it now
        live.write_text("{}")
        removed = recover(out)
        assert live.exists()
    assert sorted(removed) == sorted(
        [str(p.relative_to(out)) for p in orphans] + [f".set.{dead}-q1w2.tmp"]
    )
    assert sorted(p.name for p in out.iterdir()) == ["classic.json", "study-bands"]
    assert list((out / "study-bands").iterdir()) == []
