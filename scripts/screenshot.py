"""Photograph one page of a running studio in headless Chromium (the README's screenshots)."""
from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import sync_playwright


def photograph(url: str, out: Path, wait_for: list[str], settle_s: float) -> Path:
    """Open ``url`` at 1440 x 1500, wait for each selector, let charts draw for ``settle_s``,
    move the mouse out of the way (no hover labels) and save a PNG to ``out``."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1440, "height": 1500})
        page.goto(url)
        for selector in wait_for:
            page.wait_for_selector(selector, timeout=60_000)
        time.sleep(settle_s)
        page.mouse.move(5, 5)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    return out
