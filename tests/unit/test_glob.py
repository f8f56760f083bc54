"""Glob matching (types/glob.pxi) against cases whose answers were taken from
redis-server 7.0's KEYS: every quirk of stringmatchlen is pinned here."""
import time

import pytest

from cachecyt import _core

glob_match = _core.glob_match

CASES = [
    # (pattern, string, matches)
    (b'', b'', True), (b'', b'a', False), (b'a', b'', False),
    (b'*', b'', False), (b'**', b'', False), (b'?', b'', False), (b'?*', b'', False),
    (b'hello', b'hello', True), (b'hello', b'hell', False),
    (b'h?llo', b'hallo', True), (b'h?llo', b'hllo', False),
    (b'h*llo', b'hllo', True), (b'h*llo', b'heeeello', True),
    (b'a*', b'a', True), (b'a**', b'a', True), (b'*?', b'a', True), (b'***x', b'x', True),
    (b'*a*b*c', b'xaybzc', True), (b'*a*b*c', b'xaybz', False),
    (b'user:*:name', b'user:1:name', True), (b'user:*:name', b'user:1:nam', False),
    # sets and ranges
    (b'h[ae]llo', b'hello', True), (b'h[ae]llo', b'hillo', False),
    (b'h[^e]llo', b'hallo', True), (b'h[^e]llo', b'hello', False),
    (b'h[a-b]llo', b'hbllo', True), (b'h[a-b]llo', b'hcllo', False),
    (b'h[b-a]llo', b'hallo', True),                     # reversed range
    (b'[a-z]*', b'Abc', False), (b'[A-Za-z0-9]', b'5', True),
    (b'[!a]', b'b', False), (b'[!a]', b'!', True),       # '!' is not negation
    (b'x[-a]', b'x-', True), (b'x[a-c-e]', b'xd', False), (b'x[a-c-e]', b'x-', True),
    (b'[]', b']', False), (b'[]]', b']', False),        # ']' right after '[' closes it
    (b'[a-]', b'a', True), (b'[a-]', b']', True),        # "a-]" is the range ']'..'a'
    (b'[a-]x', b'a', True), (b'[a-]x]', b'ax', False),
    # a set left open runs to the end of the pattern
    (b'[abc', b'c', True), (b'[abc', b'cd', False), (b'a[b', b'ab', True),
    (b'[', b'[', False), (b'[', b'a', False), (b'[^', b'a', True), (b'*[', b'ab[', False),
    # escapes
    (b'h\\*llo', b'h*llo', True), (b'h\\*llo', b'hxllo', False),
    (b'[\\]]', b']', True), (b'[\\-]', b'-', True), (b'[\\', b'\\', True), (b'[ab\\', b'\\', True),
    (b'\\', b'\\', True), (b'a\\', b'a\\', True), (b'a\\', b'a', False), (b'*\\', b'a\\', True),
    (b'?[?]?', b'a?b', True),
    # bytes >= 0x80 compare as signed chars
    (b'[\x80-\xff]', b'\x90', True), (b'[a-\xff]', b'\xff', True),
    (b'[a-\xff]', b'\x10', True), (b'[a-\xff]', b'\x90', False), (b'[^a]', b'\x00', True),
]


@pytest.mark.parametrize('pattern,string,expected', CASES)
def test_matches_as_redis(pattern, string, expected):
    assert glob_match(pattern, string) is expected


def test_star_nesting_is_limited_to_1000():
    key = b'a' * 1100
    assert glob_match(b'*a' * 1000, key) is True
    assert glob_match(b'*a' * 1001, key) is False


def test_hostile_pattern_is_cheap():
    # without pruning, each star retries every split: exponential in the stars
    start = time.monotonic()
    assert glob_match(b'*a' * 40 + b'b', b'a' * 200) is False
    assert glob_match(b'a*' * 40 + b'b', b'a' * 200) is False
    assert time.monotonic() - start < 1.0


def test_binary_and_nul_bytes():
    assert glob_match(b'a\x00*', b'a\x00bc') is True
    assert glob_match(b'a?c', b'a\x00c') is True
    assert glob_match(b'a\x00c', b'a\x01c') is False
