"""UNLINK detaches keys under their shard locks and frees them after: a big
collection in the worker's lazy-free thread, anything small at once. Either
way the key is gone when UNLINK answers and every chunk comes back (the
invariant walk after each test checks the allocator balances)."""
from cachecyt import _core


def used(client):
    info = client.call([b'INFO', b'memory']).decode()
    return {k: int(v) for k, v in (line.split(':', 1) for line in info.split('\r\n')
                                    if line.startswith(('used_memory:', 'lazyfree')))}


def test_unlink_of_a_big_collection_is_freed_by_the_thread(client):
    base = used(client)
    for cmd, key in ((b'SADD', b's'), (b'HSET', b'h'), (b'RPUSH', b'l'), (b'ZADD', b'z')):
        for i in range(0, 5000, 500):
            args = [cmd, key]
            for j in range(i, i + 500):
                args += ([b'f%d' % j, b'v'] if cmd == b'HSET' else [b'%d' % j, b'm%d' % j]
                         if cmd == b'ZADD' else [b'e%d' % j])
            client.call(args)
    assert client.call([b'UNLINK', b's', b'h', b'l', b'z', b'missing']) == b':4\r\n'
    assert client.call([b'EXISTS', b's', b'h', b'l', b'z']) == b':0\r\n'
    assert _core.lazyfree_wait()
    after = used(client)
    assert after['used_memory'] == base['used_memory']
    assert after['lazyfreed_objects'] - base['lazyfreed_objects'] >= 3   # the list has few nodes
    assert after['lazyfree_pending_objects'] == 0


def test_unlink_of_small_values_frees_them_at_once(client):
    base = used(client)
    client.call([b'SET', b'a', b'x' * 100])
    client.call([b'SADD', b'b', b'1', b'2'])
    assert client.call([b'UNLINK', b'a', b'b']) == b':2\r\n'
    after = used(client)
    assert after['used_memory'] == base['used_memory']
    assert after['lazyfreed_objects'] == base['lazyfreed_objects']
