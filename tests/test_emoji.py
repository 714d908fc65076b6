"""The built-in colour set ``emoji`` (issue 18): which emoji, labels, determinism, cache,
split, and the message when the Debian packages are missing."""
from __future__ import annotations

import collections

import numpy as np
import pytest

from gan_core.data import emoji
from gan_core.data import DatasetError, list_datasets, load_dataset

needs_sources = pytest.mark.skipif(bool(emoji.missing_sources()), reason="fonts-noto-color-emoji / unicode-data not installed")


@needs_sources
def test_entries_are_one_per_emoji_in_nine_groups_without_skin_tones():
    entries = emoji.emoji_entries()
    groups = collections.Counter(e.group for e in entries)
    assert sorted(groups) == sorted(emoji.EMOJI_GROUPS) and len(groups) == 9
    assert "Component" not in groups
    assert not any(emoji.SKIN_TONES & set(e.text) for e in entries)
    assert len({e.text for e in entries}) == len(entries)  # no duplicates
    texts = {e.text: e for e in entries}
    assert texts["\U0001F600"].group == "Smileys & Emotion"  # grinning face
    assert texts["\U0001F44B"].group == "People & Body"  # waving hand, default tone kept
    assert texts["\U0001F1EB\U0001F1F7"].group == "Flags"  # flag: France
    # People & Body no longer dominates: at most ~a fifth of the set
    assert groups["People & Body"] / len(entries) < 0.25 and 1500 < len(entries) < 2500


@needs_sources
def test_rendering_is_deterministic_cached_and_split(tmp_path, studio_dirs):
    images, labels = emoji.render_all(16, tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("emoji-16px-*.npz"))
    assert len(cached) == 1
    again, labels2 = emoji.render_all(16, tmp_path / "cache")  # from the cache file
    fresh, _ = emoji.render_all(16, None)  # rendered again, no cache
    assert np.array_equal(images, again) and np.array_equal(images, fresh) and np.array_equal(labels, labels2)
    assert images.shape == (len(emoji.emoji_entries()), 16, 16, 3) and images.dtype == np.uint8
    # white background, colourful content: corners white, the set not grey
    assert (images[:, 0, 0] == 255).all(-1).mean() > 0.9  # a few (keycaps, some flags) fill the square
    assert np.abs(images.astype(int) - images.mean(-1, keepdims=True)).mean() > 10
    train, test = load_dataset("emoji", 16, 3), load_dataset("emoji", 16, 3, split="test")
    assert len(train) + len(test) == len(images) and len(test) == len(images) // 10
    assert train.classes == emoji.EMOJI_GROUPS and set(test.labels.tolist()) <= set(range(9))
    assert train.images.min() >= -1 and train.images.max() <= 1
    assert (studio_dirs[1] / ".emoji-cache").is_dir()  # under the data folder, like the feature cache
    info = next(i for i in list_datasets() if i.name == "emoji")
    assert info.available and info.count == len(train) and info.classes == emoji.EMOJI_GROUPS


def test_missing_packages_say_what_to_install(tmp_path):
    with pytest.raises(emoji.EmojiUnavailable) as err:
        emoji.render_all(32, None, font_path=tmp_path / "none.ttf", emoji_test=tmp_path / "none.txt")
    message = str(err.value)
    assert "apt-get install fonts-noto-color-emoji unicode-data" in message and "none.ttf" in message
    with pytest.raises(DatasetError, match="at up to 128 px"):
        load_dataset("emoji", 256, 3)
