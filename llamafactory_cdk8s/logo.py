"""The project's logo, drawn in code and encoded as PNG with only the standard library.

The mark is an orange gear (the factory) around a navy disc that contains a cream
llama head in profile. Each shape is a signed distance function in unit coordinates,
(0, 0) at the top left and (1, 1) at the bottom right, so one drawing serves every
size. A shape's value is negative inside, and between two points it changes by no
more than their distance. That bound lets the renderer fill a block of pixels from one
value at the block's centre when no edge crosses it. Edges are smoothed by turning the
distance at a pixel's centre into coverage over one pixel's width. Everything outside
the gear stays transparent.

The drawing uses only +, -, *, / and square roots, which IEEE 754 rounds exactly, and
no sin, cos or pow, whose last bit varies between C libraries. Every platform
therefore computes the same pixels.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable

Point = tuple[float, float]
Distance = Callable[[float, float], float]
Color = tuple[int, int, int]

ORANGE: Color = (232, 131, 58)
NAVY: Color = (30, 58, 95)
CREAM: Color = (250, 243, 227)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Blocks crossed by an edge are split into quarters until they are at most this many
# pixels wide, then drawn pixel by pixel. The value affects only the speed.
PER_PIXEL_BLOCK_WIDTH = 2

# zlib level 9 is fixed so the bytes never depend on zlib's default.
# NOTE: a Python linked against zlib-ng instead of zlib compresses to other bytes.
# The decoded pixels are the same with both.
COMPRESSION_LEVEL = 9


def _circle(cx: float, cy: float, radius: float) -> Distance:
    def distance(x: float, y: float) -> float:
        dx, dy = x - cx, y - cy
        return math.sqrt(dx * dx + dy * dy) - radius

    return distance


def _capsule(start: Point, end: Point, radius: float) -> Distance:
    """Build the signed distance to the points within ``radius`` of the segment from ``start`` to ``end``."""
    (ax, ay), (bx, by) = start, end
    dx, dy = bx - ax, by - ay
    length_squared = dx * dx + dy * dy

    def distance(x: float, y: float) -> float:
        t = ((x - ax) * dx + (y - ay) * dy) / length_squared
        t = min(1.0, max(0.0, t))
        ex, ey = x - ax - t * dx, y - ay - t * dy
        return math.sqrt(ex * ex + ey * ey) - radius

    return distance


def _triangle(a: Point, b: Point, c: Point) -> Distance:
    """Build the largest signed distance to the triangle's three edge lines.

    Inside, that is the exact distance to the nearest edge. Outside, it is at most the
    true distance, which is all the renderer needs, but the smoothed edge reaches a
    little beyond a sharp corner.
    """
    # Orient the edges counter-clockwise, so each normal below points outward.
    if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) < 0:
        b, c = c, b
    edges = []
    for (px, py), (qx, qy) in ((a, b), (b, c), (c, a)):
        length = math.sqrt((qx - px) * (qx - px) + (qy - py) * (qy - py))
        edges.append((px, py, (qy - py) / length, (px - qx) / length))

    def distance(x: float, y: float) -> float:
        return max((x - px) * nx + (y - py) * ny for px, py, nx, ny in edges)

    return distance


def _gear(cx: float, cy: float, body_radius: float, tip_radius: float, tooth_half_width: float) -> Distance:
    """Build a disc with eight square teeth, the first pointing right."""
    half = math.sqrt(0.5)
    directions = [(1.0, 0.0), (half, half), (0.0, 1.0), (-half, half)]
    directions += [(-ux, -uy) for ux, uy in directions]
    body = _circle(cx, cy, body_radius)

    def tooth(ux: float, uy: float, dx: float, dy: float) -> float:
        along = ux * dx + uy * dy
        across = -uy * dx + ux * dy
        return max(abs(across) - tooth_half_width, along - tip_radius, -along)

    def distance(x: float, y: float) -> float:
        dx, dy = x - cx, y - cy
        return min(body(x, y), *(tooth(ux, uy, dx, dy) for ux, uy in directions))

    return distance


def _intersection(*shapes: Distance) -> Distance:
    return lambda x, y: max(shape(x, y) for shape in shapes)


def _union(*shapes: Distance) -> Distance:
    return lambda x, y: min(shape(x, y) for shape in shapes)


def _layers() -> list[tuple[Distance, Color]]:
    """Return the logo's shapes with their colours, bottom layer first."""
    disc = _circle(0.5, 0.5, 0.33)
    llama = _union(
        _capsule((0.45, 0.43), (0.45, 0.95), 0.085),  # neck, cut off by the disc
        _capsule((0.47, 0.40), (0.64, 0.44), 0.075),  # head and snout, facing right
        _triangle((0.40, 0.37), (0.47, 0.35), (0.41, 0.20)),  # back ear
        _triangle((0.45, 0.36), (0.52, 0.35), (0.49, 0.21)),  # front ear
    )
    return [
        (_gear(0.5, 0.5, body_radius=0.40, tip_radius=0.485, tooth_half_width=0.075), ORANGE),
        (disc, NAVY),
        (_intersection(llama, disc), CREAM),
        (_circle(0.565, 0.395, 0.022), NAVY),  # eye
    ]


