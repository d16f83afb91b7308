"""`make demo` end to end in a fresh clone: the README's first command on a machine with nothing set up.

Slow (it creates its own venv and installs the pinned dependencies), so it is marked `slow`; it still
runs in CI, because a set-up that only works on a developer's machine is the failure it exists to catch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_demo_in_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.fail("make and git are required to test the README set-up")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    clone = tmp_path / "crmguard"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head.stdout.strip()], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "CRMGUARD_"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    env["TZ"] = "Asia/Kolkata"  # the demo must not depend on the machine's time zone
    done = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (clone / ".venv" / "bin" / "crmguard").exists()
    summary_path = clone / "data" / "demo" / "demo.json"
    summary = json.loads(summary_path.read_text())
    assert summary["actions"] > 0
    assert summary["violations"] > 0, "the demo world injects incidents: the demo must show violations"
    assert summary["restore"]["status"] == "verified"
