"""A real node answers redis-py in RESP2 and RESP3."""


def test_set_get_resp2(r):
    assert r.set('a', '1') is True
    assert r.get('a') == b'1'
    assert r.incr('a') == 2


def test_hello_resp3(r3):
    assert r3.set('x', 'y') is True
    assert r3.get('x') == b'y'
    assert r3.dbsize() == 1
