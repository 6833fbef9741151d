"""Tests of the logo: a valid, deterministic RGBA PNG that draws something."""

from __future__ import annotations

import struct
import zlib

import pytest

from llamafactory_cdk8s.logo import (
    CREAM,
    NAVY,
    ORANGE,
    PNG_SIGNATURE,
    _render,
    encode_png,
    render_logo_png,
    render_logo_rgba,
)

Pixel = tuple[int, int, int, int]


def read_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, data) chunks, checking each length and CRC-32."""
    assert png[:8] == PNG_SIGNATURE
    chunks = []
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert len(data) == length, f"{kind!r} chunk is truncated"
        assert crc == zlib.crc32(kind + data), f"{kind!r} chunk has a bad CRC"
        chunks.append((kind, data))
        offset += 12 + length
    return chunks


def decode_pixels(png: bytes) -> list[list[Pixel]]:
    """Decode an 8-bit RGBA PNG whose rows all use filter type 0, as encode_png writes them."""
    chunks = read_chunks(png)
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color_type, interlace) == (8, 6, 0)
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    stride = 1 + 4 * width
    assert len(raw) == height * stride
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0, f"row {y} uses filter type {line[0]}"
        rows.append([tuple(line[1 + 4 * x : 5 + 4 * x]) for x in range(width)])
    return rows


@pytest.fixture(scope="module")
def logo() -> bytes:
    return render_logo_png(128)


def test_png_signature(logo):
    assert logo.startswith(PNG_SIGNATURE)


def test_critical_chunks_only(logo):
    kinds = [kind for kind, _ in read_chunks(logo)]

    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    assert set(kinds) == {b"IHDR", b"IDAT", b"IEND"}


@pytest.mark.parametrize("size", [16, 128])
def test_header_size(size):
    header = read_chunks(render_logo_png(size))[0][1]

    width, height = struct.unpack(">II", header[:8])

    assert width == size
    assert height == size


def test_decodes_all_rows(logo):
    rows = decode_pixels(logo)

    assert len(rows) == 128
    assert all(len(row) == 128 for row in rows)


def test_deterministic(logo):
    again = render_logo_png(128)

    assert again == logo


def test_flat_colours_present(logo):
    opaque = {pixel[:3] for row in decode_pixels(logo) for pixel in row if pixel[3] == 255}

    assert ORANGE in opaque
    assert NAVY in opaque
    assert CREAM in opaque


def test_corners_transparent_centre_opaque(logo):
    rows = decode_pixels(logo)

    assert rows[0][0] == (0, 0, 0, 0)
    assert rows[0][-1] == (0, 0, 0, 0)
    assert rows[-1][0] == (0, 0, 0, 0)
    assert rows[-1][-1] == (0, 0, 0, 0)
    assert rows[64][64][3] == 255


def test_edges_smoothed(logo):
    alphas = {pixel[3] for row in decode_pixels(logo) for pixel in row}

    assert len(alphas - {0, 255}) >= 4


def test_transparent_share(logo):
    pixels = [pixel for row in decode_pixels(logo) for pixel in row]

    transparent = sum(1 for pixel in pixels if pixel[3] == 0)

    # The gear's body, a disc 0.8 times the image's width, leaves about half of the
    # square clear, and the teeth cover part of that half.
    assert 0.25 * len(pixels) < transparent < 0.50 * len(pixels)


@pytest.mark.parametrize("size", [1, 37, 128])
def test_block_filling_matches_pixel_by_pixel(size):
    # With the whole image as the smallest block, every pixel is computed on its own.
    reference = _render(size, per_pixel_width=size)

    assert render_logo_rgba(size) == reference


def test_size_zero_rejected():
    with pytest.raises(ValueError, match="logo size 0"):
        render_logo_png(0)


def test_encode_png_rejects_short_row():
    with pytest.raises(ValueError, match="row 1 has 4 bytes"):
        encode_png([b"\x00" * 8, b"\x00" * 4], width=2)
