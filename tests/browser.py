"""Headless Chromium for the browser tests: Debian's ``chromium`` + ``chromium-driver``, installed with
apt-get where they are missing and the test runs as root (or with password-less sudo); otherwise the
calling test skips with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def chromium_paths() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing the Debian packages if needed (or skip)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    apt = shutil.which("apt-get")
    if not apt:
        pytest.skip("chromium/chromedriver missing and no apt-get to install them")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and not shutil.which("sudo"):
        pytest.skip("chromium/chromedriver missing; installing them needs root (no sudo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, apt, "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    proc = subprocess.run(["timeout", "-s", "KILL", "900", *install], env=env, capture_output=True, text=True)
    if proc.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run(
            ["timeout", "-s", "KILL", "300", *prefix, apt, "update", "-q"], env=env, capture_output=True
        )
        proc = subprocess.run(
            ["timeout", "-s", "KILL", "900", *install], env=env, capture_output=True, text=True
        )
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if proc.returncode != 0 or not (browser and driver):
        pytest.skip(f"could not install chromium + chromium-driver: {(proc.stdout + proc.stderr)[-600:]}")
    return browser, driver
