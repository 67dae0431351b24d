"""Subscribe links and the static subscribe page: link forms, escaping, self-containment, the QR.

The browser test renders the page in Debian's headless Chromium and reads the QR code back from
the screenshot; it skips, saying what to install, where Chromium is missing.
"""

from __future__ import annotations

import io
import random
import re
import string
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from feedgen.publish.pages import GOOGLE_URL_LIMIT, cli_lines, page_html, subscribe_links

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"
FEED = f"https://cdn.example.com/feeds/{TOKEN}.ics"
HOSTILE = '<script>alert(1)</script> & "Zoë"'
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class Page(HTMLParser):
    """The parts of a page the tests look at: tags with attributes, texts by tag, anchors."""

    def __init__(self, data: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: dict[str, str] = {}
        self.anchors: list[tuple[dict[str, str], str]] = []
        self._open: list[str] = []
        self._anchor: tuple[dict[str, str], list[str]] | None = None
        self.feed(data.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag not in ("meta", "br"):
            self._open.append(tag)
        if tag == "a":
            self._anchor = (values, [])

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()
        if tag == "a" and self._anchor:
            self.anchors.append((self._anchor[0], " ".join("".join(self._anchor[1]).split())))
            self._anchor = None

    def handle_data(self, data: str) -> None:
        if self._open:
            tag = self._open[-1]
            self.texts[tag] = self.texts.get(tag, "") + data
        if self._anchor:
            self._anchor[1].append(data)

    def text(self) -> str:
        return " ".join(" ".join(self.texts.values()).split())


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


# --- links -------------------------------------------------------------------------------------


def test_link_forms() -> None:
    links = subscribe_links(FEED, "Anna")
    assert links.feed_url == FEED
    assert links.webcal == f"webcal://cdn.example.com/feeds/{TOKEN}.ics"
    assert links.google == (
        f"https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2Fcdn.example.com%2Ffeeds%2F{TOKEN}.ics"
    )
    base = f"url=https%3A%2F%2Fcdn.example.com%2Ffeeds%2F{TOKEN}.ics&name=Anna"
    assert links.outlook_web == f"https://outlook.live.com/calendar/0/addfromweb?{base}"
    assert links.outlook_365 == f"https://outlook.office.com/calendar/0/addfromweb?{base}"


def test_an_http_feed_keeps_its_scheme_for_outlook() -> None:
    links = subscribe_links("http://localhost:8000/x.ics", "Dev")
    assert links.webcal == "webcal://localhost:8000/x.ics"
    assert query(links.outlook_web)["url"] == ["http://localhost:8000/x.ics"]
    assert query(links.google)["cid"] == ["webcal://localhost:8000/x.ics"]


@pytest.mark.parametrize(
    "name",
    ["Team Nord", "Sales & Lettings", "Zoë Ødegård 日本 📅", "a=b?c#d/e+f%20", HOSTILE, ""],
)
def test_names_are_percent_encoded_into_one_parameter(name: str) -> None:
    links = subscribe_links(f"{FEED}?x=1&y=2", name)
    for url in (links.outlook_web, links.outlook_365):
        raw = urlsplit(url).query
        assert raw.isascii() and " " not in raw and raw.count("&") == 1
        assert query(url) == {"url": [f"{FEED}?x=1&y=2"], "name": [name]}
    assert query(links.google) == {"cid": [f"webcal://cdn.example.com/feeds/{TOKEN}.ics?x=1&y=2"]}


def test_google_takes_urls_up_to_its_limit() -> None:
    prefix = "https://cdn.example.com/"
    fits = prefix + "a" * (GOOGLE_URL_LIMIT - len("webcal://cdn.example.com/") - 4) + ".ics"
    assert len(subscribe_links(fits, "x").webcal) == GOOGLE_URL_LIMIT
    too_long = fits.replace(".ics", "a.ics")
    with pytest.raises(ValueError, match="256") as raised:
        subscribe_links(too_long, "x")
    assert "aaaa" not in str(raised.value)  # the URL holds the token: never in a message


@pytest.mark.parametrize(
    "url", ["ftp://cdn.example.com/x.ics", "cdn.example.com/x.ics", "https://", "webcal://a/b"]
)
def test_only_http_urls_are_taken(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        subscribe_links(url, "x")


def test_cli_lines_label_every_link() -> None:
    links = subscribe_links(FEED, HOSTILE)
    lines = cli_lines(links)
    pairs = [line.split(": ", 1) for line in lines]
    assert all(len(pair) == 2 and pair[0] for pair in pairs)
    assert {url for _, url in pairs} == {
        links.webcal,
        links.google,
        links.outlook_web,
        links.outlook_365,
    }


# --- page --------------------------------------------------------------------------------------


@pytest.fixture
def page() -> tuple[bytes, Any]:
    links = subscribe_links(FEED, HOSTILE)
    return page_html(links, HOSTILE), links


def test_a_hostile_name_is_escaped_everywhere(page: tuple[bytes, Any]) -> None:
    data, _ = page
    assert b"<script" not in data.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Zoë&quot;".encode() in data
    parsed = Page(data)
    assert HOSTILE in parsed.texts["title"]
    assert parsed.texts["h1"] == HOSTILE
    assert not any(tag in ("script", "noscript") for tag, _ in parsed.tags)
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)


def test_the_page_is_private_and_utf8(page: tuple[bytes, Any]) -> None:
    metas = [attrs for tag, attrs in Page(page[0]).tags if tag == "meta"]
    assert {"charset": "utf-8"} in metas
    assert {"name": "robots", "content": "noindex, nofollow"} in metas
    assert {"name": "referrer", "content": "no-referrer"} in metas
    csp = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_the_page_loads_nothing_from_outside(page: tuple[bytes, Any]) -> None:
    data, links = page
    parsed = Page(data)
    allowed = {
        links.webcal,
        links.google,
        links.outlook_web,
        links.outlook_365,
        "https://calendar.google.com/calendar/r/settings/addbyurl",
    }
    fetching = {"script", "img", "link", "iframe", "object", "embed", "source", "video", "audio"}
    assert not fetching & {tag for tag, _ in parsed.tags}
    for tag, attrs in parsed.tags:
        assert not {"src", "srcset", "xlink:href", "action", "formaction"} & attrs.keys()
        for key, value in attrs.items():
            if ":" in value and (tag, key) != ("meta", "content"):
                assert tag == "a" and key == "href" and value in allowed, (tag, key, value)
    style = parsed.texts["style"]
    assert "url(" not in style and "@import" not in style
    # The only URLs in the text are the feed's own, shown to copy.
    assert set(re.findall(r"\w+://\S+", parsed.text())) == {FEED}


def test_the_page_offers_every_app_and_the_address(page: tuple[bytes, Any]) -> None:
    data, links = page
    parsed = Page(data)
    buttons = [(text, a["href"]) for a, text in parsed.anchors if a.get("class") == "btn"]
    expected = [
        ("Apple Calendar", links.webcal),
        ("Google Calendar", links.google),
        ("Outlook desktop", links.webcal),
        ("Outlook.com", links.outlook_web),
        ("Microsoft 365", links.outlook_365),
    ]
    assert [href for _, href in buttons] == [href for _, href in expected]
    for (text, _), (label, _) in zip(buttons, expected, strict=True):
        assert text.startswith(label)
    assert parsed.texts["code"] == FEED
    text = parsed.text()
    for words in ("8–24 hours", "every 5 minutes", "15 minutes", "every hour", "few hours"):
        assert words in text
    assert "read-only" in text and "edit it in the CRM" in text


def test_the_page_is_deterministic() -> None:
    links = subscribe_links(FEED, "Anna")
    assert page_html(links, "Anna") == page_html(subscribe_links(FEED, "Anna"), "Anna")
    assert page_html(links, "Anna") != page_html(links, "Anne")
    other = subscribe_links(FEED.replace("abcde", "abcdf"), "Anna")
    assert page_html(links, "Anna") != page_html(other, "Anna")


def svg_to_image(svg: str, scale: int = 8) -> Any:
    """Draw segno's inline SVG path (M/m moves, h runs at half-module y) as a PIL image."""
    image_module = pytest.importorskip("PIL.Image", reason="pip install pillow")
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    path = re.search(r'class="qr-line"[^>]* d="([^"]+)"', svg) or re.search(
        r' d="([^"]+)"[^>]*class="qr-line"', svg
    )
    assert view and path, svg[:200]
    width, height = int(view[1]), int(view[2])
    pixels = bytearray(b"\xff" * (width * height))
    x = y = 0.0
    for op, args in re.findall(r"([Mmh])([-\d. ]+)", path[1]):
        nums = [float(n) for n in args.split()]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        else:
            row = int(y)
            for col in range(int(x), int(x + nums[0])):
                pixels[row * width + col] = 0
            x += nums[0]
    image = image_module.frombytes("L", (width, height), bytes(pixels))
    return image.resize((width * scale, height * scale), image_module.NEAREST)


def decode_qr(image: Any) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp", reason="pip install zxing-cpp")
    return [code.text for code in zxingcpp.read_barcodes(image) if "QR" in str(code.format)]


def test_the_pages_qr_code_decodes_to_the_feed_url(page: tuple[bytes, Any]) -> None:
    svg = re.search(r"<svg.*?</svg>", page[0].decode(), re.S)
    assert svg
    assert decode_qr(svg_to_image(svg[0])) == [FEED]


def test_the_fixed_mask_qr_code_decodes_for_any_feed_url() -> None:
    # Tokens of every shape the URL takes (random, runs of one character, the longest base URL).
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    tokens = ["".join(rng.choice(alphabet) for _ in range(43)) for _ in range(12)]
    tokens += ["A" * 43, "_" * 43, "0" * 43]
    for token in tokens:
        url = f"https://calendar-feeds.agency.example/feeds/{token}.ics"
        svg = re.search(
            r"<svg.*?</svg>", page_html(subscribe_links(url, "Anna"), "Anna").decode(), re.S
        )
        assert svg and decode_qr(svg_to_image(svg[0])) == [url], token


# --- browser -----------------------------------------------------------------------------------


def chromium(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp_path / f"profile-{name}"  # a fresh profile per run: no state between runs
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=90,
        check=True,
    )


@pytest.mark.browser
def test_chromium_renders_the_page_and_its_qr_code(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    image_module = pytest.importorskip("PIL.Image", reason="pip install pillow")
    links = subscribe_links(FEED, HOSTILE)
    html_file = tmp_path / "page.html"
    html_file.write_bytes(page_html(links, HOSTILE))
    url = html_file.as_uri()

    dom = chromium(tmp_path, "dom", "--dump-dom", url).stdout.decode()
    parsed = Page(dom.encode())
    assert parsed.texts["h1"] == HOSTILE
    assert parsed.texts["code"] == FEED
    hrefs = {a["href"] for a, _ in parsed.anchors}
    assert {links.webcal, links.google, links.outlook_web, links.outlook_365} <= hrefs
    assert "<script" not in dom.lower()

    for name, size in (("phone", (390, 2000)), ("desktop", (1280, 1400))):
        png = tmp_path / f"{name}.png"
        chromium(tmp_path, name, f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", url)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        with image_module.open(io.BytesIO(png.read_bytes())) as shot:
            assert shot.size == size
            gray = shot.convert("L")
            assert sum(1 for n in gray.histogram() if n) > 16  # text and colours, not blank
            assert decode_qr(gray) == [FEED], name
