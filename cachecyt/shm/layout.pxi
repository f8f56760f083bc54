# Segment layout: every struct that lives in shared memory. Nothing here is a
# Python object or a pointer; records refer to each other by byte offset from the
# segment base. Field comments give the unit and the lock that guards the field.
#
#   [header_t][db_map int32 x ndbs][locks: shard locks, class locks]
#   [shard_t x nshards][dbstat_t x nshards*ndbs][class_t x nclasses]
#   [wstat_t x MAX_WORKERS][cmdstat_t x MAX_WORKERS*MAX_COMMANDS]
#   [cslot_t x MAX_CLIENT_SLOTS][sigring_t x MAX_WORKERS][errstat_t x MAX_WORKERS*MAX_ERRSTATS]
#   [blocked registry][pub/sub: lock, psreg_t, then per worker: lock, msgring_t, bytes]
#   [page_t x npages][config json][pad to PAGE_SIZE][arena: npages pages]

cdef extern from *:
    """
    #define CC_MAGIC 0x3174796368636163ULL
    """
    uint64_t CC_MAGIC

ctypedef struct header_t:
    uint64_t magic               # CC_MAGIC
    uint32_t layout_version      # LAYOUT_VERSION
    uint32_t header_size         # sizeof(header_t)
    uint64_t seg_size            # bytes of the whole segment
    int64_t owner_pid            # supervisor pid (stale-segment detection)
    int64_t start_ms             # creation time, unix ms
    uint32_t nshards             # power of two
    uint32_t shard_bits          # log2(nshards)
    uint32_t ndbs                # databases
    uint32_t nclasses            # size classes in use
    uint64_t npages              # arena pages
    uint64_t arena_off           # offset of page 0 (PAGE_SIZE aligned)
    uint64_t db_map_off          # int32[ndbs]: logical db -> physical db; all shard locks (SWAPDB)
    uint64_t locks_off           # shard locks then class locks then the page lock
    uint64_t shards_off          # shard_t[nshards]
    uint64_t dbstats_off         # dbstat_t[nshards * ndbs]
    uint64_t classes_off         # class_t[nclasses]
    uint64_t wstats_off          # wstat_t[MAX_WORKERS]
    uint64_t cmdstats_off        # cmdstat_t[MAX_WORKERS * MAX_COMMANDS]
    uint64_t pages_off           # page_t[npages]
    uint64_t config_off          # JSON text of the startup configuration
    uint64_t config_len          # bytes
    uint64_t page_free_head      # page index + 1 of the first free page; page lock
    uint64_t page_next           # first never-used page; page lock
    uint64_t pages_used          # pages handed to classes; page lock
    int64_t used_memory          # bytes in live chunks; atomic
    int64_t peak_memory          # max of used_memory; atomic
    uint64_t maxmemory           # bytes, 0 = no limit; CONFIG SET
    uint32_t policy              # POL_*; CONFIG SET
    uint32_t maxmemory_samples   # CONFIG SET
    uint32_t lfu_log_factor      # CONFIG SET
    uint32_t lfu_decay_time      # minutes; CONFIG SET
    uint64_t next_version        # atomic; versions of writes (WATCH, memcached CAS)
    uint64_t next_client_id      # atomic
    uint64_t connected_clients   # atomic, over all workers
    uint64_t maxclients          # CONFIG SET
    uint64_t timeout             # client idle timeout, seconds; CONFIG SET
    uint64_t proto_max_bulk_len  # bytes; CONFIG SET
    uint64_t stat_reset_ms       # time of the last CONFIG RESETSTAT
    uint64_t shutdown_flags      # set by SHUTDOWN for the supervisor
    uint64_t generation          # bumped by FLUSHALL/SWAPDB (WATCH)
    # thresholds of the compact collection encodings (types/*.pxi)
    int64_t list_max_listpack_size    # list node size: >0 entries, -1..-5 = 4..64 KiB; CONFIG SET
    uint64_t list_compress_depth       # list nodes left uncompressed at each end; CONFIG SET
    uint64_t hash_max_listpack_entries # CONFIG SET
    uint64_t hash_max_listpack_value   # bytes; CONFIG SET
    uint64_t set_max_intset_entries    # CONFIG SET
    uint64_t set_max_listpack_entries  # CONFIG SET
    uint64_t set_max_listpack_value    # bytes; CONFIG SET
    uint64_t zset_max_listpack_entries # CONFIG SET
    uint64_t zset_max_listpack_value   # bytes; CONFIG SET
    uint64_t reserved[10]
    uint64_t blocked_off         # blocked-client registry (shm/blocking.pxi): lock, then bwait_t[MAX_WAITERS]
    uint64_t blocked_seq         # atomic; order in which clients blocked (first blocked, first served)
    uint64_t blocked_count       # registry entries in use; registry lock (read without it as a hint)
    uint64_t blocked_hiwater     # entries in use lie below this index; registry lock
    uint64_t clients_off         # cslot_t[MAX_CLIENT_SLOTS] (shm/clients.pxi)
    uint64_t rings_off           # sigring_t[MAX_WORKERS] (shm/ring.pxi)
    uint64_t errstats_off        # errstat_t[MAX_WORKERS * MAX_ERRSTATS]
    uint64_t hz                  # background cycles per second; CONFIG SET
    uint64_t loglevel            # index into config.LOGLEVELS; CONFIG SET
    uint64_t client_query_buffer_limit  # bytes; CONFIG SET
    uint64_t config_epoch        # bumped by every CONFIG SET; atomic
    uint64_t clients_hiwater     # rows ever claimed in the client table end before this; atomic max
    uint64_t pad_clients
    uint64_t pubsub_off          # pub/sub registry and message rings (shm/pubsub.pxi)
    uint64_t notify_flags        # notify-keyspace-events, NK_* bits; CONFIG SET
    uint64_t obl[9]              # client-output-buffer-limit: normal, replica, pubsub x
                                 # (hard bytes, soft bytes, soft seconds); CONFIG SET

