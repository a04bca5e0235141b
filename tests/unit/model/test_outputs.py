"""Outputs spooled to disk in input order equal the arrays held in memory."""

from __future__ import annotations

import numpy as np

from runner.model import outputs


def spool_all(tmp_path, values, order):
    spool = outputs.OutputSpool(tmp_path)
    for i in order:
        spool.add(i, values[i])
    return spool.finish()


def test_one_row_per_example_is_an_npy_in_input_order(tmp_path):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((1, 8)).astype(np.float32) for _ in range(300)]
    order = rng.permutation(300).tolist()  # sorted batches deliver examples out of order
    path = spool_all(tmp_path, values, order)
    assert path.name == "outputs.npy"
    got, offsets = outputs.load(path)
    assert got.shape == (300, 8) and offsets.tolist() == list(range(301))
    np.testing.assert_array_equal(got, np.concatenate(values))
    assert not (tmp_path / "values.f32").exists()


def test_rows_per_example_vary_in_an_npz_with_offsets(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "COPY_ROWS", 7)  # several copy steps
    rng = np.random.default_rng(1)
    values = [rng.standard_normal((int(n), 3)).astype(np.float32) for n in rng.integers(0, 6, 50)]
    path = spool_all(tmp_path, values, list(reversed(range(50))))
    assert path.name == "outputs.npz"
    got, offsets = outputs.load(path)
    assert len(offsets) == 51 and offsets[-1] == sum(len(v) for v in values)
    for i, v in enumerate(values):
        np.testing.assert_array_equal(got[offsets[i] : offsets[i + 1]], v)
    with np.load(path) as z:  # the layout np.savez writes
        assert sorted(z.files) == ["offsets", "values"]


def test_no_rows_at_all_still_writes_the_offsets(tmp_path):
    values = [np.zeros((0, 5), np.float32) for _ in range(3)]
    got, offsets = outputs.load(spool_all(tmp_path, values, [0, 1, 2]))
    assert got.shape == (0, 5) and offsets.tolist() == [0, 0, 0, 0]


def test_nothing_added_is_no_file(tmp_path):
    assert outputs.OutputSpool(tmp_path).finish() is None


def test_blocks_spooled_as_parquet_shards_load_as_the_whole(tmp_path):
    """execution=ray: each block's spool (from its start on) is one shard; the folder reads back
    as the one spool of every example would, ragged rows and all."""
    rng = np.random.default_rng(2)
    values = [rng.standard_normal((int(n), 2, 3)).astype(np.float32) for n in rng.integers(0, 4, 40)]
    shards = tmp_path / "shards"
    shards.mkdir()
    for start, stop in ((0, 15), (15, 31), (31, 40)):  # blocks, spooled in reverse inside each
        (tmp_path / str(start)).mkdir()
        spool = outputs.OutputSpool(tmp_path / str(start), start)
        for i in reversed(range(start, stop)):
            spool.add(i, values[i])
        assert spool.shard(shards).name == f"part-{start:012d}.parquet"
    got, offsets = outputs.load(shards)
    whole, whole_offsets = outputs.load(spool_all(tmp_path, values, range(40)))
    assert got.shape == whole.shape and got.shape[1:] == (2, 3)
    np.testing.assert_array_equal(offsets, whole_offsets)
    np.testing.assert_array_equal(got, whole)
