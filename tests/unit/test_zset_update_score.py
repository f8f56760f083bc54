"""Score updates of a skiplist-encoded sorted set move the member's node (in
place when its neighbours still frame the new score, else unlinked and linked
again): after many random ZADD / ZINCRBY updates the order, ranks and spans
(ZRANGE by rank, ZRANK) agree with a sorted model, and memory is unchanged."""
import random

from conftest import assert_core_sound


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def test_random_score_updates_keep_order_and_ranks(client):
    rnd = random.Random(3)
    members = [b'm%04d' % i for i in range(600)]
    model = {m: float(rnd.randrange(1000)) for m in members}
    args = []
    for m, s in model.items():
        args += [b'%d' % s, m]
    call(client, 'ZADD', 'z', *args)
    assert call(client, 'OBJECT', 'ENCODING', 'z') == b'$8\r\nskiplist\r\n'
    before = call(client, 'MEMORY', 'USAGE', 'z')
    for step in range(4000):
        m = rnd.choice(members)
        if step % 3:
            s = float(rnd.choice([rnd.randrange(1000), model[m], model[m] + 0.5]))
            call(client, 'ZADD', 'z', b'%r' % s, m)
            model[m] = s
        else:
            call(client, 'ZINCRBY', 'z', 7, m)
            model[m] += 7
    order = sorted(model, key=lambda m: (model[m], m))
    got = call(client, 'ZRANGE', 'z', 0, -1).split(b'\r\n')[2::2]
    assert got == order
    for rank in (0, 1, 299, 598, 599):
        assert call(client, 'ZRANK', 'z', order[rank]) == b':%d\r\n' % rank
        assert call(client, 'ZRANGE', 'z', rank, rank).split(b'\r\n')[2] == order[rank]
    assert call(client, 'ZSCORE', 'z', order[0]).split(b'\r\n')[1] == (b'%.17g' % model[order[0]]).rstrip(b'.')
    assert call(client, 'MEMORY', 'USAGE', 'z') == before
    assert_core_sound()
