# Segment layout: every struct that lives in shared memory. Nothing here is a
# Python object or a pointer; records refer to each other by byte offset from the
# segment base. Field comments give the unit and the lock that guards the field.
#
#   [header_t][db_map int32 x ndbs][locks: shard locks, class locks]
#   [shard_t x nshards][dbstat_t x nshards*ndbs][class_t x nclasses]
#   [wstat_t x MAX_WORKERS][cmdstat_t x MAX_WORKERS*MAX_COMMANDS]
#   [cslot_t x MAX_CLIENT_SLOTS][sigring_t x MAX_WORKERS][errstat_t x MAX_WORKERS*MAX_ERRSTATS]
#   [acl_area_t][blocked registry][observability: obs_t, histograms, sketches, slowlog, monitor ring]
#   [pub/sub: lock, psreg_t, then per worker: lock, msgring_t, bytes][tenant_t x tenant_slots]
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
    uint64_t blocked_off         # blocked-client registry lock, then uint32 counters[BW_BUCKETS] (shm/blocking.pxi)
    uint64_t blocked_seq         # atomic; order in which clients blocked (first blocked, first served)
    uint64_t blocked_count       # registry entries in use; registry lock (read without it as a hint)
    uint64_t blocked_head        # first registry page (bwpage_t offset, 0 = none); registry lock
    uint64_t clients_off         # cslot_t[MAX_CLIENT_SLOTS] (shm/clients.pxi)
    uint64_t rings_off           # sigring_t[MAX_WORKERS] (shm/ring.pxi)
    uint64_t errstats_off        # errstat_t[MAX_WORKERS * MAX_ERRSTATS]
    uint64_t hz                  # background cycles per second; CONFIG SET
    uint64_t loglevel            # index into config.LOGLEVELS; CONFIG SET
    uint64_t client_query_buffer_limit  # bytes; CONFIG SET
    uint64_t config_epoch        # bumped by every CONFIG SET; atomic
    uint64_t clients_hiwater     # rows ever claimed in the client table end before this; atomic max
    uint64_t pad_clients
    uint64_t acl_off             # acl_area_t (shm/acl.pxi)
    uint64_t acl_version         # bumped by every change of users or security settings; atomic, odd
    uint64_t protected_mode      # 1 = no password: only loopback clients; CONFIG SET
    # observability (shm/stats.pxi)
    uint64_t obs_off             # obs_t, then histograms, hot-key sketches, slowlog cells, monitor ring
    int64_t slowlog_log_slower_than   # µs, <0 = off; CONFIG SET
    uint64_t slowlog_max_len     # entries kept (at most SLOW_CELLS); CONFIG SET
    uint64_t latency_monitor_threshold  # ms, 0 = off; CONFIG SET
    uint64_t hotkeys_sample_rate # sample 1 in N key accesses, 0 = off; CONFIG SET
    uint64_t monitors            # MONITOR clients over all workers; atomic
    # scripts (shm/script.pxi): the one Lua script running on the node, if any
    uint64_t script_owner        # worker slot + 1 running a script, 0 = none; CAS
    int64_t script_start_ms      # unix ms it started, 0 while none; atomic
    uint64_t script_kill         # 1 = SCRIPT KILL / FUNCTION KILL asked; atomic
    uint64_t script_flags        # SCR_WROTE | SCR_FUNCTION; written by the owner
    uint64_t script_gen          # bumped by SCRIPT FLUSH (shared script cache); atomic
    uint64_t function_gen        # bumped by every change of the function libraries; atomic
    uint64_t busy_reply_threshold  # ms (lua-time-limit); CONFIG SET
    uint64_t script_waiters      # workers asleep on script_owner (futex); atomic
    uint64_t persist_off         # persist_t (shm/wal.pxi), 0 = no persistence state; set at creation
    # adaptive eviction (shm/sketch.pxi, shm/evict.pxi)
    uint64_t sketch_dir          # chunk of page offsets holding the frequency sketch; 0 = none; set once by CAS
    uint64_t sketch_blocks       # 64-byte counter blocks (power of two); fixed once sketch_dir is set
    uint64_t sketch_adds         # increments since the last halving; racy on purpose (an estimate)
    uint64_t sketch_period       # halve every counter after this many increments
    uint64_t window_dir          # chunk of nshards offsets: each shard's window queue; shard locks for the queues
    uint64_t window_permille     # window share of the keys, per mille; set by the shadow caches (shadow.pxi)
    uint64_t window_seq          # atomic; insertion sequence of the window queues
    uint64_t window_admitted     # entries up to this sequence left the window while the cache had room
    uint64_t climb_hits          # climb_hits .. climb_prev_ratio: unused since the shadow caches
    uint64_t climb_misses        # replaced hill climbing (kept: the fields after them stay put)
    int64_t climb_step
    int64_t climb_frac
    uint64_t climb_prev_ratio
    uint64_t climb_evictions     # adaptive evictions so far (the shadow caches' size check)
    uint64_t pubsub_off          # pub/sub registry and message rings (shm/pubsub.pxi)
    uint64_t notify_flags        # notify-keyspace-events, NK_* bits; CONFIG SET
    uint64_t obl[9]              # client-output-buffer-limit: normal, replica, pubsub x
                                 # (hard bytes, soft bytes, soft seconds); CONFIG SET
    # scheduled backups (cluster/backup_schedule.py, shm/backupstat.pxi): the supervisor writes, INFO reads
    int64_t backup_last_ok_ms    # unix ms the last good backup finished, 0 = none yet
    int64_t backup_last_try_ms   # unix ms the last backup (good or not) finished, 0 = none yet
    int64_t backup_last_ok       # 1 when the last backup succeeded, 0 when it failed or none ran
    uint64_t backup_failures     # failed backups since the node started
    uint64_t backup_kept         # backups in backup-dir after the last prune
    uint64_t backup_every        # s between scheduled backups, 0 = none scheduled; set at start
    # tenants (shm/tenantmem.pxi, shm/tenants.pxi)
    uint64_t tenants_off         # tenant_t[tenant_slots], 0 = none
    uint32_t tenant_base         # first hidden db = the visible databases; dbs past it are tenants'
    uint32_t tenant_slots        # tenants the segment can hold (hidden dbs)
    uint64_t tenant_version      # bumped by every change of a tenant's definition; atomic
    # adaptive eviction's shadow caches (shm/shadow.pxi)
    uint64_t shadow_off          # shadow_t chunk, 0 = none yet; replaced under shadow_lock
    uint64_t shadow_lock         # 1 while a worker runs the shadow caches; try-lock, nobody waits
    uint64_t shadow_shift        # a key is simulated when the top shadow_shift bits of its mixed hash are 0
    # HyperLogLog (types/hll.pxi)
    uint64_t hll_sparse_max_bytes    # hll-sparse-max-bytes; CONFIG SET
    # CLIENT PAUSE (commands/pause.pxi)
    uint64_t pause_state         # end unix ms * 4 + mode (1 WRITE, 2 ALL), 0 = none; CAS
    uint64_t pause_held          # clients held by the pause on every worker; atomic
    uint64_t listen_port         # RESP port every worker listens on (port); CONFIG SET

