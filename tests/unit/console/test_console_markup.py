"""The console's one rendering helper escapes everything it did not make itself."""

from __future__ import annotations

from agentcage.console.markup import Html, escape, join, render, url_part


def test_render_escapes_text_from_models_and_tools_in_content_and_attributes() -> None:
    hostile = '<script>window.pwned=1</script>" onmouseover="x'

    html = render('<p title="{v}">{v}</p>', v=hostile)

    assert "<script>" not in html
    assert '" onmouseover' not in html
    assert html == (
        '<p title="&lt;script&gt;window.pwned=1&lt;/script&gt;&quot; onmouseover=&quot;x">'
        "&lt;script&gt;window.pwned=1&lt;/script&gt;&quot; onmouseover=&quot;x</p>"
    )


def test_html_made_by_render_is_not_escaped_twice_and_braces_in_values_stay_text() -> None:
    inner = render("<b>{v}</b>", v="a & b")

    outer = render("<p>{inner} {braces}</p>", inner=inner, braces="{inner}")

    assert outer == "<p><b>a &amp; b</b> {inner}</p>"
    assert isinstance(outer, Html)


def test_numbers_keep_their_format_and_none_is_empty() -> None:
    assert render("{x:.1f}|{n}|{none}", x=2.25, n=3, none=None) == "2.2|3|"


def test_join_escapes_each_part_and_url_part_encodes_every_reserved_character() -> None:
    assert join(["<a>", Html("<b>")], ", ") == "&lt;a&gt;, <b>"
    assert escape(Html("<i>")) == "<i>"
    assert url_part("task-1/../x?y=<z>") == "task-1%2F..%2Fx%3Fy%3D%3Cz%3E"
