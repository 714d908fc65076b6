"""Files the pages hand out: GIFs, ZIPs, crisp upscales, and latent interpolation for morphs."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from gan_core.inference.animation import gif_bytes, slerp  # noqa: F401 - the pages' media in one place


def upscale(image: Image.Image, size: int) -> Image.Image:
    """Nearest-neighbour upscale for display of tiny samples (keeps pixels crisp)."""
    if image.width >= size:
        return image
    factor = max(1, size // image.width)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()




def folder_zip_bytes(folder: Path) -> bytes:
    files = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            files[str(Path(folder.name) / p.relative_to(folder))] = p.read_bytes()
    return zip_bytes(files)