ctypedef struct shard_t:
    uint64_t table_off           # -> table_t; shard lock
    uint64_t count               # entries; shard lock
    uint64_t expire_cursor       # next slot the active expiry cycle looks at; shard lock
    uint64_t repairs             # times rebuilt after a dead lock owner; shard lock
    uint64_t pad[4]

ctypedef struct table_t:
    uint64_t mask                # slots - 1
    uint64_t nblocks             # blocks of BLOCK_SLOTS slots (1 when small)
    uint64_t blocks[1]           # offsets of slot blocks

ctypedef struct slot_t:
    uint64_t hash                # full key hash
    uint64_t item                # offset of item_t; 0 = empty

ctypedef struct dbstat_t:
    int64_t keys                 # keys of this db in this shard; shard lock
    int64_t expires              # of which with a TTL; shard lock

ctypedef struct item_t:
    uint64_t version             # bumped by every write (WATCH, CAS)
    int64_t expire_ms            # unix ms, 0 = persistent
    uint64_t vlen                # value bytes (strings)
    uint32_t klen                # key bytes
    uint32_t lru                 # LRU clock (s) or LFU: minutes<<8 | log counter
    uint32_t mcflags             # memcached client flags
    uint8_t type                 # T_*
    uint8_t encoding             # ENC_*
    uint8_t db                   # physical db
    uint8_t iflags               # IF_*
    # followed by key || value, or by uint64 extents[] when IF_EXTENTS

ctypedef struct class_t:
    uint64_t size                # chunk bytes
    uint64_t per_page            # chunks per page
    uint64_t partial_head        # page index + 1 of first page with a free chunk; class lock
    uint64_t pages               # pages owned; class lock
    uint64_t chunks              # live chunks; class lock

ctypedef struct page_t:
    uint32_t cls                 # owning class; 0xffffffff free, 0xfffffffe taken (alloc.pxi)
    uint32_t used                # live chunks; class lock
    uint32_t free_head           # chunk index + 1 of first freed chunk; class lock
    uint32_t bump                # chunks never handed out start here; class lock
    uint64_t prev                # page index + 1 in the class partial list; class lock
    uint64_t next                # idem, or next free page in the pool; page lock

