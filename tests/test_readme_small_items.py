"""Small things a newcomer met (issue 14): the --help text, `edged demo` from a clone's parent
folder, and the hint when `edged run` cannot create its ipc socket (e.g. /run/edged as a user)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edged(*args: str, cwd: Path | None = None, timeout: float = 60,
          pythonpath: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "edged", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd)


def test_help_describes_edged_in_whole_sentences() -> None:
    r = edged("--help")
    assert r.returncode == 0
    description = r.stdout.split("\n\n")[1]
    assert description.strip().endswith("."), description
    assert "exposes" not in description  # the module docstring cut mid-sentence
    assert "models" in r.stdout


def test_demo_runs_from_the_folder_that_holds_a_clone_named_edged(tmp_path: Path) -> None:
    """A clone named `edged` in the current folder must not shadow the installed package in
    the daemon the demo starts (it did: ImportError, 'unknown location')."""
    (tmp_path / "edged").mkdir()  # the clone: a folder without __init__.py
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from edged.cli import main; "
            "sys.exit(main(['demo', '--count', '3']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3/3 predictions match the shape drawn" in r.stdout
    assert "ImportError" not in r.stderr


def test_run_suggests_endpoint_when_the_socket_folder_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the socket's folder would go
    config = tmp_path / "c.yaml"
    config.write_text(f"publish:\n  endpoint: ipc://{blocker}/edged/predictions.sock\n")
    r = edged("run", "--config", str(config), timeout=120)
    assert r.returncode == 69
    assert "cannot create" in r.stderr
    assert "hint:" in r.stderr and "edged run --endpoint ipc://" in r.stderr
    # an explicit --endpoint that fails gets no hint about --endpoint
    r2 = edged("run", "--endpoint", f"ipc://{blocker}/x/p.sock", timeout=120)
    assert r2.returncode == 69 and "hint:" not in r2.stderr


def test_help_and_a_verb_import_only_what_that_verb_needs() -> None:
    """`edged --help` imported every verb (numpy, OpenCV, the interpreter): ~1.5 s here."""
    code = ("import sys, contextlib, io\nfrom edged.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(sys.argv[1:])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('numpy', 'cv2', 'edged.commands.run', "
            "'edged.commands.keygen') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def loaded(*args: str) -> str:
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    assert loaded("--help") == "[]"
    assert "edged.commands.run" not in loaded("keygen", "--help")
    assert "edged.commands.keygen" in loaded("keygen", "--help")
