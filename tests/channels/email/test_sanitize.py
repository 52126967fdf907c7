"""sanitize_html: what a mail's HTML keeps, what it loses, and how images are handled."""

from __future__ import annotations

import pytest

from omnistream.channels.email.sanitize import sanitize_html

NO_LINK = '<a target="_blank" rel="noopener noreferrer nofollow">x</a>'  # text kept, href gone
MEDIA = {"logo@example.com": "/api/media/42", "photo 1@example.com": "https://app.test/m/9"}


def clean(html: str) -> str:
    return sanitize_html(html, cid_url=MEDIA.get)


def test_formatting_of_mail_is_kept() -> None:
    html = (
        '<p align="center">Hi <b>there</b>, <i>see</i> <u>this</u>:</p>'
        "<ul><li>one</li></ul><blockquote>quoted</blockquote><pre>code</pre>"
        '<table border="0" cellpadding="4"><tr><td colspan="2">cell</td></tr></table>'
        '<font color="#336699" face="Arial">old style</font>'
    )
    assert clean(html) == (
        '<p align="center">Hi <b>there</b>, <i>see</i> <u>this</u>:</p>'
        "<ul><li>one</li></ul><blockquote>quoted</blockquote><pre>code</pre>"
        '<table border="0" cellpadding="4"><tbody><tr><td colspan="2">cell</td></tr></tbody>'
        '</table><font color="#336699" face="Arial">old style</font>'
    )
    assert clean(clean(html)) == clean(html)


def test_scripts_go_with_their_content() -> None:
    assert clean("<p>a</p><script>alert(1)</script><p>b</p>") == "<p>a</p><p>b</p>"
    assert clean("<style>p{}</style><title>t</title>x") == "x"


@pytest.mark.parametrize(
    "html",
    [
        '<img src="x" onerror="alert(1)">',
        '<body onload="alert(1)">',
        '<div onmouseover="alert(1)">',
        '<svg><animate onbegin="alert(1)"/></svg>',
        '<a href="#" onclick="alert(1)">',
    ],
)
def test_event_handlers_are_removed(html: str) -> None:
    assert "alert" not in clean(html)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "  javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "java\nscript:alert(1)",
        "&#106;avascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    ],
)
def test_dangerous_links_lose_their_href(href: str) -> None:
    assert clean(f'<a href="{href}">x</a>') == NO_LINK


def test_links_open_in_a_new_tab_without_opener_or_referrer() -> None:
    assert clean(
        '<a href="https://example.com/a?b=1&amp;c=2" target="_self" rel="opener">x</a>'
    ) == (
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer nofollow">x</a>'
    )
    assert clean('<a href="mailto:help@example.com">mail</a>').startswith(
        '<a href="mailto:help@example.com" target="_blank"'
    )


def test_relative_links_are_dropped() -> None:
    assert clean('<a href="/admin/settings">x</a>') == NO_LINK
    assert clean('<a href="#top">x</a>') == NO_LINK


def test_remote_images_are_not_loaded() -> None:
    assert clean('<img src="https://tracker.example/p.gif?id=1&amp;u=2" alt="">') == (
        '<img data-remote-src="https://tracker.example/p.gif?id=1&amp;u=2" alt="">'
    )
    assert clean('<img src="HTTP://tracker.example/p.gif">') == (
        '<img data-remote-src="HTTP://tracker.example/p.gif">'
    )
    # Protocol-relative and relative sources would load from somewhere: dropped.
    assert clean('<img src="//tracker.example/p.gif">') == "<img>"
    assert clean('<img src="/api/media/1">') == "<img>"


def test_remote_image_source_cannot_smuggle_a_script_url() -> None:
    assert clean('<img data-remote-src="javascript:alert(1)">') == "<img>"
    out = clean('<img src="https://x.example/a&quot;onerror=&quot;alert(1)">')
    assert "onerror=" not in out.replace("&quot;onerror=&quot;", "")
    assert "<img data-remote-src=" in out and " src=" not in out


def test_cid_images_use_the_media_url() -> None:
    assert clean('<img src="cid:logo@example.com" alt="Logo">') == (
        '<img src="/api/media/42" alt="Logo">'
    )
    # The cid: URL is URL-encoded (RFC 2392); angle brackets are tolerated.
    assert clean('<img src="cid:photo%201@example.com">') == '<img src="https://app.test/m/9">'
    assert clean('<img src="cid:&lt;logo@example.com&gt;">') == '<img src="/api/media/42">'
    assert clean('<img src="cid:unknown@example.com" alt="x">') == '<img alt="x">'


def test_cid_sources_kept_at_parse_time_are_rewritten_later() -> None:
    kept = sanitize_html(
        '<img src="cid:logo@example.com"><img src="https://t.example/x.gif">',
        cid_url=lambda content_id: f"cid:{content_id}",
    )
    assert kept == '<img src="cid:logo@example.com"><img data-remote-src="https://t.example/x.gif">'
    assert clean(kept) == '<img src="/api/media/42"><img data-remote-src="https://t.example/x.gif">'


def test_data_images_are_kept_other_data_urls_are_not() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    assert clean(f'<img src="{png}">') == f'<img src="{png}">'
    assert clean('<img src="data:image/svg+xml;base64,PHN2Zz4=">') == "<img>"
    assert clean('<img src="data:text/html,hi">') == "<img>"


def test_style_keeps_only_properties_that_fetch_nothing_and_stay_in_place() -> None:
    out = clean(
        '<p style="color: red; background-image: url(https://t.example/bg.gif); '
        'position: fixed; font-weight: bold; background: url(https://t.example/2.gif)">x</p>'
    )
    assert out == '<p style="color:red;font-weight:bold">x</p>'


def test_class_id_style_elements_frames_and_forms_are_removed() -> None:
    out = clean(
        '<div class="btn-primary" id="app">x</div><iframe src="https://e.example"></iframe>'
        '<form action="https://e.example"><input name="p"><button>go</button></form>'
        '<object data="x.swf"></object><table background="https://t.example/t.gif"></table>'
    )
    assert out == "<div>x</div>go<table></table>"


def test_comments_and_conditional_comments_are_removed() -> None:
    assert clean("a<!--[if mso]><script>alert(1)</script><![endif]-->b") == "ab"


def test_text_is_escaped_and_entities_survive() -> None:
    assert clean("1 &lt; 2 &amp; 3 &gt; 2 &lt;script&gt;") == (
        "1 &lt; 2 &amp; 3 &gt; 2 &lt;script&gt;"
    )


def test_empty_html_gives_empty_output() -> None:
    assert clean("") == ""
    assert clean("   \n") == ""
