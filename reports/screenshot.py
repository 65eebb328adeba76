"""A screenshot of a report as a reader first sees it: ``python -m reports.screenshot REPORT.html -o PNG``.

Headless Chromium (``chromium`` and ``chromedriver`` on PATH, selenium from the report extra) opens the
page at ``--width`` × ``--height`` CSS pixels (default 1400 × 857, a laptop's browser window) and saves
what is above the fold. It also says whether any element sticks out of the page or scrolls sideways
inside it (the browser test in tests/test_reports.py asserts that none does).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
OVERFLOW = """
var width = document.documentElement.clientWidth, out = [];
Array.prototype.forEach.call(document.querySelectorAll("body *"), function (e) {
  var r = e.getBoundingClientRect();
  if (r.width && r.right > width + 0.5) { out.push(e.tagName + "." + e.className + " right " + r.right); }
  if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") {
    out.push(e.tagName + "." + e.className + " scrolls " + e.scrollWidth + " > " + e.clientWidth);
  }
});
if (document.documentElement.scrollWidth > width) { out.push("page " + document.documentElement.scrollWidth); }
return out;
"""
"""Every element that sticks out of the page, or that scrolls sideways inside it (its columns out of view)."""


def browser(width: int, height: int, profile: str):
    """A headless Chromium whose page is ``width`` × ``height`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in BROWSER_FLAGS + [f"--user-data-dir={profile}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])  # the window's frame is not the page
    return driver


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="an HTML report")
    parser.add_argument("-o", "--output", required=True, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=857)
    args = parser.parse_args(argv)
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        parser.error("needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(args.width, args.height, profile)
        try:
            driver.get(Path(args.report).resolve().as_uri())
            driver.save_screenshot(args.output)
            shown = driver.execute_script("return [window.innerWidth, window.innerHeight]")
            over = driver.execute_script(OVERFLOW)
            driver.execute_script('document.querySelectorAll("details").forEach(function (d) { d.open = true; })')
            over_open = driver.execute_script(OVERFLOW)
        finally:
            driver.quit()
    print(f"{args.output}: {shown[0]} × {shown[1]} px; elements overflowing: {len(over)} "
          f"({len(over_open)} with every details block open)")
    for line in (over + over_open)[:10]:
        print(f"  {line}")
    return 1 if over or over_open else 0


if __name__ == "__main__":
    sys.exit(main())
