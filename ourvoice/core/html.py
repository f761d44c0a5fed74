"""HTML sanitising (nh3, Mastodon's allowlist) and plain-text → HTML rendering for local posts.

Everything here is a pure function: no models, no settings reads except through arguments.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import nh3

# Mastodon's allowlist (docs "Sanitization"); headings are reduced to <p><strong> first.
_TAGS = {
    "p",
    "br",
    "span",
    "a",
    "del",
    "pre",
    "code",
    "em",
    "strong",
    "b",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "blockquote",
}
_ATTRIBUTES = {
    "a": {"href", "rel", "class", "translate"},
    "span": {"class", "translate"},
    "ol": {"start", "reversed"},
    "li": {"value"},
}
_URL_SCHEMES = {
    "http",
    "https",
    "dat",
    "dweb",
    "ipfs",
    "ipns",
    "ssb",
    "gopher",
    "xmpp",
    "magnet",
    "gemini",
}
_CLASS_PREFIXES = ("h-", "p-", "u-", "dt-", "e-")
_CLASS_NAMES = {"mention", "hashtag", "ellipsis", "invisible"}
_HEADING = re.compile(r"<(/?)h[1-6](\s[^>]*)?>", re.IGNORECASE)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        kept = [c for c in value.split() if c in _CLASS_NAMES or c.startswith(_CLASS_PREFIXES)]
        return " ".join(kept) or None
    return value


def _headings_to_strong(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        return "</strong></p>" if match.group(1) else "<p><strong>"

    return _HEADING.sub(repl, value)


def sanitize_html(value: str) -> str:
    """Reduce untrusted HTML to Mastodon's allowlist (no scripts, handlers or javascript: links)."""
    if not value:
        return ""
    return nh3.clean(
        _headings_to_strong(value),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_filter_attribute,
        link_rel=None,
        strip_comments=True,
    )


def html_to_text(value: str) -> str:
    """Plain text of sanitised HTML (paragraphs and line breaks become newlines)."""
    value = re.sub(r"<br\s*/?>", "\n", value or "", flags=re.IGNORECASE)
    value = re.sub(r"</p>\s*<p[^>]*>", "\n\n", value, flags=re.IGNORECASE)
    value = nh3.clean(value, tags=set())
    return html.unescape(value).strip()


# The domain's labels may not end with "." or "-", so a sentence ending in a remote mention
# ("thanks @bob@example.org.") still links it, with the same domain `extract_mentions` reports.
MENTION_RE = re.compile(
    r"(?<![\w/@])@(?P<username>[a-zA-Z0-9_]+(?:[.-]+[a-zA-Z0-9_]+)*)"
    r"(?:@(?P<domain>[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?))?(?![\w@])"
)
HASHTAG_RE = re.compile(
    r"(?<![\w/&#])#(?P<tag>[^\W\d_][\w]{0,99}|\d+[^\W\d][\w]{0,98})", re.UNICODE
)
# Balanced parentheses stay in the URL (Wikipedia's "Python_(programming_language)"); an
# unbalanced closing one and trailing punctuation end it ("(see https://example.org/a).").
URL_RE = re.compile(r"https?://(?:[^\s<>\"'()]|\([^\s<>\"'()]*\))+(?<![.,;:!?\]])", re.IGNORECASE)


def extract_mentions(text: str) -> list[tuple[str, str]]:
    """(username, domain) pairs mentioned in plain text, domain "" when none was written."""
    seen: dict[tuple[str, str], None] = {}
    for m in MENTION_RE.finditer(_without_urls(text)):
        seen[(m.group("username"), (m.group("domain") or "").lower().rstrip("."))] = None
    return list(seen)


def extract_hashtags(text: str) -> list[str]:
    """Lowercased hashtag names in plain text, in order of first appearance."""
    seen: dict[str, None] = {}
    for m in HASHTAG_RE.finditer(_without_urls(text)):
        seen[m.group("tag").lower()] = None
    return list(seen)


def _without_urls(text: str) -> str:
    return URL_RE.sub(lambda m: " " * len(m.group(0)), text)


def render_plain_text(
    text: str,
    *,
    mention_url: Callable[[str, str], str | None],
    hashtag_url: Callable[[str], str],
) -> str:
    """Turn what a user typed into safe HTML: paragraphs, line breaks, links, mentions, tags.

    `mention_url(username, domain)` returns the profile URL of a known account, or None to
    leave the text as typed.
    """
    tokens: list[tuple[int, int, str]] = []
    for m in URL_RE.finditer(text):
        url = m.group(0)
        shown = html.escape(url.split("://", 1)[1])
        tokens.append(
            (
                m.start(),
                m.end(),
                f'<a href="{html.escape(url)}" rel="nofollow noopener noreferrer">{shown}</a>',
            ),
        )
    masked = _without_urls(text)
    for m in MENTION_RE.finditer(masked):
        url = mention_url(m.group("username"), (m.group("domain") or "").lower())
        if url:
            tokens.append(
                (
                    m.start(),
                    m.end(),
                    f'<span class="h-card" translate="no"><a href="{html.escape(url)}" '
                    f'class="u-url mention">@<span>{html.escape(m.group("username"))}</span></a>'
                    "</span>",
                ),
            )
    for m in HASHTAG_RE.finditer(masked):
        tag = m.group("tag")
        tokens.append(
            (
                m.start(),
                m.end(),
                f'<a href="{html.escape(hashtag_url(tag.lower()))}" class="mention hashtag" '
                f'rel="tag">#<span>{html.escape(tag)}</span></a>',
            ),
        )
    tokens.sort()
    out: list[str] = []
    pos = 0
    for start, end, replacement in tokens:
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(replacement)
        pos = end
    out.append(html.escape(text[pos:]))
    body = "".join(out).replace("\r\n", "\n").strip()
    paragraphs = [p for p in re.split(r"\n{2,}", body) if p.strip()]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
