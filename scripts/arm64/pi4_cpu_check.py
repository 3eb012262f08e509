"""Every native library edged loads, through an import and a representative call, in ONE
process (children would be run by the binfmt-registered qemu, not the one under test).

Run by stage.sh twice per venv: under qemu's stock cortex-a72 (``--crypto yes``: the control,
the crypto instructions execute) and under the crypto-less copy made by patch_qemu.py
(``--crypto no``: the Pi 4's BCM2711, where AES/PMULL/SHA1/SHA2 raise SIGILL). A library that
used those instructions without checking AT_HWCAP would die here as it would on a Pi.

usage: python pi4_cpu_check.py TESTDATA --crypto yes|no
"""

from __future__ import annotations

import argparse
import ctypes
import io
import mmap
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

RET = 0xD65F03C0
# one instruction of each crypto extension the BCM2711 lacks (A64 encodings)
CRYPTO_INSNS = {
    "aes": 0x4E284820,  # aese v0.16b, v1.16b
    "pmull": 0x0EE2E020,  # pmull v0.1q, v1.1d, v2.1d
    "sha1": 0x5E280820,  # sha1h s0, s1
    "sha2": 0x5E282820,  # sha256su0 v0.4s, v1.4s
}
HWCAP_BITS = {"aes": 1 << 3, "pmull": 1 << 4, "sha1": 1 << 5, "sha2": 1 << 6}
HWCAP_CRC32 = 1 << 7
AT_HWCAP = 16


def run_instruction(word: int) -> int:
    """Execute WORD in a forked child; return its exit status or -signal. (qemu reports each
    SIGILL as "uncaught target signal 4 (Illegal instruction)": expected without crypto.)"""
    pid = os.fork()
    if pid == 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the SIGILL is expected: no core file
        mem = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        mem.write(word.to_bytes(4, "little") + RET.to_bytes(4, "little"))
        addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        ctypes.CFUNCTYPE(None)(addr)()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def check_cpu(crypto: bool) -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    features = set(next(ln for ln in cpuinfo.splitlines() if ln.startswith("Features"))
                   .split(":", 1)[1].split())
    assert "0xd08" in cpuinfo, "CPU part is not 0xd08 (Cortex-A72)"
    hwcap = ctypes.CDLL(None).getauxval(AT_HWCAP)
    assert hwcap & HWCAP_CRC32 and "crc32" in features, "crc32 missing"
    for name, word in CRYPTO_INSNS.items():
        result = run_instruction(word)
        listed, in_hwcap = name in features, bool(hwcap & HWCAP_BITS[name])
        print(f"  {name:<6} /proc/cpuinfo={listed} AT_HWCAP={in_hwcap} "
              f"executes={'yes' if result == 0 else f'no (signal {-result})'}")
        assert listed == in_hwcap == crypto, f"{name}: cpuinfo/hwcap disagree with --crypto"
        expected = 0 if crypto else -signal.SIGILL
        assert result == expected, f"{name}: child ended with {result}, expected {expected}"


def check_numpy() -> str:
    import numpy as np
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 64), dtype=np.float32)
    assert np.allclose(a @ np.linalg.inv(a.astype(np.float64)), np.eye(64), atol=1e-3)
    u8 = rng.integers(0, 255, 100_000, dtype=np.uint8)
    assert np.array_equal(np.sort(u8), np.sort(u8.astype(np.int64)).astype(np.uint8))
    return f"numpy {np.__version__}: matmul, inverse, sort"


def check_pillow(testdata: Path) -> str:
    from PIL import Image
    img = Image.open(testdata / "images/parrot.jpg").convert("RGB").resize((224, 224))
    for fmt in ("JPEG", "PNG", "WEBP"):
        out = io.BytesIO()
        img.save(out, fmt)
        assert Image.open(io.BytesIO(out.getvalue())).size == (224, 224)
    return f"Pillow {Image.__version__}: JPEG decode, resize, JPEG/PNG/WEBP encode"


def check_opencv(testdata: Path) -> str:
    import cv2
    import numpy as np
    raw = np.frombuffer((testdata / "images/cat_720p.jpg").read_bytes(), np.uint8)
    frame = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    assert frame.shape == (720, 1280, 3)
    small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (224, 224),
                       interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", small)
    assert ok and len(jpg) > 1000
    return f"OpenCV {cv2.__version__}: imdecode 720p, cvtColor, resize, imencode"


def check_runtime(testdata: Path, runtime: str) -> str:
    sys.argv = ["known_answers", str(testdata), "--runtime", runtime, "--threads", "1", "4"]
    sys.path.insert(0, str(Path(__file__).parent))
    import known_answers
    assert known_answers.main() == 0, "known answers failed"
    return f"{runtime}: mobilenet_v2 known answers, 1 and 4 threads"


def check_curve() -> str:
    import zmq

    from edged.security import CurveServer, client_keys, make_keypair
    assert zmq.has("curve"), "pyzmq's libzmq has no CURVE"
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        _, server_secret = make_keypair(keys / "server", "server")
        make_keypair(keys / "authorized", "client")
        _, stranger_secret = make_keypair(keys / "other", "stranger")
        ctx = zmq.Context()
        server = CurveServer(ctx, server_secret, keys / "authorized")
        pub = ctx.socket(zmq.PUB)
        server.apply(pub)
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        subs = {}
        for name, secret in (("client", keys / "authorized/client.key_secret"),
                             ("stranger", stranger_secret)):
            k = client_keys(keys / "server/server.key", secret)
            s = ctx.socket(zmq.SUB)
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = (
                k["server_public"], k["public"], k["secret"])
            s.subscribe(b"")
            s.connect(f"tcp://127.0.0.1:{port}")
            subs[name] = s
        got: dict[str, int] = {"client": 0, "stranger": 0}
        deadline = time.monotonic() + 60
        while got["client"] < 20 and time.monotonic() < deadline:
            pub.send(b"x" * 4096)
            for name, s in subs.items():
                while s.poll(20):
                    assert s.recv() == b"x" * 4096
                    got[name] += 1
        server.stop()
        ctx.destroy(linger=0)
    assert got["client"] >= 20, f"authorized CURVE subscriber got {got['client']} messages"
    assert got["stranger"] == 0, "a subscriber with an unknown key got messages"
    return (f"pyzmq {zmq.__version__} libzmq {zmq.zmq_version()}: CURVE over tcp, "
            f"{got['client']} messages to the authorized key, 0 to a stranger")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("testdata", type=Path)
    p.add_argument("--crypto", choices=("yes", "no"), required=True)
    p.add_argument("--runtime", default="auto")
    p.add_argument("--no-opencv", action="store_true")
    args = p.parse_args()
    crypto = args.crypto == "yes"
    print(f"CPU: cortex-a72 {'with' if crypto else 'WITHOUT'} crypto extensions")
    check_cpu(crypto)  # first: it forks, before any library starts threads
    results = [check_numpy(), check_pillow(args.testdata)]
    if not args.no_opencv:
        results.append(check_opencv(args.testdata))
    results += [check_runtime(args.testdata, args.runtime), check_curve()]
    for r in results:
        print(f"  ok  {r}")
    print(f"pi4 cpu check ({'crypto' if crypto else 'no crypto'}): all libraries passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
