"""Draws the application icon, resources/icon.png (256x256): a film frame with a play mark on a
violet gradient. Run again after changing the drawing; the build makes .ico/.icns from it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "resources" / "icon.png"


def draw(size: int = SIZE) -> Image.Image:
    scale = 4  # draw large, shrink: smooth edges without an anti-aliasing library
    big = size * scale
    gradient = Image.new("RGB", (1, big))
    for y in range(big):
        t = y / (big - 1)
        gradient.putpixel((0, y), (int(124 - 60 * t), int(77 - 30 * t), int(255 - 70 * t)))
    background = gradient.resize((big, big))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=255)
    icon = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    icon.paste(background, (0, 0), mask)
    pen = ImageDraw.Draw(icon)
    margin, strip = big * 0.16, big * 0.12
    frame = (margin, margin + strip * 0.4, big - margin, big - margin - strip * 0.4)
    pen.rounded_rectangle(frame, radius=big * 0.04, fill=(20, 16, 40, 235))
    hole = big * 0.045
    for i in range(6):
        x = margin + big * 0.05 + i * (big - 2 * margin - big * 0.1) / 5
        for y in (frame[1] + big * 0.04, frame[3] - big * 0.04 - hole):
            pen.rounded_rectangle((x - hole / 2, y, x + hole / 2, y + hole), radius=hole * 0.3,
                                  fill=(235, 230, 255, 255))
    cx, cy, r = big / 2, big / 2, big * 0.17
    pen.polygon([(cx - r * 0.7, cy - r), (cx - r * 0.7, cy + r), (cx + r, cy)],
                fill=(255, 196, 64, 255))
    return icon.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    draw().save(OUT)
    print(OUT)
