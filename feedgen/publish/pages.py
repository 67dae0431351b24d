"""Subscribe links for a feed URL, and the static page that offers them.

The page is uploaded next to the feed and served from the CDN, so it is one self-contained file:
no script, no external resource, inline CSS and an inline SVG QR code. Its URL is a secret too,
hence noindex and no-referrer. Its bytes depend on the inputs alone, so it is uploaded only when
the feed's URL changes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote

import segno

from ..model import Feed
from ..tokens import object_key, page_key

# Google Calendar refuses longer URLs in "From URL" (and so in the cid link).
GOOGLE_URL_LIMIT = 256

GOOGLE_ADD = "https://calendar.google.com/calendar/r?cid="
# Google's own "add by URL" screen: the fallback when the cid shortcut is refused.
GOOGLE_ADD_BY_URL = "https://calendar.google.com/calendar/r/settings/addbyurl"
OUTLOOK_WEB_ADD = "https://outlook.live.com/calendar/0/addfromweb"
OUTLOOK_365_ADD = "https://outlook.office.com/calendar/0/addfromweb"


@dataclass(frozen=True)
class SubscribeLinks:
    """One feed's address in every form a calendar app takes it."""

    feed_url: str
    webcal: str
    google: str
    outlook_web: str
    outlook_365: str


def feed_url(public_base_url: str, feed: Feed) -> str:
    """The feed's URL: ``<public_base_url>/<token>.ics`` (``publish.public_base_url``)."""
    return f"{public_base_url}/{object_key(feed.token)}"


def page_url(public_base_url: str, feed: Feed) -> str:
    """The URL of the feed's subscribe page."""
    return f"{public_base_url}/{page_key(feed.page_token)}"


def subscribe_links(feed_url: str, name: str) -> SubscribeLinks:
    """The subscribe links of ``feed_url``; ``name`` is what Outlook calls the calendar.

    Raises ValueError if the URL is not http(s) or is too long for Google Calendar. Messages
    never quote the URL: it holds the token.
    """
    scheme, sep, rest = feed_url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ValueError("the feed URL must start with http:// or https://")
    webcal = f"webcal://{rest}"
    if len(webcal) > GOOGLE_URL_LIMIT:
        raise ValueError(
            f"the feed URL is {len(webcal)} characters long as webcal://; Google Calendar "
            f"accepts at most {GOOGLE_URL_LIMIT}: use a shorter publish.public_base_url"
        )
    # Google rejects https:// in cid ("isn't associated with an active account"); webcal works.
    google = GOOGLE_ADD + _q(webcal)
    # New Outlook for Windows strips the webcal: scheme and fails, so Outlook gets the http(s) URL.
    query = f"?url={_q(feed_url)}&name={_q(name)}"
    return SubscribeLinks(
        feed_url=feed_url,
        webcal=webcal,
        google=google,
        outlook_web=OUTLOOK_WEB_ADD + query,
        outlook_365=OUTLOOK_365_ADD + query,
    )


def cli_lines(links: SubscribeLinks) -> list[str]:
    """The links as ``label: url`` lines for the CLI."""
    return [
        f"Apple Calendar / Outlook desktop: {links.webcal}",
        f"Google Calendar: {links.google}",
        f"Outlook.com: {links.outlook_web}",
        f"Microsoft 365: {links.outlook_365}",
    ]


def page_html(links: SubscribeLinks, name: str) -> bytes:
    """The subscribe page of one feed: UTF-8 HTML, the same bytes for the same input."""
    e = _e
    buttons = "\n".join(
        f'<a class="btn" href="{e(href)}" rel="noreferrer">'
        f"<strong>{label}</strong><small>{hint}</small></a>"
        for label, hint, href in (
            ("Apple Calendar", "iPhone, iPad, Mac", links.webcal),
            ("Google Calendar", "Android, web", links.google),
            ("Outlook desktop", "classic Outlook for Windows", links.webcal),
            ("Outlook.com", "personal Microsoft account", links.outlook_web),
            ("Microsoft 365", "work or school account", links.outlook_365),
        )
    )
    body = _BODY.format(
        name=e(name),
        buttons=buttons,
        feed_url=e(links.feed_url),
        google_by_url=e(GOOGLE_ADD_BY_URL),
        qr=_qr_svg(links.feed_url),
    )
    page = _HEAD.format(name=e(name), css=_CSS) + body
    return page.encode("utf-8")


def _q(value: str) -> str:
    # Percent-encode everything but unreserved characters, so the value is one query parameter.
    return quote(value, safe="")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


# The QR code's mask, fixed: segno otherwise draws all eight and scores each, three quarters of a
# page's cost (6.5 ms of 8.5), which a deployment's first build pays once per feed. A feed URL is a
# random token, so no mask meets the patterns the scoring avoids more than another; 4 scored best
# most often over random feed URLs. Any mask is a valid code to every reader.
QR_MASK = 4