ctypedef struct shard_t:
    uint64_t table_off           # -> table_t; shard lock
    uint64_t count               # entries; shard lock
    uint64_t expire_cursor       # next slot the active expiry cycle looks at; shard lock
    uint64_t repairs             # times rebuilt after a dead lock owner; shard lock
    uint64_t del_version         # highest version of an item deleted from the shard (WATCH); shard lock
    uint64_t watch_mark          # highest mark a WATCH of an absent key took here; shard lock
    uint64_t build_off           # -> table_t being built to replace table_off, 0 = none; shard lock
    int64_t build_pos            # < 0: 16 KiB parts of build_off still to zero; else the next slot of
                                 # table_off to copy (shm/table.pxi "Growing without a pause"); shard lock

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
    uint32_t lru_mark            # low 24 bits: LRU clock (s, wraps as Redis's) or LFU minutes<<8 |
                                 # log counter (item_lru); high 8: snapshot mark (shm/snapshot.pxi)
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

ctypedef struct mcstat_t:         # memcached command counters of one worker
    uint64_t cmd_get
    uint64_t cmd_set
    uint64_t cmd_flush
    uint64_t cmd_touch
    uint64_t cmd_meta
    uint64_t delete_hits
    uint64_t delete_misses
    uint64_t incr_hits
    uint64_t incr_misses
    uint64_t decr_hits
    uint64_t decr_misses
    uint64_t cas_hits
    uint64_t cas_misses
    uint64_t cas_badval
    uint64_t touch_hits
    uint64_t touch_misses
    uint64_t store_too_large
    uint64_t store_no_memory

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
    uint64_t reads               # socket reads that brought requests
    uint64_t writes              # reply writes
    uint64_t batch_seq           # odd while running a batch of requests (shm/script.pxi); atomic
    uint64_t lazy_queued         # values handed to the lazy-free thread (UNLINK); atomic
    uint64_t lazy_freed          # ... and freed by it; atomic
    mcstat_t mc                  # memcached commands (commands/memcached.pxi)

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
    uint32_t qbuf_cap            # bytes of its read buffer (CLIENT LIST qbuf-free of other workers' clients)
    char sub[24]                 # lowercase subcommand of the last command, "" = none
    char addr[48]                # peer "ip:port"
    char laddr[48]               # local "ip:port"
    char name[88]                # CLIENT SETNAME (truncated copy; the owner keeps it whole)
    char user[64]                # ACL user the client is authenticated as ("" = default); shm/acl.pxi
    int32_t nsub                 # channels subscribed to (CLIENT LIST sub=)
    int32_t npsub                # patterns (psub=)
    int32_t nssub                # shard channels (ssub=)
    int32_t multi                # commands queued in MULTI, -1 = not in MULTI (multi=)

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
    uint32_t want                # the type the client waits for (T_LIST, T_ZSET)
    uint32_t kind                # HO_POP / HO_MPOP: a push may serve it in place; 0 = it retries
    uint32_t where               # LIST_HEAD / LIST_TAIL (hand-over)
    int64_t count                # elements BLMPOP takes (hand-over)
    uint64_t handed              # reply a pusher built for it: blob item offset, 0 = none
    uint32_t served              # a pusher served the client (on every entry of it)
    uint32_t resp                # the client's protocol (2, 3): a zset reply differs
    uint64_t dest                # HO_MOVE: blob item whose key is the destination list, 0 = none


