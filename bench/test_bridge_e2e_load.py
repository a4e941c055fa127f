"""Checks of the end-to-end load harness itself (not timings): the Twilio signature it sends,
its CPU accounting, and a small real run through both relays in which every frame must arrive.

    python -m pytest -q bench/test_bridge_e2e_load.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _procstat
from bridge_e2e_load import twilio_signature


def test_signature_is_twilios_for_a_websocket_upgrade():
    validator = pytest.importorskip("twilio.request_validator").RequestValidator("f3c1d7d0e2a94b1c8e5f6a7b8c9d0e1f")
    for url in ("wss://bridge.bench.invalid/twilio/media", "wss://example.com/media?tenant=a&x=%20y"):
        assert twilio_signature("f3c1d7d0e2a94b1c8e5f6a7b8c9d0e1f", url) == validator.compute_signature(url, {})


def test_cpu_seconds_counts_a_busy_child_and_not_an_idle_one():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(5)"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + 20
        while _procstat.cpu_seconds(busy.pid) < 0.6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _procstat.cpu_seconds(busy.pid) >= 0.6
        assert _procstat.cpu_seconds(idle.pid) < 0.3  # interpreter start-up only
        assert busy.pid in _procstat.descendants(busy.pid)
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert _procstat.cpu_seconds(busy.pid) == 0.0  # gone


@pytest.mark.parametrize("session_format", ["g711_ulaw", "pcm16"])
def test_a_small_run_moves_every_frame_through_both_relays(tmp_path, session_format):
    pytest.importorskip("picows")
    pytest.importorskip("uvloop")
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, str(HERE / "bridge_e2e_load.py"), "--formats", session_format, "--relays", "audiofmt,naive",
                          "--steps", "4", "--no-refine", "--warm", "0.5", "--measure", "1", "--drain", "1.5",
                          "--log-dir", str(tmp_path), "--json-out", str(out)], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [r for r in json.loads(out.read_text()) if r["n"] == 4]
    assert {r["relay"] for r in rows} == {"audiofmt", "naive"}
    for row in rows:
        assert row["connected"] == 4
        assert row["lost"] == 0
        assert row["closed_early"] == 0
        assert row["n_gaps"] > 0 and row["received_bytes"] > 0
        assert row["relay_cores"] > 0
        if row["relay"] == "audiofmt":
            assert row["odd_frames"] == 0  # the bridge sends exact 20 ms frames
            if session_format == "g711_ulaw":  # μ-law passes through untouched: every byte comes back
                assert row["received_bytes"] == row["sent_bytes"]
