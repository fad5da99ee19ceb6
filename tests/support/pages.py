"""Checks of what a person sees on a page, for the browser tests of the pages (tests/test_pages.py).

- ``plain_chromium()``: Debian's Chromium through Playwright, as a browser that makes fresh contexts
  (each with its own service worker and cache), for tests that need a clean profile or go offline.
- ``small_targets(page)``: the visible controls a finger cannot hit (under 44 x 44 CSS px).
- ``focus_without_ring(page)``: what the Tab key reaches, in order, and which of it shows no ring.
- ``contrast(fg, bg)`` and ``css_colour_pairs(css)``: WCAG contrast of two colours, and the text and
  background colours a style sheet's rules set together.
(``axe_violations``, ``horizontal_overflow`` and ``widest_elements`` live in tests/support/harness.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.harness import CHROMIUM, CHROMIUM_FLAGS

TARGET_PX = 44
"""The smallest touch target (WCAG 2.5.5, Apple's and Google's guidelines)."""


@contextmanager
def plain_chromium() -> Iterator[Any]:
    """A Playwright ``Browser`` (Debian's chromium, the harness's flags, no camera file)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/setup.sh --browser (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


def small_targets(page: Any, minimum: int = TARGET_PX) -> list[str]:
    """Visible buttons, selects, inputs, summaries and navigation links smaller than ``minimum`` px
    in height (or width, for all but text fields, which are wide), each as ``tag#id.class WxH``. A
    checkbox or radio counts by its label, which is what a finger hits."""
    found: list[str] = page.evaluate(
        """(minimum) => {
            const out = [];
            const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                + (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '');
            for (const el of document.querySelectorAll('button, select, input, summary, nav a')) {
                const style = getComputedStyle(el);
                if (style.visibility === 'hidden' || el.closest('[hidden]')) continue;
                let box = el.getBoundingClientRect();
                if (box.width === 0 && box.height === 0) continue;
                const type = el.type || '';
                if (el.tagName === 'INPUT' && (type === 'checkbox' || type === 'radio')) {
                    const label = el.closest('label');
                    if (!label) { out.push(name(el) + ' (no label)'); continue; }
                    box = label.getBoundingClientRect();
                }
                const wide = el.tagName === 'INPUT' && !['checkbox', 'radio', 'file'].includes(type);
                if (box.height < minimum - 0.5 || (!wide && box.width < minimum - 0.5)) {
                    out.push(`${name(el)} ${Math.round(box.width)}x${Math.round(box.height)}`);
                }
            }
            return out;
        }""",
        minimum,
    )
    return found


def focus_without_ring(page: Any, presses: int = 30) -> tuple[list[str], list[str]]:
    """Press Tab ``presses`` times from the top of the page: (what got the focus, in order, as
    ``tag#id``; which of those showed no focus ring, an outline under 2 px)."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    reached: list[str] = []
    bare: list[str] = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const style = getComputedStyle(el);
                const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
                const label = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                    + (el.getAttribute('href') ? `[href="${el.getAttribute('href')}"]` : '');
                return {label, ring};
            }"""
        )
        if seen is None:
            continue
        if reached and seen["label"] == reached[0]:
            break  # round the page once
        reached.append(seen["label"])
        if not seen["ring"]:
            bare.append(seen["label"])
    return reached, bare


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rgb`` or ``#rrggbb``."""
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", hex_digits):
        raise ValueError(f"not a #rgb or #rrggbb colour: {colour!r}")
    r, g, b = (int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * _linear(r) + 0.7152 * _linear(g) + 0.0722 * _linear(b)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours (1 to 21)."""
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def css_variables(css: str) -> dict[str, str]:
    """The custom properties of the style sheet's ``:root`` rule (``--bg`` -> ``#0f1417``)."""
    root = re.search(r":root\s*\{([^}]*)\}", css)
    if root is None:
        return {}
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+?)\s*;", root.group(1)))


def css_colour_pairs(css: str) -> list[tuple[str, str, str]]:
    """``(selector, colour, background)`` for every rule that sets a solid background colour: with the
    rule's own text colour, or the page's (``--text``) when it sets none (what it inherits from the
    body; variables resolved; rules with anything but plain hex colours are left out)."""
    variables = css_variables(css)
    inherited = variables.get("--text", "")
    text = re.sub(r"/\*.*?\*/", "", css, flags=re.S)

    def resolve(value: str) -> str | None:
        value = value.strip()
        for _ in range(5):
            name = re.fullmatch(r"var\((--[\w-]+)\)", value)
            if name is None:
                break
            value = variables.get(name.group(1), "")
        return value if re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", value) else None

    pairs = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = dict(
            (k.strip(), v.strip()) for k, v in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body) if not k.startswith("--")
        )
        background = declarations.get("background-color", declarations.get("background"))
        if background is None:
            continue
        fg, bg = resolve(declarations.get("color", inherited)), resolve(background)
        if fg and bg:
            pairs.append((" ".join(selector.split()), fg, bg))
    return pairs
