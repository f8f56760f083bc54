"""The command table: the one list of every command the server knows.

Each entry: name, arity, flags, first key, last key, key step, ACL categories.
Arity as Redis: N means exactly N arguments counting the name, -N at least N.
Key positions as Redis's legacy COMMAND fields (last -1 = to the end).

Flags (Redis's meaning):
  write     may modify the keyspace
  readonly  only reads keys
  denyoom   may grow memory: refused with -OOM when maxmemory cannot be met
  admin     administrative (CONFIG, SHUTDOWN ...)
  fast      O(1) or O(log n)
  noauth    allowed before AUTH
  loading   allowed while loading data
  stale     allowed on a stale replica
  noscript  not allowed from Lua
  pubsub    pub/sub related
  blocking  may block the client
  random    non-deterministic result
  movablekeys  keys not described by first/last/step (found from numkeys ...)
  allow_busy  runs while a script of another worker is busy (shm/script.pxi)
  ok-loading, no-multi: see Redis's docs

Handlers: a command is served by the Cython function `cmd_<name>` when the core
defines it, otherwise by the Python function `<name>` registered in
cachecyt.commands.server.HANDLERS (admin commands, off the hot path).
"""

C = 'connection'
S = 'string'
K = 'keyspace'
V = 'server'
H = 'hash'
T = 'set'
Z = 'sortedset'
L = 'list'
X = 'transaction'
SC = 'scripting'
P = 'pubsub'
B = 'bitmap'
G = 'geo'
HL = 'hyperloglog'