ctypedef struct wstat_t:         # one per worker slot; written only by that worker
    int64_t pid
    uint64_t commands
    uint64_t hits
    uint64_t misses
    uint64_t expired
    uint64_t evicted
    uint64_t clients             # connected now
    uint64_t connections         # accepted since start
    uint64_t rejected_connections
    uint64_t net_in
    uint64_t net_out
    uint64_t errors
    uint64_t pad[4]

ctypedef struct cmdstat_t:
    uint64_t calls
    uint64_t usec
    uint64_t rejected
    uint64_t failed


ctypedef struct cslot_t:         # one connected client, written only by the worker that owns it
    uint64_t id                  # client id; 0 = free (claimed by CAS, released by the owner)
    int32_t worker               # owning worker slot
    int32_t db                   # logical db selected
    int64_t created_ms           # connection time, unix ms
    int64_t last_ms              # start of the last command, unix ms
    int32_t cmd                  # command index of the last command, -1 = none
    uint8_t resp                 # 2 or 3
    uint8_t cflags               # CS_* flags
    uint16_t pad
    int32_t fd                   # socket fd in the owning worker, -1 = unknown
    uint32_t pad2
    char sub[24]                 # lowercase subcommand of the last command, "" = none
    char addr[48]                # peer "ip:port"
    char laddr[48]               # local "ip:port"
    char name[88]                # CLIENT SETNAME (truncated copy; the owner keeps it whole)

ctypedef struct sigcell_t:       # one message of a signal ring
    uint64_t seq                 # cell sequence (bounded MPSC queue, see shm/ring.pxi)
    uint32_t kind                # SIG_*
    uint32_t len                 # bytes used in data
    uint64_t arg                 # e.g. the client id of SIG_KILL
    char data[104]

ctypedef struct sigring_t:       # the inbox of one worker; producers: any process, consumer: the worker
    uint64_t tail                # next cell to fill; producers, CAS
    uint64_t pad1[7]
    uint64_t head                # next cell to read; the owning worker only
    uint64_t pad2[7]
    sigcell_t cells[RING_CELLS]

ctypedef struct errstat_t:       # error replies of one prefix; written only by the owning worker
    char prefix[24]              # "ERR", "WRONGTYPE" ...; "" = free entry
    uint64_t count


ctypedef struct bwait_t:         # one key a blocked client waits on (shm/blocking.pxi); registry lock
    uint64_t seq                 # when the client blocked (blocked_seq), 0 = free entry
    uint64_t client              # client id
    uint64_t hash                # cc_hash of the key
    int32_t worker               # worker slot that owns the client
    int32_t db                   # logical db of the key
    uint32_t ready               # a push made the key non-empty: the owner retries
    uint32_t pad


ctypedef struct psreg_t:         # node-wide pub/sub registry (shm/pubsub.pxi); registry lock
    uint64_t channels            # dict: channel -> psrec_t offset (types/dict.pxi), 0 = none yet
    uint64_t shard_channels      # idem for SSUBSCRIBE
    uint64_t patterns            # idem for PSUBSCRIBE
    uint64_t npatterns           # entries of patterns; read without the lock as a hint
    uint64_t pad[4]

ctypedef struct psrec_t:         # subscriptions to one channel or pattern; registry lock
    uint64_t total               # clients subscribed, over every worker
    uint64_t mask                # bit w set when count[w] > 0
    uint32_t count[MAX_WORKERS]  # clients subscribed on worker w

ctypedef struct msgring_t:       # message inbox of one worker; MSG_RING_BYTES of records follow
    uint64_t tail                # bytes ever written; producers under the ring lock, read atomically
    uint64_t wake                # 1 while a wake-up is owed; atomic exchange
    uint64_t dropped             # messages that found the ring full; atomic
    uint64_t partial             # a fragmented message was cut short; ring lock
    uint64_t pad1[4]
    uint64_t head                # bytes ever consumed; the owning worker only
    uint64_t pad2[7]
