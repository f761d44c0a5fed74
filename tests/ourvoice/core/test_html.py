"""HTML sanitising (Mastodon's allowlist) and rendering of what local users type."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ourvoice.core.html import (
    extract_hashtags,
    extract_mentions,
    html_to_text,
    render_plain_text,
    sanitize_html,
)

ALLOWED_TAGS = {
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
SAFE_SCHEMES = {
    f"{s}:"
    for s in (
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
    )
}
_C0_AND_SPACE = "".join(chr(i) for i in range(0x21))


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(value: str) -> _Collect:
    parser = _Collect()
    parser.feed(value)
    parser.close()
    return parser


def assert_safe(output: str) -> None:
    """No script, no event handler, no style, no link outside the allowed schemes."""
    assert "<script" not in output.lower()
    for tag, attrs in parse(output).tags:
        assert tag in ALLOWED_TAGS, output
        for name, value in attrs.items():
            assert not name.startswith("on"), output
            assert name != "style", output
            if name in {"href", "src"}:
                # As a browser reads it: tabs and newlines vanish, leading controls are ignored.
                url = re.sub(r"[\t\n\r]", "", value or "").lstrip(_C0_AND_SPACE)
                scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
                assert scheme is None or f"{scheme.group(1).lower()}:" in SAFE_SCHEMES, output


# --- sanitize_html -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>hi<script>alert(1)</script></p>", "<p>hi</p>"),
        ('<p onclick="steal()" onmouseover="x">hi</p>', "<p>hi</p>"),
        ('<a href="javascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="  javascript:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="data:text/html,&lt;script&gt;">x</a>', "<a>x</a>"),
        ('<p style="position:fixed">x</p><style>p { color: red }</style>', "<p>x</p>"),
        ('<iframe src="https://evil.example/"></iframe>ok', "ok"),
        ('<img src="x" onerror="alert(1)">', ""),
        ("<svg><script>alert(1)</script></svg>", ""),
        ("<!-- hidden --><b>b</b>", "<b>b</b>"),
        ('<form action="https://evil.example"><input name="x"></form>t', "t"),
    ],
)
def test_sanitize_removes_dangerous_markup(dirty: str, clean: str):
    assert sanitize_html(dirty) == clean


def test_sanitize_keeps_mastodon_allowlist():
    value = (
        "<p>a<br>b <del>c</del> <em>d</em> <strong>e</strong> <b>f</b> <i>g</i> <u>h</u></p>"
        "<blockquote><pre><code>x = 1</code></pre></blockquote>"
        '<ul><li>one</li></ul><ol start="3" reversed=""><li value="5">two</li></ol>'
        '<p><a href="https://example.org/x" rel="nofollow noopener" translate="no">link</a></p>'
    )
    assert sanitize_html(value) == value


def test_sanitize_keeps_other_url_schemes_of_mastodon():
    for href in ("gemini://example.org/", "xmpp:me@example.org", "magnet:?xt=urn:btih:abc"):
        assert sanitize_html(f'<a href="{href}">x</a>') == f'<a href="{href}">x</a>'


def test_sanitize_keeps_microformat_classes_and_drops_others():
    mention = (
        '<span class="h-card" translate="no"><a href="https://remote.example/@bob" '
        'class="u-url mention">@<span>bob</span></a></span>'
    )
    assert sanitize_html(mention) == mention
    assert sanitize_html(
        '<a href="https://x.example/tags/t" class="mention hashtag evil" rel="tag">#t</a>'
    ) == ('<a href="https://x.example/tags/t" class="mention hashtag" rel="tag">#t</a>')
    assert sanitize_html(
        '<span class="invisible">https://</span><span class="ellipsis">example.org/long</span>'
    ) == ('<span class="invisible">https://</span><span class="ellipsis">example.org/long</span>')
    assert sanitize_html('<span class="big red">x</span>') == "<span>x</span>"
    assert sanitize_html('<span class="p-name dt-published e-content">x</span>') == (
        '<span class="p-name dt-published e-content">x</span>'
    )
    # Classes are only allowed on links and spans, as in Mastodon.
    assert sanitize_html('<p class="h-entry">x</p>') == "<p>x</p>"


def test_headings_become_strong_paragraphs():
    assert sanitize_html('<h1>Title</h1><h3 class="x">Sub</h3>text') == (
        "<p><strong>Title</strong></p><p><strong>Sub</strong></p>text"
    )
    assert sanitize_html("<H2>Loud</H2>") == "<p><strong>Loud</strong></p>"


def test_sanitize_empty():
    assert sanitize_html("") == ""


@given(st.text(max_size=300))
def test_sanitize_arbitrary_text_is_safe(value: str):
    assert_safe(sanitize_html(value))


@given(
    st.text(max_size=100),
    st.sampled_from(["javascript", "JavaScript", " javascript", "java\tscript"]),
)
def test_javascript_links_never_survive(rest: str, scheme: str):
    output = sanitize_html(f'<a href="{html.escape(scheme + ":" + rest)}">x</a>')
    for tag, attrs in parse(output).tags:
        assert tag != "a" or "href" not in attrs, output


_FRAGMENTS = st.sampled_from(
    [
        "<script>",
        "</script>",
        "<scr<script>ipt>",
        "<a href=",
        '"javascript:alert(1)"',
        "'jav&#x09;ascript:x'",
        "javascript:",
        " onclick=",
        "<img src=x onerror=alert(1)>",
        "<svg onload=x>",
        "<iframe>",
        "<style>",
        "<h1>",
        "</h1>",
        "<p>",
        "<span class='h-card evil'>",
        ">",
        "<",
        '"',
        "&",
        "<!--",
        "-->",
        "<![CDATA[",
        " ",
        "x",
    ]
)


@settings(max_examples=300)
@given(st.lists(_FRAGMENTS | st.text(max_size=5), max_size=25).map("".join))
def test_sanitize_hostile_fragments_are_safe(value: str):
    output = sanitize_html(value)
    assert_safe(output)
    assert sanitize_html(output) == output  # already clean: a second pass changes nothing


def test_html_to_text():
    assert html_to_text("<p>a<br>b</p><p>c &amp; <b>d</b></p>") == "a\nb\n\nc & d"
    assert html_to_text("") == ""


# --- render_plain_text ---------------------------------------------------------------------

KNOWN = {("bob", ""): "https://local.example/@bob", ("carol", "remote.example"): "https://r/@c"}


def render(text: str) -> str:
    return render_plain_text(
        text,
        mention_url=lambda username, domain: KNOWN.get((username.lower(), domain)),
        hashtag_url=lambda tag: f"https://local.example/tags/{tag}",
    )


def test_render_escapes_html():
    assert render('<b>hi</b> & "q" <script>x</script>') == (
        "<p>&lt;b&gt;hi&lt;/b&gt; &amp; &quot;q&quot; &lt;script&gt;x&lt;/script&gt;</p>"
    )


def test_render_paragraphs_and_line_breaks():
    assert render("a\nb\n\nc\r\nd\n\n\n\ne") == "<p>a<br>b</p><p>c<br>d</p><p>e</p>"
    assert render("  \n\n  ") == ""


def test_render_linkifies_http_urls_only():
    assert render("see https://example.org/a?b=1&c=2#frag.") == (
        '<p>see <a href="https://example.org/a?b=1&amp;c=2#frag" '
        'rel="nofollow noopener noreferrer">example.org/a?b=1&amp;c=2#frag</a>.</p>'
    )
    assert render("(http://example.org/x)") == (
        '<p>(<a href="http://example.org/x" rel="nofollow noopener noreferrer">'
        "example.org/x</a>)</p>"
    )
    assert render("javascript:alert(1) ftp://example.org") == (
        "<p>javascript:alert(1) ftp://example.org</p>"
    )


def test_render_keeps_balanced_parentheses_in_urls():
    assert render("https://en.wikipedia.org/wiki/Python_(language).") == (
        '<p><a href="https://en.wikipedia.org/wiki/Python_(language)" '
        'rel="nofollow noopener noreferrer">en.wikipedia.org/wiki/Python_(language)</a>.</p>'
    )


def test_render_links_known_mentions_only():
    rendered = render("hi @bob, @Carol@Remote.Example. and @nobody")
    assert rendered == (
        '<p>hi <span class="h-card" translate="no"><a href="https://local.example/@bob" '
        'class="u-url mention">@<span>bob</span></a></span>, '
        '<span class="h-card" translate="no"><a href="https://r/@c" '
        'class="u-url mention">@<span>Carol</span></a></span>. and @nobody</p>'
    )


def test_render_hashtags():
    assert render("#Tag, #123 x#y") == (
        '<p><a href="https://local.example/tags/tag" class="mention hashtag" rel="tag">'
        "#<span>Tag</span></a>, #123 x#y</p>"
    )


def test_render_does_not_link_inside_urls_or_emails():
    rendered = render("mail bob@local.example or https://example.org/@bob#section")
    assert "h-card" not in rendered
    assert "hashtag" not in rendered
    assert rendered.count("<a ") == 1


def test_render_output_survives_sanitising():
    rendered = render("hi @bob #tag https://example.org/x\n\nbye @carol@remote.example")
    assert sanitize_html(rendered) == rendered


@given(st.text(max_size=200))
def test_render_arbitrary_text_is_safe(value: str):
    output = render(value)
    assert_safe(output)
    assert {tag for tag, _ in parse(output).tags} <= {"p", "br", "a", "span"}


# --- extract_mentions / extract_hashtags ---------------------------------------------------


def test_extract_mentions():
    assert extract_mentions("hi @bob and @Carol@Remote.Example:8443, @bob again") == [
        ("bob", ""),
        ("Carol", "remote.example:8443"),
    ]


def test_extract_mentions_at_the_end_of_a_sentence():
    assert extract_mentions("thanks @carol@remote.example.") == [("carol", "remote.example")]
    assert extract_mentions("thanks @bob.") == [("bob", "")]


def test_emails_and_urls_are_not_mentions():
    assert extract_mentions("write to alice@example.org or see https://example.org/@bob") == []
    assert extract_mentions("me:alice@example.org @bob@") == []


def test_extract_hashtags():
    assert extract_hashtags("#Hello #world #hello #café #a1 #1a") == [
        "hello",
        "world",
        "café",
        "a1",
        "1a",
    ]


def test_numbers_url_fragments_and_entities_are_not_hashtags():
    assert extract_hashtags("#123 x#y https://example.org/page#section &#39; #") == []