ctypedef struct bwpage_t:        # one 64 KiB page of the registry (slab chunk); registry lock
    uint64_t next                # next page, 0 = last
    uint32_t used                # entries in use (seq != 0)
    uint32_t hi                  # entries in use lie below this index
    uint64_t pad[6]
    bwait_t e[BW_PER_PAGE]


# ---- observability (shm/stats.pxi) ---------------------------------------------------

cdef enum:
    LAT_BUCKETS = 93             # latency histogram buckets per (worker, command): see stats.pxi
    HOT_DEPTH = 4                # count-min sketch rows
    HOT_WIDTH = 1024             # counters per row (power of two)
    HOT_TOP = 32                 # hot-key candidates kept per worker
    HOT_KEY_MAX = 104            # key bytes kept per candidate (longer keys are not tracked)
    SLOW_CELLS = 1024            # slowlog entries the ring can hold (bounds slowlog-max-len)
    SLOW_DATA = 5376             # argument bytes of one slowlog entry, as (uint32 len, bytes)*
    LAT_EVENTS = 8               # latency monitor events
    LAT_SAMPLES = 160            # samples kept per event (Redis keeps 160)
    MON_BYTES = 1048576          # bytes of the MONITOR ring (power of two)

ctypedef struct hotent_t:        # one hot-key candidate's key; written only by the owning worker
    uint32_t ver                 # odd while the owner rewrites the entry (readers retry)
    uint16_t db                  # logical db
    uint16_t klen                # key bytes; 0 = free entry
    char key[HOT_KEY_MAX + 8]

ctypedef struct hotsketch_t:     # one per worker slot; written only by that worker
    uint64_t samples             # samples in the window (halved with the counters)
    uint64_t rate                # sample rate the counts were taken at
    uint64_t pad[6]
    uint64_t thash[HOT_TOP]      # candidate i: hash of its key (mixed with db), 0 = free
    uint32_t tcount[HOT_TOP]     # candidate i: sampled accesses in the window
    uint32_t cms[HOT_DEPTH * HOT_WIDTH]   # count-min counters
    hotent_t top[HOT_TOP]        # candidate i: its key (the scan reads only thash/tcount)

ctypedef struct slowent_t:       # one SLOWLOG entry; obs lock
    uint64_t id
    int64_t time                 # unix s when the command ended
    uint64_t usec                # duration
    uint32_t argc                # arguments stored (Redis's truncation applied)
    uint32_t len                 # bytes used in data
    char addr[48]                # client "ip:port"
    char name[88]                # client name, "" = none
    char data[SLOW_DATA]

ctypedef struct latsample_t:
    int32_t time                 # unix s
    uint32_t ms                  # latency

ctypedef struct latevent_t:      # one LATENCY event series; obs lock
    char name[32]                # "" = free
    uint32_t idx                 # next sample slot
    uint32_t max                 # ms, largest ever
    latsample_t samples[LAT_SAMPLES]

