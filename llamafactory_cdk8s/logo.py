"""The project's logo, drawn in code and encoded as PNG with only the standard library.

The mark is an orange gear (the factory) around a navy disc that contains a cream
llama head in profile. Shapes are defined in unit coordinates, (0, 0) at the top left and
(1, 1) at the bottom right, so one drawing serves every size. Each pixel averages a
4 x 4 grid of samples, which smooths the edges, and everything outside the gear stays
transparent.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable

Point = tuple[float, float]
Shape = Callable[[float, float], bool]
Color = tuple[int, int, int]

ORANGE: Color = (232, 131, 58)
NAVY: Color = (30, 58, 95)
CREAM: Color = (250, 243, 227)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Samples per pixel along each axis. The 16 samples give edge pixels 17 levels of
# coverage.
SAMPLES_PER_AXIS = 4

# zlib level 9 is fixed so the bytes never depend on zlib's default.
# NOTE: a Python linked against zlib-ng instead of zlib compresses to other bytes.
# The decoded pixels are the same with both.
COMPRESSION_LEVEL = 9


def _circle(cx: float, cy: float, radius: float) -> Shape:
    def contains(x: float, y: float) -> bool:
        return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2

    return contains


def _capsule(start: Point, end: Point, radius: float) -> Shape:
    """Build the set of points within ``radius`` of the segment from ``start`` to ``end``."""
    (ax, ay), (bx, by) = start, end
    dx, dy = bx - ax, by - ay
    length_squared = dx * dx + dy * dy

    def contains(x: float, y: float) -> bool:
        t = ((x - ax) * dx + (y - ay) * dy) / length_squared
        t = min(1.0, max(0.0, t))
        return (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2 <= radius**2

    return contains


def _triangle(a: Point, b: Point, c: Point) -> Shape:
    def side(p: Point, q: Point, x: float, y: float) -> float:
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    def contains(x: float, y: float) -> bool:
        signs = (side(a, b, x, y), side(b, c, x, y), side(c, a, x, y))
        return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)

    return contains


def _gear(cx: float, cy: float, body_radius: float, tip_radius: float, tooth_half_width: float) -> Shape:
    """Build a disc with eight square teeth, the first pointing right.

    Tooth directions come from ``math.sqrt`` rather than ``sin`` and ``cos``, because
    IEEE 754 requires a correctly rounded square root, so every platform draws the
    same pixels.
    """
    half = math.sqrt(0.5)
    directions = [(1.0, 0.0), (half, half), (0.0, 1.0), (-half, half)]
    directions += [(-dx, -dy) for dx, dy in directions]
    body = _circle(cx, cy, body_radius)

    def contains(x: float, y: float) -> bool:
        if body(x, y):
            return True
        dx, dy = x - cx, y - cy
        # Only the tooth whose direction is nearest can contain the point.
        ux, uy = max(directions, key=lambda d: d[0] * dx + d[1] * dy)
        along = ux * dx + uy * dy
        across = -uy * dx + ux * dy
        return along <= tip_radius and abs(across) <= tooth_half_width

    return contains


def _clipped(shape: Shape, clip: Shape) -> Shape:
    return lambda x, y: clip(x, y) and shape(x, y)


def _any_of(*shapes: Shape) -> Shape:
    return lambda x, y: any(shape(x, y) for shape in shapes)


def _layers() -> list[tuple[Shape, Color]]:
    """Return the logo's shapes with their colours, bottom layer first."""
    disc = _circle(0.5, 0.5, 0.33)
    llama = _any_of(
        _capsule((0.45, 0.43), (0.45, 0.95), 0.085),  # neck, cut off by the disc
        _capsule((0.47, 0.40), (0.64, 0.44), 0.075),  # head and snout, facing right
        _triangle((0.40, 0.37), (0.47, 0.35), (0.41, 0.20)),  # back ear
        _triangle((0.45, 0.36), (0.52, 0.35), (0.49, 0.21)),  # front ear
    )
    return [
        (_gear(0.5, 0.5, body_radius=0.40, tip_radius=0.485, tooth_half_width=0.075), ORANGE),
        (disc, NAVY),
        (_clipped(llama, disc), CREAM),
        (_circle(0.565, 0.395, 0.022), NAVY),  # eye
    ]


def _topmost_color(layers: list[tuple[Shape, Color]], x: float, y: float) -> Color | None:
    for shape, color in reversed(layers):
        if shape(x, y):
            return color
    return None


def render_logo_rgba(size: int = 128) -> list[bytes]:
    """Draw the logo and return its rows, each ``size`` RGBA pixels of 4 bytes.

    Colour channels are not premultiplied, as PNG stores them. A fully transparent
    pixel is (0, 0, 0, 0).
    """
    if size < 1:
        raise ValueError(f"logo size {size!r} must be a positive number of pixels")

    layers = _layers()
    samples = SAMPLES_PER_AXIS * SAMPLES_PER_AXIS
    offsets = [(i + 0.5) / SAMPLES_PER_AXIS for i in range(SAMPLES_PER_AXIS)]
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            covered = red = green = blue = 0
            for oy in offsets:
                for ox in offsets:
                    color = _topmost_color(layers, (px + ox) / size, (py + oy) / size)
                    if color is not None:
                        covered += 1
                        red += color[0]
                        green += color[1]
                        blue += color[2]
            if covered == 0:
                row += b"\x00\x00\x00\x00"
                continue
            # Integer division rounds half up, so no float reaches the channel values.
            row += bytes(
                (
                    (red + covered // 2) // covered,
                    (green + covered // 2) // covered,
                    (blue + covered // 2) // covered,
                    (255 * covered + samples // 2) // samples,
                )
            )
        rows.append(bytes(row))
    return rows


def _chunk(kind: bytes, data: bytes) -> bytes:
    """Frame one PNG chunk: length, type, data and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(rows: list[bytes], width: int) -> bytes:
    """Encode 8-bit RGBA rows as a PNG with no ancillary chunks, so no timestamp.

    Every row uses filter type 0 (None), because the flat colours compress well
    without prediction.
    """
    for index, row in enumerate(rows):
        if len(row) != 4 * width:
            raise ValueError(f"row {index} has {len(row)} bytes; {width} RGBA pixels need {4 * width}")

    # Bit depth 8, colour type 6 (RGBA), deflate, adaptive filtering, no interlace.
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, COMPRESSION_LEVEL))
        + _chunk(b"IEND", b"")
    )


def render_logo_png(size: int = 128) -> bytes:
    """Draw the logo as a ``size`` x ``size`` PNG with a transparent background.

    The same size always gives the same bytes from the same zlib build, so the file
    can be committed and compared.
    """
    return encode_png(render_logo_rgba(size), size)