def _composite(coverages: list[float], colors: list[Color]) -> bytes:
    """Stack the layers bottom first with the "over" operator and return one RGBA pixel."""
    alpha = red = green = blue = 0.0
    for coverage, (r, g, b) in zip(coverages, colors):
        keep = 1.0 - coverage
        alpha = alpha * keep + coverage
        red = red * keep + r * coverage
        green = green * keep + g * coverage
        blue = blue * keep + b * coverage
    if alpha == 0.0:
        return b"\x00\x00\x00\x00"
    # PNG stores colour without premultiplied alpha.
    return bytes((round(red / alpha), round(green / alpha), round(blue / alpha), round(alpha * 255)))


def _render(size: int, per_pixel_width: int) -> list[bytes]:
    """Draw the logo into RGBA rows.

    The image is split into quarters until no edge crosses a part or the part is at
    most ``per_pixel_width`` pixels wide.
    """
    layers = _layers()
    colors = [color for _, color in layers]
    pixel = 1.0 / size
    rows = [bytearray(4 * size) for _ in range(size)]

    def draw_pixels(top: int, left: int, bottom: int, right: int, fixed: list[float | None]) -> None:
        for py in range(top, bottom):
            y = (py + 0.5) * pixel
            row = rows[py]
            for px in range(left, right):
                x = (px + 0.5) * pixel
                coverages = [
                    min(1.0, max(0.0, 0.5 - shape(x, y) * size)) if known is None else known
                    for (shape, _), known in zip(layers, fixed)
                ]
                row[4 * px : 4 * px + 4] = _composite(coverages, colors)

    def draw_block(top: int, left: int, bottom: int, right: int, fixed: list[float | None]) -> None:
        center_x = (left + right) / 2 * pixel
        center_y = (top + bottom) / 2 * pixel
        # Farthest pixel centre from the block's centre, plus the half pixel over which
        # an edge is smoothed. The margin absorbs rounding.
        width, height = right - left - 1, bottom - top - 1
        reach = (math.sqrt(width * width + height * height) / 2 + 0.5) * pixel + 1e-9

        # A shape whose edge is farther than ``reach`` covers the block fully or not at
        # all, because its distance changes no more than the position does. A shape
        # fixed for the enclosing block stays fixed.
        fixed = list(fixed)
        for index, (shape, _) in enumerate(layers):
            if fixed[index] is None:
                distance = shape(center_x, center_y)
                if abs(distance) > reach:
                    fixed[index] = float(distance < 0)

        if None not in fixed:
            uniform = _composite(fixed, colors)
            for py in range(top, bottom):
                rows[py][4 * left : 4 * right] = uniform * (right - left)
        elif right - left <= per_pixel_width and bottom - top <= per_pixel_width:
            draw_pixels(top, left, bottom, right, fixed)
        else:
            middle_y, middle_x = (top + bottom + 1) // 2, (left + right + 1) // 2
            for part_top, part_bottom in ((top, middle_y), (middle_y, bottom)):
                for part_left, part_right in ((left, middle_x), (middle_x, right)):
                    if part_top < part_bottom and part_left < part_right:
                        draw_block(part_top, part_left, part_bottom, part_right, fixed)

    draw_block(0, 0, size, size, [None] * len(layers))
    return [bytes(row) for row in rows]


def render_logo_rgba(size: int = 128) -> list[bytes]:
    """Draw the logo and return its rows, each ``size`` RGBA pixels of 4 bytes.

    Colour channels are not premultiplied, as PNG stores them. A fully transparent
    pixel is (0, 0, 0, 0).
    """
    if size < 1:
        raise ValueError(f"logo size {size!r} must be a positive number of pixels")
    return _render(size, PER_PIXEL_BLOCK_WIDTH)


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