ctypedef struct obs_t:           # at g_hdr.obs_off
    uint8_t lock[LOCK_STRIDE]    # pthread mutex: slowlog and latency events
    uint64_t slow_next_id        # obs lock
    uint64_t slow_count          # entries held; obs lock
    uint64_t slow_head           # cell of the newest entry; obs lock
    uint64_t mon_tail            # bytes ever claimed in the monitor ring; atomic
    uint64_t mon_wake[MAX_WORKERS]     # 1 = a wake-up is pending for that worker; atomic
    uint64_t mon_clients[MAX_WORKERS]  # MONITOR clients per worker; that worker only
    latevent_t events[LAT_EVENTS]


ctypedef struct persist_t:       # durability state (shm/wal.pxi, shm/snapshot.pxi); one per node
    # cache line 1, written by every append: the lock and what it guards
    char lock[48]                # WAL ring lock (robust mutex, 40 bytes): LSNs and ring tail
    uint64_t tail                # ring bytes published; ring lock, read atomically
    uint64_t next_lsn            # LSN of the next record; ring lock
    # cache line 2, read by every write, written rarely
    uint64_t ring_pages_off      # uint64[ring_pages]: offsets of the ring's pages; 0 = no ring
    uint64_t ring_pages          # pages of PAGE_SIZE bytes
    uint32_t appendonly          # 1 = writes append effect records; CONFIG SET
    uint32_t appendfsync         # FSYNC_NO / FSYNC_EVERYSEC / FSYNC_ALWAYS; CONFIG SET
    int64_t efd                  # the supervisor's eventfd (same number in every process)
    uint32_t wal_error           # 1 while the WAL cannot be written (writes are refused)
    uint32_t bgsave_request      # 1 = a worker asked for a snapshot (BGSAVE, SAVE)
    uint64_t ring_pad[3]
    # cache line 3 on, written by the supervisor
    uint64_t head                # ring bytes consumed (supervisor only), monotonic
    uint64_t durable_lsn         # records up to here are written (fsynced under "always"); supervisor
    uint64_t sleeping            # the supervisor waits on its eventfd: wake it after appending; atomic
    uint64_t waiting[MAX_WORKERS] # worker holds replies until durable_lsn passes them; atomic
    # snapshots
    uint64_t snap_active         # 1 from the snapshot point until every shard is serialised
    uint64_t snap_lsn            # LSN the running snapshot is consistent with
    int64_t snap_ts              # unix ms of the snapshot point
    uint64_t snap_remaining      # shards whose part is not yet on disk; atomic
    uint64_t pending_off         # uint8[nshards]: SNAP_TODO, SNAP_DUMPED or 0; shard lock
    uint64_t snap_seq            # snapshots finished (ok or not); SAVE waits for it to move
    uint64_t dirty               # writes since the last snapshot; atomic
    int64_t lastsave             # unix s of the last good snapshot
    int64_t last_bgsave_ok       # 1 ok, 0 failed
    int64_t last_bgsave_secs     # duration of the last snapshot, s (-1 none)
    int64_t snap_started_ms      # start of the running snapshot
    uint64_t rewrite_running     # 1 while a snapshot also compacts the WAL
    uint64_t wal_bytes           # bytes in WAL segment files; supervisor
    uint64_t wal_base_bytes      # wal_bytes just after the last compaction; supervisor
    int64_t loading              # 1 while recovering at start
    char snap_dir[512]           # directory of the running snapshot's shard parts, NUL-terminated
    char save[256]               # the save option ("3600 1 300 100"); CONFIG SET
    uint64_t rewrite_percentage  # auto-aof-rewrite-percentage; CONFIG SET
    uint64_t rewrite_min_size    # auto-aof-rewrite-min-size, bytes; CONFIG SET
    # snapshots in steps (shm/snapshot.pxi)
    uint32_t snap_mark           # mark of the running or last snapshot (0-255); under every shard lock
    uint32_t snap_walk_shard     # shard the dumper walks (nshards: none); that shard's lock
    uint64_t snap_walk_pos       # next slot of that shard's table it copies; that shard's lock
    uint64_t snap_cow_pending    # batches of items copied before a change, not yet in a file; atomic
    uint64_t snap_cow_items      # items copied before a change in the running snapshot; atomic
    uint16_t snap_ldb[256]       # physical db -> logical db at the snapshot point

cdef persist_t *g_pp = NULL      # this process's view of persist_t (NULL: none)


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
