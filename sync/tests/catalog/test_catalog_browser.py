"""The static catalog in real headless Chromium (Debian's chromium + chromedriver, driven by
selenium; nothing is downloaded), plus `featurehouse catalog --serve` as a real process.

The run leaves a screenshot of a feature page in the test's tmp dir (and copies it to
$FEATUREHOUSE_CATALOG_SCREENSHOT when set; docs/catalog.png was made that way).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cli_process import start_featurehouse
from featurehouse.api.context import Context
from featurehouse.catalog import build_catalog
from featurehouse.catalog.services import ServicePage
from featurehouse.lineage import compute_lineage
from featurehouse.online.usage import UsageCount
from featurehouse.project.manifest import load_artifacts
from featurehouse.project.registry import build_registry
from featurehouse.project.services import load_services
from monitoring_support import CHROMIUM_FLAGS
from sync_fixtures import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FEATURE = ("feat_customer__orders.v2", "sum_order_amount_30d")


@pytest.fixture(scope="module")
def site(docs_target: Path, base_env: dict[str, str], synced: Any, tmp_path_factory) -> Path:
    artifacts = load_artifacts(docs_target)
    states = Context(env=base_env, project_dir=REPO_ROOT).store.views()
    out = tmp_path_factory.mktemp("catalog") / "site"
    registry = build_registry(artifacts.manifest)
    reads = UsageCount("service", "churn_model", 12, 30, datetime(2026, 5, 2, 9, 30))
    services = [ServicePage(s, reads) for s in load_services(artifacts.manifest, registry)]
    build_catalog(
        out,
        registry,
        artifacts,
        compute_lineage(artifacts.manifest, artifacts.catalog),
        states,
        "online status from the test Redis",
        services,
    )
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            pytest.fail(f"{path} not found: install it (Debian: apt-get install -y {package})")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        *CHROMIUM_FLAGS,
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_catalog_files_need_no_network(site: Path) -> None:
    for path in site.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text()
            urls = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {"http://www.w3.org/2000/svg"}
            assert not urls, f"{path} refers to {urls}"


def test_index_lists_every_view_version(site: Path, browser: Any, docs_target: Path) -> None:
    from selenium.webdriver.common.by import By

    registry = build_registry(load_artifacts(docs_target).manifest)
    browser.get((site / "index.html").as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.view-row")
    assert {r.get_attribute("data-view") for r in rows} == {v.ref for v in registry.views}
    v2 = next(r for r in rows if r.get_attribute("data-view") == FEATURE[0])
    assert "published" in v2.text and "growth-analytics" in v2.text
    docs = v2.find_element(By.LINK_TEXT, "dbt docs").get_attribute("href")
    assert docs.endswith(f"#!/model/model.featurehouse_demo.{FEATURE[0]}")
    assert Path(urllib.request.url2pathname(docs.split("#")[0][len("file://") :])).exists()


def test_services_beside_views(site: Path, browser: Any) -> None:
    """The index lists the feature services; a service's page lists its pinned features and
    links to their pages, which say who reads them."""
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    [row] = browser.find_elements(By.CSS_SELECTOR, "#services tr.service-row")
    assert row.get_attribute("data-service") == "churn_model"
    assert "Growth analytics" in row.text and "12 reads, last 2026-05-02 09:30" in row.text
    assert "feat_customer__orders.v1 deprecated on 2026-12-31" in row.text
    row.find_element(By.LINK_TEXT, "churn_model").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Churn model"
    features = browser.find_elements(By.CSS_SELECTOR, "#service-features tbody tr")
    assert len(features) == 12
    assert features[2].text.split()[:2] == [
        "feat_customer__orders.v1:days_since_last_order",
        "days_since_last_order",
    ]
    features[2].find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "days_since_last_order"
    [reader] = browser.find_elements(By.CSS_SELECTOR, "li.reader")
    assert reader.text.startswith("churn_model (Growth analytics): 12 reads")
    browser.get((site / "features" / "feat_customer__orders.v2" / "count_orders_7d.html").as_uri())
    assert "no feature service reads it" in browser.page_source


def test_feature_page_draws_an_interactive_lineage_graph(
    site: Path, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    view, feature = FEATURE
    browser.get((site / "features" / view / f"{feature}.html").as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-graphs-ready") == "1"
    )
    svg = browser.find_element(By.CSS_SELECTOR, "svg.lineage")
    edges = svg.find_elements(By.CSS_SELECTOR, "path.edge")
    assert len(edges) > 10
    assert int(svg.get_attribute("data-edges-drawn")) == len(edges)
    models = {g.get_attribute("data-node") for g in svg.find_elements(By.CSS_SELECTOR, "g.model")}
    assert "seed.featurehouse_demo.raw_order_items" in models
    assert "model.featurehouse_demo.int_orders_totaled" in models
    status = svg.find_element(
        By.CSS_SELECTOR, 'g.col[data-col="seed.featurehouse_demo.raw_orders:status"]'
    )
    status.click()
    assert "focus" in svg.get_attribute("class")
    lit = svg.find_elements(By.CSS_SELECTOR, "path.edge.hl")
    assert lit and all("hl" in e.get_attribute("class") for e in lit)
    assert "Lineage tree" in browser.page_source
    shot = tmp_path / "catalog.png"
    browser.save_screenshot(str(shot))  # raw_orders.status and what it feeds, highlighted
    browser.find_element(By.CSS_SELECTOR, "button.reset").click()
    assert "focus" not in svg.get_attribute("class")
    assert not svg.find_elements(By.CSS_SELECTOR, "path.edge.hl")
    assert shot.stat().st_size > 20_000
    print(f"catalog screenshot: {shot}")
    if os.environ.get("FEATUREHOUSE_CATALOG_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["FEATUREHOUSE_CATALOG_SCREENSHOT"])


def test_catalog_serve_real_process(fh_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "served"
    process = start_featurehouse("catalog", "--out", str(out), "--serve", "--port", "0", env=fh_env)
    try:
        url = None
        for _ in range(5):
            line = process.stdout.readline()
            match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            if match:
                url = match.group(1)
                break
        assert url, process.stderr.read() if process.poll() is not None else "no URL printed"
        with urllib.request.urlopen(url + "index.html", timeout=30) as response:
            assert response.status == 200 and b'id="views"' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)
