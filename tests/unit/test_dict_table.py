"""The nested table under hashes and sets (types/dict.pxi), seen through
commands: random elements are uniform in every encoding, the table shrinks
as elements go (memory is given back), and it keeps working across many
grow/shrink cycles."""
import collections

import pytest
from test_hash_commands import redis_defaults_client


@pytest.fixture
def c():
    yield from redis_defaults_client()


def bulks(reply):
    return reply.split(b'\r\n')[2:-1:2]


@pytest.mark.parametrize('n', [5, 50, 3000])
def test_srandmember_is_uniform(c, n):
    c('SADD', 's', *[b'm%d' % i for i in range(n)])
    draws = 40 * n if n < 1000 else 100000
    counts = collections.Counter(bulks(c('SRANDMEMBER', 's', str(-draws))))
    assert len(counts) == n
    expected = draws / n
    # bounds far in the Poisson tails (< 1e-6 per member): a biased picker, such
    # as one favouring long probe runs, still lands outside them
    assert min(counts.values()) > expected * 0.25
    assert max(counts.values()) < expected * 2.0


@pytest.mark.parametrize('n', [5, 300])
def test_hrandfield_single_is_uniform(c, n):
    c('HSET', 'h', *[x for i in range(n) for x in (b'f%d' % i, b'v')])
    counts = collections.Counter(c('HRANDFIELD', 'h').split(b'\r\n')[1] for _ in range(40 * n))
    assert len(counts) == n
    assert max(counts.values()) < 40 * 1.9


def test_table_shrinks_and_gives_memory_back(c):
    c('HSET', 'h', *[x for i in range(20000) for x in (b'f%d' % i, b'v')])
    full = int(c('MEMORY', 'USAGE', 'h')[1:-2])
    for start in range(0, 19990, 1000):
        c('HDEL', 'h', *[b'f%d' % i for i in range(start, min(start + 1000, 19990))])
    small = int(c('MEMORY', 'USAGE', 'h')[1:-2])
    assert c('HLEN', 'h') == b':10\r\n'
    assert small < full // 50
    assert sorted(bulks(c('HKEYS', 'h'))) == sorted(b'f%d' % i for i in range(19990, 20000))


def test_grow_shrink_cycles_keep_every_member(c):
    keep = [b'k%d' % i for i in range(100)]
    c('SADD', 's', *keep)
    for cycle in range(5):
        extra = [b'x%d_%d' % (cycle, i) for i in range(5000)]
        c('SADD', 's', *extra)
        assert c('SCARD', 's') == b':5100\r\n'
        c('SREM', 's', *extra)
        assert c('SMISMEMBER', 's', *keep) == b'*100\r\n' + b':1\r\n' * 100
    assert c('SCARD', 's') == b':100\r\n'