def _qr_svg(url: str) -> str:
    qr = segno.make_qr(url, error="m", mask=QR_MASK)
    # omitsize: a viewBox only, so CSS sizes it; light modules drawn so it scans on any background.
    return str(
        qr.svg_inline(
            scale=1,
            border=4,
            dark="#000",
            light="#fff",
            omitsize=True,
            svgclass="qr",
            lineclass="qr-line",
            title="QR code of the calendar address",
        )
    )


# The CSP is defence in depth: no script could run even if an escape were ever missed.
_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" \
content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="color-scheme" content="light">
<title>Subscribe to {name}</title>
<style>{css}</style>
</head>
"""

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;line-height:1.5;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:46rem;margin:0 auto;padding:1.25rem 1rem 3rem}
header{padding:.5rem 0 1rem}
.eyebrow{margin:0;color:#4b5563;font-size:.85rem;text-transform:uppercase;letter-spacing:.06em}
h1{margin:.15rem 0 .5rem;font-size:clamp(1.4rem,6vw,1.75rem);line-height:1.25;
overflow-wrap:anywhere}
h2{margin:0 0 .75rem;font-size:1.1rem}
p{margin:.5rem 0}
section{background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:1rem 1.1rem;
margin:0 0 1rem}
.buttons{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:.6rem}
.btn{display:block;padding:.7rem .9rem;border-radius:10px;background:#1d4ed8;color:#fff;
text-decoration:none;border:1px solid #1e40af}
.btn:hover,.btn:focus{background:#1e40af}
.btn:focus-visible{outline:3px solid #93c5fd;outline-offset:2px}
.btn strong{display:block;font-size:1rem}
.btn small{display:block;color:#dbeafe;font-size:.8rem}
.note{color:#4b5563;font-size:.9rem}
a{color:#1d4ed8}
.url{display:block;padding:.7rem .8rem;background:#f9fafb;border:1px solid #d1d5db;
border-radius:8px;font:.9rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
overflow-wrap:anywhere;-webkit-user-select:all;user-select:all}
.phone{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
.phone h2{flex-basis:100%;margin:0}
.qr{width:12rem;height:12rem;flex:none;border:1px solid #e5e7eb;border-radius:8px}
.qr-line{shape-rendering:crispEdges}
.phone div{flex:1 1 14rem}
dl{margin:0}
dt{font-weight:600;margin-top:.6rem}
dd{margin:0}
"""

_BODY = """<body>
<main>
<header>
<p class="eyebrow">Calendar subscription</p>
<h1>{name}</h1>
<p>Your CRM appointments in your own calendar app. Add the calendar once: it keeps itself up
to date.</p>
</header>
<section aria-labelledby="add">
<h2 id="add">Add to your calendar</h2>
<nav class="buttons">
{buttons}
</nav>
<p class="note">New Outlook for Windows: use the Outlook.com or Microsoft 365 button. If Google
says it cannot add the calendar, open <a href="{google_by_url}" rel="noreferrer">Google
Calendar&#8217;s &#8220;From URL&#8221;</a> and paste the address below.</p>
</section>
<section aria-labelledby="copy">
<h2 id="copy">Or copy the address</h2>
<p>Paste it where your app asks for a calendar address (&#8220;From URL&#8221;, &#8220;New
calendar subscription&#8221;, &#8220;Subscribe from web&#8221;).</p>
<code class="url" id="feed-url">{feed_url}</code>
</section>
<section class="phone" aria-labelledby="phone">
<h2 id="phone">On your phone</h2>
{qr}
<div>
<p>Scan this code with the phone&#8217;s camera to get the address there.</p>
<p class="note">iPhone: Settings &#8594; Calendar &#8594; Accounts &#8594; Add Account &#8594;
Other &#8594; Add Subscribed Calendar, and paste it. Android: add it to Google Calendar on the
web; the Android app shows it by itself.</p>
</div>
</section>
<section aria-labelledby="fresh">
<h2 id="fresh">How quickly do changes show?</h2>
<dl>
<dt>Google Calendar</dt>
<dd>Google fetches the calendar every 8&#8211;24 hours. This cannot be changed.</dd>
<dt>Apple Calendar</dt>
<dd>You choose, in the subscription&#8217;s settings: for example every 5 minutes, every 15
minutes or every hour.</dd>
<dt>Outlook</dt>
<dd>Typically every few hours. Outlook on the desktop follows the refresh interval the calendar
suggests.</dd>
</dl>
<p class="note">This calendar is read-only: changes made in the calendar app are not sent back.
To change an appointment, edit it in the CRM.</p>
<p class="note">Keep this page and the address to yourself: anyone who has them can read the
calendar. If they get out, ask for a new address; the old one then stops working.</p>
</section>
</main>
</body>
</html>
"""
