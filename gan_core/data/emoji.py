"""The built-in colour set ``emoji``: Noto Color Emoji rendered with Pillow, labelled by Unicode group.

Sources (Debian packages, both offline): ``fonts-noto-color-emoji`` (the font) and
``unicode-data`` (``emoji-test.txt``, which lists every emoji with its group). Depends only on
numpy and Pillow so it moves freely; ``gan_core.data`` wires it into ``load_dataset``.

Choices, documented because they shape the set:

- **Which emoji**: the *fully-qualified* lines of ``emoji-test.txt`` (3,655 in Unicode 15.0),
  minus the ``Component`` group (bare skin-tone swatches and hair parts, not pictures), and
  minus every sequence that carries a skin-tone modifier (U+1F3FB..U+1F3FF). Kept that way,
  a person appears once in its default yellow, not six times: with the tones, People & Body
  would be 2,000+ of the 3,600 images and the GAN would spend most of its capacity on hands
  in five shades. What remains: 1,870 emoji (1,683 train, 187 test) in 9 groups (``EMOJI_GROUPS``; counts in
  ``emoji_entries()``).
- **Rendering**: the font's only bitmap strike (size 109, 136x128 px glyphs) drawn with
  ``embedded_color=True`` onto a **white** square canvas (the colour the emoji are designed
  on; a transparent or black ground would turn the antialiased outlines into dark halos),
  centred, then resized to the asked resolution with Pillow's antialiasing filter (LANCZOS).
- **Split**: every 10th emoji in file order is held out (``split="test"``) for metrics; the
  other 90% train. Deterministic: same files, same images, byte for byte.
- **Cache**: the rendered uint8 array goes to ``<cache_dir>/emoji-<R>px-<key>.npz`` (the key
  hashes the two source files and the recipe version), so the first load renders (~5 s for
  the full set on one CPU core) and later loads read the file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan_core.data.cache_files import write_cache_file

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST_PATH = Path("/usr/share/unicode/emoji/emoji-test.txt")
APT_PACKAGES = ("fonts-noto-color-emoji", "unicode-data")
EMOJI_GROUPS = ["Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
                "Activities", "Objects", "Symbols", "Flags"]
SKIPPED_GROUPS = ("Component",)
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
BITMAP_SIZE = 109  # Noto Color Emoji's only strike; any other size raises "invalid pixel size"
CANVAS = 136  # the strike's glyphs are 136 x 128 px: a square of the wider side holds any of them
BACKGROUND = (255, 255, 255)
RECIPE_VERSION = 1  # bump when the rendering changes, so old caches are not reused
HOLD_OUT_EVERY = 10
MAX_RESOLUTION = 128


class EmojiUnavailable(RuntimeError):
    """The font or the emoji list is missing; the message says what to install."""


@dataclass(frozen=True)
class EmojiEntry:
    text: str  # the emoji as a string (possibly a ZWJ sequence or a flag pair)
    group: str
    name: str


def missing_sources(font: Path = FONT_PATH, emoji_test: Path = EMOJI_TEST_PATH) -> list[str]:
    """What is not on disk, as 'path (apt package)' strings; [] when the set can be rendered."""
    return [f"{path} (apt package {package})" for path, package in zip((font, emoji_test), APT_PACKAGES)
            if not path.is_file()]


def install_hint(font: Path = FONT_PATH, emoji_test: Path = EMOJI_TEST_PATH) -> str:
    missing = missing_sources(font, emoji_test)
    return (f"the emoji set needs {' and '.join(missing)}: install them with "
            f"`sudo apt-get install {' '.join(APT_PACKAGES)}` (or run scripts/setup.sh)")


def emoji_entries(emoji_test: Path = EMOJI_TEST_PATH) -> list[EmojiEntry]:
    """The emoji of the set in file order (see the module docstring for which are kept)."""
    if not emoji_test.is_file():
        raise EmojiUnavailable(install_hint(emoji_test=emoji_test))
    entries, group = [], ""
    for line in emoji_test.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
            continue
        if not line or line.startswith("#") or "; fully-qualified" not in line:
            continue
        codes, _, comment = line.partition("#")
        text = "".join(chr(int(c, 16)) for c in codes.split(";")[0].split())
        if group in SKIPPED_GROUPS or SKIN_TONES & set(text):
            continue
        if group not in EMOJI_GROUPS:
            raise EmojiUnavailable(f"{emoji_test}: unknown emoji group {group!r}; this version of the file is not supported")
        name = comment.strip().split(" ", 2)[-1] if comment.strip() else ""
        entries.append(EmojiEntry(text, group, name))
    if not entries:
        raise EmojiUnavailable(f"{emoji_test} lists no fully-qualified emoji; reinstall unicode-data")
    return entries


def render_emoji(text: str, resolution: int, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """One emoji as uint8 [R, R, 3] on white, centred on a square canvas, then resized."""
    canvas = Image.new("RGB", (CANVAS, CANVAS), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = ((CANVAS - (right - left)) // 2 - left, (CANVAS - (bottom - top)) // 2 - top)
    draw.text(origin, text, font=font, embedded_color=True)
    if resolution != CANVAS:
        canvas = canvas.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(canvas, dtype=np.uint8)


def _source_key(font: Path, emoji_test: Path) -> str:
    digest = hashlib.sha1(f"v{RECIPE_VERSION}".encode())
    for path in (font, emoji_test):
        st = path.stat()
        digest.update(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def render_all(resolution: int, cache_dir: Path | None = None, font_path: Path = FONT_PATH,
               emoji_test: Path = EMOJI_TEST_PATH) -> tuple[np.ndarray, np.ndarray]:
    """Every emoji of the set: (uint8 [N, R, R, 3], int64 labels [N]), from the cache when there.

    A cache folder that cannot be written is no error: the set is then rendered each time.
    """
    if not isinstance(resolution, int) or not 8 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"emoji renders at 8 to {MAX_RESOLUTION} px, got {resolution!r}")
    missing = missing_sources(font_path, emoji_test)
    if missing:
        raise EmojiUnavailable(install_hint(font_path, emoji_test))
    cache = Path(cache_dir) / f"emoji-{resolution}px-{_source_key(font_path, emoji_test)}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as stored:
                return stored["images"], stored["labels"]
        except (OSError, ValueError, KeyError):
            pass  # a broken cache file is rendered again and replaced
    entries = emoji_entries(emoji_test)
    font = ImageFont.truetype(str(font_path), BITMAP_SIZE)
    images = np.stack([render_emoji(e.text, resolution, font) for e in entries])
    labels = np.array([EMOJI_GROUPS.index(e.group) for e in entries], dtype=np.int64)
    if cache is not None:
        write_cache_file(cache, lambda f: np.savez(f, images=images, labels=labels))
    return images, labels


def split_indices(n: int, split: str) -> np.ndarray:
    """Every ``HOLD_OUT_EVERY``-th emoji (index 9, 19, ...) is the test split; the rest train."""
    held_out = np.arange(n) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
    return np.flatnonzero(held_out if split == "test" else ~held_out)
