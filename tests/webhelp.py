"""``edged web`` as a real subprocess, plain HTTP requests to it, and headless Chromium
(Debian's chromium + chromedriver, driven by Selenium) to look at the page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


class WebProcess:
    def __init__(self, folder: Path, config: dict) -> None:
        self.port = free_port()
        config.setdefault("web", {}).setdefault("listen", f"127.0.0.1:{self.port}")
        self.config_path = folder / "web.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = folder / "web.log"
        self._log = open(self.log_path, "wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "edged", "web", "--config",
                                      str(self.config_path)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(self._up, 60, "edged web to listen")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("edged web exited: " + self.log())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, headers=headers or {})
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=20) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(20)
        self._log.close()
        return code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def chromium():  # type: ignore[no-untyped-def]
    """A headless Chromium (Debian's), or skip (fail under CI=true) when absent."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        browser = None
    if not (browser and driver):
        message = "chromium, chromium-driver (apt) and selenium (pip, dev extra) are needed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true this is a failure")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                 "--force-device-scale-factor=1", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)
