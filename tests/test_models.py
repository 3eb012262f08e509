"""edged models list / fetch: the catalogue's hashes against the upstream copies in
../shared/testdata, and real downloads (a real `edged models fetch` subprocess) from a local HTTP
server through --mirror: good, 404, truncated, wrong hash, wrong structure, slow, interrupted,
stalled, server error, a server that ignores Range, and a partial file left by an earlier run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from modelserver import ModelServer, serve

from edged.models import catalog
from edged.models.fetch import VerifyError, check_structure

ROOT = Path(__file__).resolve().parent.parent
MNV2 = catalog.find("mobilenet_v2")

pytestmark = pytest.mark.testdata


def edged(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edged", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def server(testdata: Path, tmp_path: Path):
    extra = tmp_path / "extra"
    extra.mkdir()
    with serve([testdata / "models", testdata / "labels", extra]) as srv:
        srv.extra = extra  # type: ignore[attr-defined]
        yield srv


def fetch(srv: ModelServer, mode: str, dest: Path, name: str = "mobilenet_v2",
          *more: str) -> subprocess.CompletedProcess[str]:
    return edged("models", "fetch", name, "--dir", str(dest), "--mirror", f"{srv.url}/{mode}",
                 *more)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_list_json_has_the_contract_fields() -> None:
    r = edged("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert {e["name"] for e in entries} == set(catalog.names())
    for e in entries:
        for key in ("name", "file", "url", "sha256", "task", "labels", "input", "verify"):
            assert key in e, (e["name"], key)
        assert e["url"].startswith("https://github.com/google-coral/test_data/raw/")
        assert e["url"].endswith("/" + e["file"])
        assert e["sha256"] or (e["git_blob_sha1"] and "git-blob" in e["verify"]
                               and "structure" in e["verify"])
    [default] = [e for e in entries if e["default"]]
    assert default["task"] == "detection" and "TFLite_Detection_PostProcess" in \
        default["custom_ops"]
    tasks = {e["task"] for e in entries}
    assert tasks == {"detection", "classification", "pose", "segmentation"}
    assert all(any(x["edgetpu"] and x["task"] == t for x in entries) for t in tasks)
    text = edged("models", "list")
    assert text.returncode == 0 and "(default)" in text.stdout


def test_catalogue_hashes_are_the_upstream_copies_in_testdata(testdata: Path) -> None:
    checked = 0
    for entry in catalog.ENTRIES:
        for remote in entry.files():
            local = (testdata / "models" / remote.file if remote.file.endswith(".tflite")
                     else testdata / "labels" / remote.file)
            if not local.exists() or remote.sha256 is None:
                continue
            data = local.read_bytes()
            assert hashlib.sha256(data).hexdigest() == remote.sha256, remote.file
            assert len(data) == remote.size, remote.file
            if remote is entry.model:
                check_structure(remote.file, data, entry.expect)
            checked += 1
    assert checked >= 7  # 4 models (3 CPU + ...) and 3 label files are in testdata


def test_structure_check_refuses_the_wrong_model(testdata: Path) -> None:
    ssd = catalog.find("ssd_mobilenet_v2_coco")
    stand_in = (ROOT / "tests/models/ssd_grid.tflite").read_bytes()  # postprocess, 64x64 float
    with pytest.raises(VerifyError, match="expected one 1x300x300x3 uint8 input"):
        check_structure("x.tflite", stand_in, ssd.expect)
    with pytest.raises(VerifyError, match="custom operators"):
        check_structure("x.tflite", (testdata / "models/mobilenet_v2_1.0_224_quant.tflite")
                        .read_bytes(), catalog.Expect(((1, 224, 224, 3), "uint8"), 1,
                                                      ("TFLite_Detection_PostProcess",)))
    tpu = (testdata / "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite").read_bytes()
    with pytest.raises(VerifyError, match="compiled for the Coral Edge TPU"):
        check_structure("x.tflite", tpu, catalog.Expect(((1, 128, 128, 3), "uint8"), 1))
    with pytest.raises(VerifyError, match="truncated or corrupt|not a TFLite"):
        check_structure("x.tflite", stand_in[: len(stand_in) // 2], ssd.expect)


def test_fetch_from_a_mirror_verifies_and_is_idempotent(server: ModelServer,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "ok", dest)
    assert r.returncode == 0, r.stderr
    assert leftovers(dest) == [MNV2.labels.file, MNV2.model.file]  # type: ignore[union-attr]
    assert hashlib.sha256((dest / MNV2.model.file).read_bytes()).hexdigest() == MNV2.model.sha256
    assert "100%" in r.stderr and "fetched:" in r.stderr
    assert f"path: {dest / MNV2.model.file}" in r.stdout  # the config lines
    before = len(server.requests)
    again = fetch(server, "ok", dest)
    assert again.returncode == 0 and "unchanged:" in again.stderr
    assert len(server.requests) == before  # nothing downloaded the second time
    assert edged("models", "fetch", "mobilenet_v2", "--dir", str(dest), "--check").returncode == 0
    assert edged("models", "fetch", "deeplabv3", "--dir", str(dest), "--check").returncode == 1


def test_404_fails_at_once_and_leaves_nothing(server: ModelServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "ok", dest, "ssd_mobilenet_v2_coco")  # not in testdata
    assert r.returncode == 69
    assert "HTTP 404" in r.stderr and "ssd_mobilenet_v2_coco_quant_postprocess.tflite" in r.stderr
    assert len(server.requests) == 1  # a 404 is not retried
    assert leftovers(dest) == []


def test_truncated_download_is_refused(server: ModelServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "truncated", dest)
    assert r.returncode == 65, r.stderr
    assert f"expected {MNV2.model.size}" in r.stderr
    assert leftovers(dest) == []  # no final file, no .part


def test_wrong_hash_is_refused(server: ModelServer, testdata: Path, tmp_path: Path) -> None:
    impostor = server.extra / "mobilenet_v2_1.0_224_quant.tflite"  # type: ignore[attr-defined]
    data = bytearray((testdata / "models/mobilenet_v2_1.0_224_quant.tflite").read_bytes())
    data[-1] ^= 0xFF  # same size, one byte different
    impostor.write_bytes(bytes(data))
    server.folders.insert(0, impostor.parent)
    dest = tmp_path / "models"
    r = fetch(server, "ok", dest)
    assert r.returncode == 65
    assert "sha256" in r.stderr and "does not match" in r.stderr
    assert leftovers(dest) == []


def test_git_blob_entry_refuses_a_stand_in(server: ModelServer, tmp_path: Path) -> None:
    """The default detector is not in testdata: a file of its name is refused by its upstream
    git blob id, so only the real upstream bytes are ever installed."""
    ssd = catalog.find("ssd_mobilenet_v2_coco")
    shutil.copy(ROOT / "tests/models/ssd_grid.tflite",
                server.extra / ssd.model.file)  # type: ignore[attr-defined]
    dest = tmp_path / "models"
    r = fetch(server, "ok", dest, ssd.name)
    assert r.returncode == 65
    assert "git blob id" in r.stderr and ssd.model.git_blob_sha1 in r.stderr  # type: ignore[operator]
    assert leftovers(dest) == []


def test_slow_download_shows_progress(server: ModelServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "slow", dest)
    assert r.returncode == 0, r.stderr
    progress = [ln for ln in r.stderr.splitlines()
                if ln.startswith(MNV2.model.file + ":") and "MB" in ln]
    assert len(progress) >= 5, r.stderr  # a line every 10 % when not on a terminal
    assert progress[-1].endswith("100%")


def test_interrupted_download_resumes_with_range(server: ModelServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "interrupt", dest, "mobilenet_v2", "--retries", "2")
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    model_requests = [rng for path, rng in server.requests if path.endswith(MNV2.model.file)]
    assert model_requests[0] is None
    assert model_requests[1] == f"bytes={MNV2.model.size // 2}-"  # type: ignore[operator]
    assert hashlib.sha256((dest / MNV2.model.file).read_bytes()).hexdigest() == MNV2.model.sha256


def test_stalled_download_times_out_and_resumes(server: ModelServer, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    r = fetch(server, "stall", dest, "mobilenet_v2", "--timeout", "1")
    assert r.returncode == 0, r.stderr
    assert "timed out" in r.stderr
    model_requests = [rng for path, rng in server.requests if path.endswith(MNV2.model.file)]
    assert model_requests[1] is not None and model_requests[1].startswith("bytes=")
    assert MNV2.model.sha256 == hashlib.sha256((dest / MNV2.model.file).read_bytes()).hexdigest()


def test_server_error_is_retried(server: ModelServer, tmp_path: Path) -> None:
    r = fetch(server, "error500", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert "HTTP 500" in r.stderr and "retrying" in r.stderr


def test_partial_file_is_resumed_or_restarted(server: ModelServer, testdata: Path,
                                              tmp_path: Path) -> None:
    data = (testdata / "models" / MNV2.model.file).read_bytes()
    dest = tmp_path / "models"
    dest.mkdir()
    part = dest / f".{MNV2.model.file}.part"
    part.write_bytes(data[:1000])
    assert fetch(server, "ok", dest).returncode == 0
    assert (f"/ok/{MNV2.model.file}", "bytes=1000-") in server.requests
    # a server that ignores Range sends the whole file: it replaces the partial one
    other = tmp_path / "other"
    other.mkdir()
    (other / part.name).write_bytes(data[:1000])
    r = fetch(server, "norange", other)
    assert r.returncode == 0, r.stderr
    assert (other / MNV2.model.file).read_bytes() == data
    # a corrupt partial file (wrong first bytes) fails verification once, then starts over
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / part.name).write_bytes(b"\0" * 1000)
    r = fetch(server, "ok", bad)
    assert r.returncode == 0, r.stderr
    assert "downloading it again" in r.stderr
    assert (bad / MNV2.model.file).read_bytes() == data


def test_unknown_name_and_file_mirror(testdata: Path, tmp_path: Path) -> None:
    r = edged("models", "fetch", "resnet")
    assert r.returncode == 2 and "mobilenet_v2" in r.stderr
    flat = tmp_path / "mirror"
    flat.mkdir()
    for f in MNV2.files():
        sub = "models" if f.file.endswith(".tflite") else "labels"
        os.symlink(testdata / sub / f.file, flat / f.file)
    r = edged("models", "fetch", "mobilenet_v2", "--dir", str(tmp_path / "m"),
              "--mirror", flat.as_uri(), "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m" / MNV2.model.file).stat().st_size == MNV2.model.size
