from __future__ import annotations

import pytest

from aggregator.identity import canonical_url, same_site


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://Example.com/a?utm_source=x&utm_medium=rss&id=7#top", "https://example.com/a?id=7"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a?fbclid=1", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("javascript:alert(1)", ""),
        ("ftp://example.com/file", ""),
        ("not a url", ""),
        ("http://exa mple.com:99999/", ""),
    ],
)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_same_site():
    assert same_site("https://www.chicagotribune.com/a", "https://chicagotribune.com/b")
    assert not same_site("https://evil.example/a", "https://chicagotribune.com/b")
