"""Deterministic 8-bit pixel data without numpy: a gradient, a few bright "vertebrae", noise.

Frames of a run are the base frame shifted by a few rows each (a little motion), so a cine
run costs one base frame and cheap slicing, whatever its length.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_LOW4 = bytes(i & 0x0F for i in range(256))


def base_frame(rows: int, cols: int, key: str) -> bytes:
    """One ``rows`` x ``cols`` 8-bit frame, the same for the same ``key``."""
    if rows <= 0 or cols <= 0:
        raise ValueError(f'Arguments "rows" and "cols" must be positive, got {rows}x{cols}.')
    rng = random.Random(key)
    row = bytes(30 + (x * 120) // cols for x in range(cols))
    image = bytearray(row * rows)
    # Bright blocks, one per "vertebral body", down the middle of the image.
    block_h = max(1, rows // 7)
    left, right = cols * 3 // 8, cols * 5 // 8
    body = bytes([200]) * (right - left)
    for top in range(block_h // 2, rows - block_h, block_h + block_h // 3 + 1):
        for r in range(top, min(rows, top + block_h)):
            image[r * cols + left : r * cols + right] = body
    noise = rng.randbytes(rows * cols).translate(_LOW4)
    # Bytewise add without carries: every image byte is <= 200 and every noise byte <= 15.
    total = int.from_bytes(image, "little") + int.from_bytes(noise, "little")
    return total.to_bytes(rows * cols, "little")


def iter_frames(base: bytes, rows: int, cols: int, frames: int) -> Iterator[bytes]:
    """``frames`` frames, each the base frame rolled down by one more row step."""
    step = max(1, rows // 64)
    for index in range(frames):
        shift = ((index * step) % rows) * cols
        yield base[shift:] + base[:shift] if shift else base


def pixel_bytes(rows: int, cols: int, frames: int, key: str) -> bytes:
    """All frames of an instance, padded to an even length."""
    base = base_frame(rows, cols, key)
    data = b"".join(iter_frames(base, rows, cols, frames))
    return data + b"\x00" if len(data) % 2 else data
