"""Hashes and sets under keys of any length (types/hash.pxi coll_root_pad): a
key ending in the last bytes of an extent page used to leave no room for the
collection's root and was refused. Every length works now, and RENAME, COPY
(to another db too) and a snapshot's rebuild commands carry the collection between key
lengths whose roots sit at different places."""
import pytest

from cachecyt import _core

LENGTHS = list(range(65510, 65537)) + [131060, 131072 - 23, 100]


def key(n, tag=b'k'):
    return (tag * n)[:n]


def fill(client, k):
    assert client.call([b'HSET', k, b'f1', b'v1', b'f2', b'v2']) == b':2\r\n'
    assert client.call([b'SADD', k + b'.s', b'a', b'b', b'7']) == b':3\r\n'


def check(client, k, sk):
    assert client.call([b'HGET', k, b'f2']) == b'$2\r\nv2\r\n'
    assert client.call([b'HLEN', k]) == b':2\r\n'
    assert client.call([b'SISMEMBER', sk, b'b']) == b':1\r\n'
    assert client.call([b'SCARD', sk]) == b':3\r\n'


@pytest.mark.parametrize("n", LENGTHS)
def test_hash_and_set_under_any_key_length(client, n):
    k = key(n)
    fill(client, k)
    check(client, k, k + b'.s')
    # grow them past their small encodings: the root is rewritten in place
    for i in range(200):
        client.call([b'HSET', k, b'field%d' % i, b'x' * 100])
        client.call([b'SADD', k + b'.s', b'member%d' % i])
    assert client.call([b'HLEN', k]) == b':202\r\n'
    assert client.call([b'SCARD', k + b'.s']) == b':203\r\n'
    assert client.call([b'TYPE', k]) == b'+hash\r\n'


@pytest.mark.parametrize("src_n,dst_n", [(100, 65513), (65513, 65536), (65530, 131060),
                                         (131060, 65520), (65536, 100), (65524, 65524)])
def test_rename_copy_move_between_key_lengths(client, src_n, dst_n):
    src, dst = key(src_n, b'a'), key(dst_n, b'b')
    fill(client, src)
    assert client.call([b'RENAME', src, dst]) == b'+OK\r\n'
    assert client.call([b'RENAME', src + b'.s', dst + b'.s']) == b'+OK\r\n'
    check(client, dst, dst + b'.s')
    cp = key(dst_n + 1 if dst_n % 2 else dst_n - 1, b'c')
    assert client.call([b'COPY', dst, cp]) == b':1\r\n'
    assert client.call([b'COPY', dst + b'.s', cp + b'.s']) == b':1\r\n'
    check(client, cp, cp + b'.s')
    check(client, dst, dst + b'.s')          # the copy is its own: both still whole
    assert client.call([b'HSET', cp, b'f3', b'v3']) == b':1\r\n'
    assert client.call([b'HLEN', dst]) == b':2\r\n'
    assert client.call([b'COPY', cp, cp, b'DB', b'3']) == b':1\r\n'
    client.call([b'SELECT', b'3'])
    assert client.call([b'HLEN', cp]) == b':3\r\n'


@pytest.mark.parametrize("n", [65513, 65524, 65536, 131060])
def test_snapshot_rebuild_of_long_keys(client, n):
    k = key(n)
    fill(client, k)
    payload = _core.serialize_key(k, 0) + _core.serialize_key(k + b'.s', 0)
    assert client.call([b'DEL', k, k + b'.s']) == b':2\r\n'
    ran, errors = _core.apply_commands(client, payload, 0, 0)
    assert errors == 0
    check(client, k, k + b'.s')