COMMANDS = [
    # name, arity, flags, first, last, step, group
    ('get', 2, 'readonly fast', 1, 1, 1, S),
    ('set', -3, 'write denyoom', 1, 1, 1, S),
    ('setnx', 3, 'write denyoom fast', 1, 1, 1, S),
    ('setex', 4, 'write denyoom', 1, 1, 1, S),
    ('psetex', 4, 'write denyoom', 1, 1, 1, S),
    ('getset', 3, 'write denyoom fast', 1, 1, 1, S),
    ('getdel', 2, 'write fast', 1, 1, 1, S),
    ('getex', -2, 'write fast', 1, 1, 1, S),
    ('mget', -2, 'readonly fast', 1, -1, 1, S),
    ('mset', -3, 'write denyoom', 1, -1, 2, S),
    ('msetnx', -3, 'write denyoom', 1, -1, 2, S),
    ('append', 3, 'write denyoom fast', 1, 1, 1, S),
    ('strlen', 2, 'readonly fast', 1, 1, 1, S),
    ('getrange', 4, 'readonly', 1, 1, 1, S),
    ('substr', 4, 'readonly', 1, 1, 1, S),
    ('setrange', 4, 'write denyoom', 1, 1, 1, S),
    # HyperLogLog (types/hll.pxi)
    ('pfadd', -2, 'write denyoom fast', 1, 1, 1, HL),
    ('pfcount', -2, 'readonly', 1, -1, 1, HL),
    ('pfmerge', -2, 'write denyoom', 1, -1, 1, HL),
    ('pfdebug', 3, 'write denyoom admin', 2, 2, 1, HL),
    ('pfselftest', 1, 'admin', 0, 0, 0, HL),
    ('incr', 2, 'write denyoom fast', 1, 1, 1, S),
    ('decr', 2, 'write denyoom fast', 1, 1, 1, S),
    ('incrby', 3, 'write denyoom fast', 1, 1, 1, S),
    ('decrby', 3, 'write denyoom fast', 1, 1, 1, S),
    ('incrbyfloat', 3, 'write denyoom fast', 1, 1, 1, S),
    ('lcs', -3, 'readonly', 1, 2, 1, S),
    # bitmaps (types/bits.pxi)
    ('setbit', 4, 'write denyoom', 1, 1, 1, B),
    ('getbit', 3, 'readonly fast', 1, 1, 1, B),
    ('bitcount', -2, 'readonly', 1, 1, 1, B),
    ('bitpos', -3, 'readonly', 1, 1, 1, B),
    ('bitop', -4, 'write denyoom', 2, -1, 1, B),
    ('bitfield', -2, 'write denyoom', 1, 1, 1, B),
    ('bitfield_ro', -2, 'readonly fast', 1, 1, 1, B),

    ('hset', -4, 'write denyoom fast', 1, 1, 1, H),
    ('hmset', -4, 'write denyoom fast', 1, 1, 1, H),
    ('hsetnx', 4, 'write denyoom fast', 1, 1, 1, H),
    ('hget', 3, 'readonly fast', 1, 1, 1, H),
    ('hmget', -3, 'readonly fast', 1, 1, 1, H),
    ('hdel', -3, 'write fast', 1, 1, 1, H),
    ('hlen', 2, 'readonly fast', 1, 1, 1, H),
    ('hexists', 3, 'readonly fast', 1, 1, 1, H),
    ('hstrlen', 3, 'readonly fast', 1, 1, 1, H),
    ('hkeys', 2, 'readonly', 1, 1, 1, H),
    ('hvals', 2, 'readonly', 1, 1, 1, H),
    ('hgetall', 2, 'readonly', 1, 1, 1, H),
    ('hincrby', 4, 'write denyoom fast', 1, 1, 1, H),
    ('hincrbyfloat', 4, 'write denyoom fast', 1, 1, 1, H),
    ('hrandfield', -2, 'readonly random', 1, 1, 1, H),
    ('hscan', -3, 'readonly random', 1, 1, 1, H),

    ('sadd', -3, 'write denyoom fast', 1, 1, 1, T),
    ('srem', -3, 'write fast', 1, 1, 1, T),
    ('smembers', 2, 'readonly', 1, 1, 1, T),
    ('sismember', 3, 'readonly fast', 1, 1, 1, T),
    ('smismember', -3, 'readonly fast', 1, 1, 1, T),
    ('scard', 2, 'readonly fast', 1, 1, 1, T),
    ('spop', -2, 'write random fast', 1, 1, 1, T),
    ('srandmember', -2, 'readonly random', 1, 1, 1, T),
    ('smove', 4, 'write fast', 1, 2, 1, T),
    ('sinter', -2, 'readonly', 1, -1, 1, T),
    ('sunion', -2, 'readonly', 1, -1, 1, T),
    ('sdiff', -2, 'readonly', 1, -1, 1, T),
    ('sinterstore', -3, 'write denyoom', 1, -1, 1, T),
    ('sunionstore', -3, 'write denyoom', 1, -1, 1, T),
    ('sdiffstore', -3, 'write denyoom', 1, -1, 1, T),
    ('sintercard', -3, 'readonly movablekeys', 0, 0, 0, T),
    ('sscan', -3, 'readonly random', 1, 1, 1, T),
    ('lpush', -3, 'write denyoom fast', 1, 1, 1, L),
    ('rpush', -3, 'write denyoom fast', 1, 1, 1, L),
    ('lpushx', -3, 'write denyoom fast', 1, 1, 1, L),
    ('rpushx', -3, 'write denyoom fast', 1, 1, 1, L),
    ('lpop', -2, 'write fast', 1, 1, 1, L),
    ('rpop', -2, 'write fast', 1, 1, 1, L),
    ('llen', 2, 'readonly fast', 1, 1, 1, L),
    ('lrange', 4, 'readonly', 1, 1, 1, L),
    ('lindex', 3, 'readonly', 1, 1, 1, L),
    ('lset', 4, 'write denyoom', 1, 1, 1, L),
    ('linsert', 5, 'write denyoom', 1, 1, 1, L),
    ('lrem', 4, 'write', 1, 1, 1, L),
    ('ltrim', 4, 'write', 1, 1, 1, L),
    ('lpos', -3, 'readonly', 1, 1, 1, L),
    ('lmove', 5, 'write denyoom', 1, 2, 1, L),
    ('rpoplpush', 3, 'write denyoom', 1, 2, 1, L),
    ('lmpop', -4, 'write movablekeys', 0, 0, 0, L),
    ('blpop', -3, 'write blocking', 1, -2, 1, L),
    ('brpop', -3, 'write blocking', 1, -2, 1, L),
    ('blmove', 6, 'write denyoom blocking', 1, 2, 1, L),
    ('brpoplpush', 4, 'write denyoom blocking', 1, 2, 1, L),
    ('blmpop', -5, 'write blocking movablekeys', 0, 0, 0, L),

    ('del', -2, 'write', 1, -1, 1, K),
    ('unlink', -2, 'write fast', 1, -1, 1, K),
    ('exists', -2, 'readonly fast', 1, -1, 1, K),
    ('type', 2, 'readonly fast', 1, 1, 1, K),
    ('expire', -3, 'write fast', 1, 1, 1, K),
    ('pexpire', -3, 'write fast', 1, 1, 1, K),
    ('expireat', -3, 'write fast', 1, 1, 1, K),
    ('pexpireat', -3, 'write fast', 1, 1, 1, K),
    ('ttl', 2, 'readonly fast random', 1, 1, 1, K),
    ('pttl', 2, 'readonly fast random', 1, 1, 1, K),
    ('expiretime', 2, 'readonly fast', 1, 1, 1, K),
    ('pexpiretime', 2, 'readonly fast', 1, 1, 1, K),
    ('persist', 2, 'write fast', 1, 1, 1, K),
    ('dbsize', 1, 'readonly fast', 0, 0, 0, K),
    ('flushdb', -1, 'write', 0, 0, 0, K),
    ('flushall', -1, 'write', 0, 0, 0, K),
    ('swapdb', 3, 'write fast', 0, 0, 0, K),
    ('keys', 2, 'readonly', 0, 0, 0, K),
    ('scan', -2, 'readonly', 0, 0, 0, K),
    ('randomkey', 1, 'readonly', 0, 0, 0, K),
    ('rename', 3, 'write', 1, 2, 1, K),
    ('renamenx', 3, 'write fast', 1, 2, 1, K),
    ('copy', -3, 'write denyoom', 1, 2, 1, K),
    ('dump', 2, 'readonly', 1, 1, 1, K),
    ('restore', -4, 'write denyoom', 1, 1, 1, K),
    ('move', 3, 'write fast', 1, 1, 1, K),
    ('sort', -2, 'write denyoom movablekeys', 1, 1, 1, K),
    ('sort_ro', -2, 'readonly movablekeys', 1, 1, 1, K),
    ('touch', -2, 'readonly fast', 1, -1, 1, K),
    ('object', -2, 'readonly', 2, 2, 1, K),
    ('memory', -2, 'readonly', 0, 0, 0, K),
    ('select', 2, 'loading stale fast', 0, 0, 0, C),

    ('ping', -1, 'fast stale', 0, 0, 0, C),
    ('subscribe', -2, 'pubsub noscript loading stale', 0, 0, 0, P),
    ('unsubscribe', -1, 'pubsub noscript loading stale', 0, 0, 0, P),
    ('psubscribe', -2, 'pubsub noscript loading stale', 0, 0, 0, P),
    ('punsubscribe', -1, 'pubsub noscript loading stale', 0, 0, 0, P),
    ('ssubscribe', -2, 'pubsub noscript loading stale', 1, -1, 1, P),
    ('sunsubscribe', -1, 'pubsub noscript loading stale', 1, -1, 1, P),
    ('publish', 3, 'pubsub loading stale fast', 0, 0, 0, P),
    ('spublish', 3, 'pubsub loading stale fast', 1, 1, 1, P),
    ('pubsub', -2, '', 0, 0, 0, P),
    ('echo', 2, 'fast', 0, 0, 0, C),
    ('quit', -1, 'noauth loading stale fast', 0, 0, 0, C),
    ('hello', -1, 'noauth loading stale fast allow_busy', 0, 0, 0, C),
    ('auth', -2, 'noauth loading stale fast noscript allow_busy', 0, 0, 0, C),
    ('reset', 1, 'noauth loading stale fast allow_busy', 0, 0, 0, C),
    ('client', -2, 'admin loading stale', 0, 0, 0, C),
    ('info', -1, 'loading stale random', 0, 0, 0, V),
    ('config', -2, 'admin loading stale', 0, 0, 0, V),
    ('command', -1, 'loading stale', 0, 0, 0, V),
    ('time', 1, 'loading stale fast random', 0, 0, 0, V),
    ('shutdown', -1, 'admin loading stale noscript allow_busy', 0, 0, 0, V),
    ('acl', -2, 'loading stale', 0, 0, 0, V),
    ('slowlog', -2, 'admin loading stale', 0, 0, 0, V),
    ('latency', -2, 'admin noscript loading stale', 0, 0, 0, V),
    ('monitor', 1, 'admin noscript loading stale', 0, 0, 0, V),
    ('hotkeys', -1, 'admin loading stale random', 0, 0, 0, V),
    ('alerts', 1, 'admin loading stale', 0, 0, 0, V),
    ('save', 1, 'admin noscript', 0, 0, 0, V),
    ('bgsave', -1, 'admin noscript', 0, 0, 0, V),
    ('bgrewriteaof', 1, 'admin noscript', 0, 0, 0, V),
    ('lastsave', 1, 'loading stale fast random', 0, 0, 0, V),
    ('tenant', -2, 'admin noscript loading stale', 0, 0, 0, V),    # security/tenants.py
    # sorted sets (types/zset.pxi)
    ('zadd', -4, 'write denyoom fast', 1, 1, 1, Z),
    ('zincrby', 4, 'write denyoom fast', 1, 1, 1, Z),
    ('zrem', -3, 'write fast', 1, 1, 1, Z),
    ('zscore', 3, 'readonly fast', 1, 1, 1, Z),
    ('zmscore', -3, 'readonly fast', 1, 1, 1, Z),
    ('zcard', 2, 'readonly fast', 1, 1, 1, Z),
    ('zrank', 3, 'readonly fast', 1, 1, 1, Z),
    ('zrevrank', 3, 'readonly fast', 1, 1, 1, Z),
    ('zcount', 4, 'readonly fast', 1, 1, 1, Z),
    ('zlexcount', 4, 'readonly fast', 1, 1, 1, Z),
    ('zrange', -4, 'readonly', 1, 1, 1, Z),
    ('zrevrange', -4, 'readonly', 1, 1, 1, Z),
    ('zrangebyscore', -4, 'readonly', 1, 1, 1, Z),
    ('zrevrangebyscore', -4, 'readonly', 1, 1, 1, Z),
    ('zrangebylex', -4, 'readonly', 1, 1, 1, Z),
    ('zrevrangebylex', -4, 'readonly', 1, 1, 1, Z),
    ('zrangestore', -5, 'write denyoom', 1, 2, 1, Z),
    ('zremrangebyrank', 4, 'write', 1, 1, 1, Z),
    ('zremrangebyscore', 4, 'write', 1, 1, 1, Z),
    ('zremrangebylex', 4, 'write', 1, 1, 1, Z),
    ('zpopmin', -2, 'write fast', 1, 1, 1, Z),
    ('zpopmax', -2, 'write fast', 1, 1, 1, Z),
    ('zmpop', -4, 'write movablekeys', 0, 0, 0, Z),
    ('bzpopmin', -3, 'write fast blocking', 1, -2, 1, Z),
    ('bzpopmax', -3, 'write fast blocking', 1, -2, 1, Z),
    ('bzmpop', -5, 'write blocking movablekeys', 0, 0, 0, Z),
    ('zunion', -3, 'readonly movablekeys', 0, 0, 0, Z),
    ('zinter', -3, 'readonly movablekeys', 0, 0, 0, Z),
    ('zdiff', -3, 'readonly movablekeys', 0, 0, 0, Z),
    ('zunionstore', -4, 'write denyoom movablekeys', 1, 1, 1, Z),
    ('zinterstore', -4, 'write denyoom movablekeys', 1, 1, 1, Z),
    ('zdiffstore', -4, 'write denyoom movablekeys', 1, 1, 1, Z),
    ('zintercard', -3, 'readonly movablekeys', 0, 0, 0, Z),
    # geo (types/geo.pxi): sorted sets scored by geohash
    ('geoadd', -5, 'write denyoom', 1, 1, 1, G),
    ('geopos', -2, 'readonly', 1, 1, 1, G),
    ('geodist', -4, 'readonly', 1, 1, 1, G),
    ('geohash', -2, 'readonly', 1, 1, 1, G),
    ('geosearch', -7, 'readonly', 1, 1, 1, G),
    ('geosearchstore', -8, 'write denyoom', 1, 2, 1, G),
    ('georadius', -6, 'write denyoom movablekeys', 1, 1, 1, G),
    ('georadius_ro', -6, 'readonly', 1, 1, 1, G),
    ('georadiusbymember', -5, 'write denyoom movablekeys', 1, 1, 1, G),
    ('georadiusbymember_ro', -5, 'readonly', 1, 1, 1, G),
    ('zrandmember', -2, 'readonly', 1, 1, 1, Z),
    ('zscan', -3, 'readonly', 1, 1, 1, Z),
    # transactions (commands/multi.pxi)
    ('multi', 1, 'noscript loading stale fast allow_busy', 0, 0, 0, X),
    ('exec', 1, 'noscript loading stale', 0, 0, 0, X),
    ('discard', 1, 'noscript loading stale fast allow_busy', 0, 0, 0, X),
    ('watch', -2, 'noscript loading stale fast allow_busy', 1, -1, 1, X),
    ('unwatch', 1, 'noscript loading stale fast allow_busy', 0, 0, 0, X),
    # scripting (cachecyt/scripting): keys come from numkeys
    ('eval', -3, 'noscript stale movablekeys', 0, 0, 0, SC),
    ('evalsha', -3, 'noscript stale movablekeys', 0, 0, 0, SC),
    ('eval_ro', -3, 'noscript stale readonly movablekeys', 0, 0, 0, SC),
    ('evalsha_ro', -3, 'noscript stale readonly movablekeys', 0, 0, 0, SC),
    ('fcall', -3, 'noscript stale movablekeys', 0, 0, 0, SC),
    ('fcall_ro', -3, 'noscript stale readonly movablekeys', 0, 0, 0, SC),
    ('script', -2, 'noscript allow_busy', 0, 0, 0, SC),
    ('function', -2, 'noscript allow_busy', 0, 0, 0, SC),
]


def flag_set(entry):
    return set(entry[2].split())
