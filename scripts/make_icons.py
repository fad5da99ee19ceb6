"""Draw the app's icons (web_client/icons/*.png) for the web app manifest; run once, commit the PNGs.

    .venv/bin/python scripts/make_icons.py

A dumbbell in the app's accent green on its panel colour (web_client/style.css). "any" icons are a
rounded square with transparent corners; "maskable" icons fill the square and keep the drawing inside
the central circle of 80% that every platform's mask leaves visible; the Apple touch icon fills its
square (iOS rounds it). Drawn 4x larger and scaled down, for smooth edges. Needs Pillow (installed
with matplotlib, a mediapipe dependency).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

PANEL = (0x18, 0x20, 0x26, 255)  # --panel
ACCENT = (0x33, 0xC4, 0x81, 255)  # --accent
ICONS = Path(__file__).resolve().parents[1] / "web_client" / "icons"
SUPERSAMPLE = 4


def draw(size: int, *, maskable: bool, rounded: bool) -> Image.Image:
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if rounded:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=PANEL)
    else:
        pen.rectangle((0, 0, big, big), fill=PANEL)
    # the dumbbell spans `span` of the width: inside the 80% safe circle when maskable
    span = 0.62 if maskable else 0.78
    left = big * (1 - span) / 2
    unit = big * span / 20  # the drawing is 20 units wide, centred
    mid = big / 2

    def box(x0: float, x1: float, half_height: float, radius: float) -> None:
        pen.rounded_rectangle(
            (left + x0 * unit, mid - half_height * unit, left + x1 * unit, mid + half_height * unit),
            radius=radius * unit,
            fill=ACCENT,
        )

    box(4.5, 15.5, 0.9, 0.4)  # the bar
    for x0 in (0.0, 17.0):  # outer plates
        box(x0, x0 + 3.0, 3.6, 0.8)
    for x0 in (2.6, 14.4):  # inner plates
        box(x0, x0 + 3.0, 5.2, 0.9)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, maskable=False, rounded=True).save(ICONS / f"icon-{size}.png", optimize=True)
        draw(size, maskable=True, rounded=False).save(ICONS / f"icon-maskable-{size}.png", optimize=True)
    draw(180, maskable=True, rounded=False).save(ICONS / "apple-touch-icon.png", optimize=True)
    print(f"wrote {', '.join(sorted(p.name for p in ICONS.glob('*.png')))} to {ICONS}")


if __name__ == "__main__":
    main()
