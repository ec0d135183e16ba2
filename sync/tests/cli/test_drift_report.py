"""`featurehouse drift --report DIR`: a self-contained page whose histograms render in headless
Chromium (the screenshot holds the chart palette's blue and orange bars)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from featurehouse.cli import cli
from featurehouse.cli.drift_report import CURRENT_COLOUR, REFERENCE_COLOUR
from monitoring_support import chromium_screenshot, count_colour, png_rgb


def test_report_is_offline_and_its_charts_render(base_env: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        ["drift", "feat_product__popularity", "--report", str(directory), "--no-history"],
        env=base_env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    page = directory / "index.html"
    assert f"report: {page}" in result.stdout
    html = page.read_text()
    assert (directory / "drift.json").exists()
    # Nothing fetched from elsewhere: no scripts, stylesheets, images or links.
    assert not re.search(r"<script|<link|<img|src=|href=|@import|url\(", html)
    assert html.count("<svg") == 10  # one histogram per numeric feature of the view
    assert "count_views_30d" in html and 'class="badge fail"' in html

    screenshot = tmp_path / "report.png"
    chromium_screenshot(page, screenshot, tmp_path / "chromium-profile")
    width, height, rgb = png_rgb(screenshot)
    assert (width, height) == (1200, 1600)
    pixels = width * height
    reference_bars = count_colour(rgb, REFERENCE_COLOUR)
    current_bars = count_colour(rgb, CURRENT_COLOUR)
    background = count_colour(rgb, "#ffffff", tolerance=0)
    assert reference_bars > 5_000 and current_bars > 5_000, (reference_bars, current_bars)
    assert background > pixels // 2
    assert count_colour(rgb, "#b71c1c") > 50  # the fail badges
