"""Dry sources: the test split's material never occurs in training."""

import io

import numpy as np
import pytest
import soundfile as sf

from llm2fx_lab.data import sources
from llm2fx_lab.data.midi import random_piece
from llm2fx_lab.data.sources import FolderSource, split_of

N_SONGS = 80


def _midi_bytes(split: str, seed: int, key: int) -> bytes:
    # the piece MidiSource renders for (seed, split, key), without rendering it
    buf = io.BytesIO()
    random_piece(sources._seed("midi", seed, split, key), 70.0).midi().save(file=buf)
    return buf.getvalue()


def test_midi_test_pieces_never_occur_in_train():
    for seed in (0, 7):
        keys = range(40)
        states = {s: {sources._seed("midi", seed, s, k).bit_generator.state["state"]["state"] for k in keys}
                  for s in ("train", "validation", "test")}
        assert len(states["train"]) == len(keys)
        assert not states["test"] & states["train"] and not states["validation"] & states["train"]
        assert not states["test"] & states["validation"]
        train = {_midi_bytes("train", seed, k) for k in range(20)}
        assert not train & {_midi_bytes("test", seed, k) for k in range(20)}
        assert not train & {_midi_bytes("validation", seed, k) for k in range(20)}


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    rng = np.random.default_rng(0)
    for i in range(N_SONGS):  # 3 s stems: long enough not to count as near-silent
        folder = root / f"artist{i % 7}" / f"song{i:02d}"
        folder.mkdir(parents=True)
        for stem in ("bass", "vocals")[: 1 + i % 2]:
            sf.write(str(folder / f"{stem}.wav"), 0.3 * rng.standard_normal((3 * 22050, 2)).astype(np.float32), 22050)
    return root


def test_folder_source_keeps_each_song_in_one_split(songs):
    src = FolderSource(songs)
    groups = {s: {g for _, _, g in src.items[s]} for s in sources.SPLITS}
    assert all(groups.values()), "every split needs material for this test"
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["validation"]
    assert not groups["test"] & groups["validation"]
    assert sum(map(len, groups.values())) == N_SONGS
    for split in sources.SPLITS:
        assert all(split_of(g) == split for g in groups[split])
        segs = src.segments(split, 0, 4)
        assert segs and all(seg.group in groups[split] for seg in segs)
