"""Make a copy of qemu-aarch64 whose ARMv8.0 CPU models (cortex-a35/a53/a57/a72) have no
crypto extensions, like the Raspberry Pi 4's BCM2711.

qemu 10.0 has no property to switch AES/PMULL/SHA off for TCG (``-cpu cortex-a72,aes=off``
fails with "Property 'cortex-a72-arm-cpu.aes' not found") and every aarch64 model it offers
advertises them. Those models all store ID_AA64ISAR0_EL1 = 0x00011120 (AES+PMULL, SHA1, SHA2,
CRC32); the BCM2711 reads 0x00010000 (CRC32 only). qemu decides at translation time from that
register whether a crypto instruction exists, so patching the constant gives a model that
raises SIGILL on them and reports them neither in /proc/cpuinfo nor in AT_HWCAP.

The constant is found by pattern (``movq $0x11120, disp32(%reg)`` in the models' init
functions, and the same value in a 16-byte constant pool) and the result is verified by the
caller (stage.sh reads the guest's /proc/cpuinfo; pi4_cpu_check.py executes the instructions).

usage: python3 patch_qemu.py SRC DEST
"""

from __future__ import annotations

import os
import re
import sys

OLD = (0x00011120).to_bytes(4, "little")
NEW = (0x00010000).to_bytes(4, "little")
# movq $imm32, disp32(%rax..%rdi): REX.W C7 /0 with mod=10, then disp32 and imm32
MOVQ = re.compile(rb"\x48\xc7[\x80-\x87](?!\x84)....(" + re.escape(OLD) + b")", re.DOTALL)
# a 16-byte pool entry: 8 zero bytes, then the value as a 64-bit integer
POOL = re.compile(rb"\x00{8}(" + re.escape(OLD) + rb")\x00{4}", re.DOTALL)


def patch(data: bytearray) -> int:
    sites = [m.start(1) for m in MOVQ.finditer(data)]
    sites += [m.start(1) for m in POOL.finditer(data) if m.start() % 8 == 0]
    for off in sites:
        data[off:off + 4] = NEW
    return len(sites)


def main(argv: list[str]) -> int:
    src, dest = argv[1], argv[2]
    data = bytearray(open(src, "rb").read())
    n = patch(data)
    if n == 0:
        print(f"patch_qemu: no ID_AA64ISAR0 constant found in {src}", file=sys.stderr)
        return 1
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    print(f"patch_qemu: {n} sites patched -> {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
