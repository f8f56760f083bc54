# The segment: create, attach and describe the node's POSIX shared memory.
# One process maps one segment; its base and header are module globals so the
# nogil core reaches them without a Python object. Offsets, never pointers, are
# stored inside the segment.

from libc.stdio cimport fprintf, stderr
from libc.stdlib cimport abort

cdef char *g_base = NULL
cdef header_t *g_hdr = NULL
cdef uint64_t g_seg_size = 0
cdef int g_worker = 0                      # this process's worker slot (stats)
cdef uint8_t g_cls_of[CLS_LOOKUP]         # (size + 15) // 16 -> class index

cdef void dbg_fail(const char *what) noexcept nogil:
    """A debug-build invariant failed: say which and abort (a core dump beats
    running on with a corrupt segment)."""
    fprintf(stderr, b"cachecyt: invariant violated: %s\n", what)
    abort()


cdef inline void *P(uint64_t off) noexcept nogil:
    return <void *>(g_base + off)

cdef inline pthread_mutex_t *shard_mutex(uint32_t s) noexcept nogil:
    return <pthread_mutex_t *>(g_base + g_hdr.locks_off + <uint64_t>s * LOCK_STRIDE)

cdef inline pthread_mutex_t *class_mutex(uint32_t c) noexcept nogil:
    return <pthread_mutex_t *>(g_base + g_hdr.locks_off +
                               <uint64_t>(g_hdr.nshards + c) * LOCK_STRIDE)

cdef inline pthread_mutex_t *page_mutex() noexcept nogil:
    return <pthread_mutex_t *>(g_base + g_hdr.locks_off +
                               <uint64_t>(g_hdr.nshards + MAX_CLASSES) * LOCK_STRIDE)

cdef inline shard_t *shard_at(uint32_t s) noexcept nogil:
    return <shard_t *>(g_base + g_hdr.shards_off) + s

cdef inline dbstat_t *dbstat_at(uint32_t s, uint32_t pdb) noexcept nogil:
    return <dbstat_t *>(g_base + g_hdr.dbstats_off) + (<uint64_t>s * g_hdr.ndbs + pdb)

cdef inline class_t *class_at(uint32_t c) noexcept nogil:
    return <class_t *>(g_base + g_hdr.classes_off) + c

cdef inline page_t *page_at(uint64_t p) noexcept nogil:
    return <page_t *>(g_base + g_hdr.pages_off) + p

cdef inline int32_t *db_map() noexcept nogil:
    return <int32_t *>(g_base + g_hdr.db_map_off)

cdef inline wstat_t *my_wstat() noexcept nogil:
    return <wstat_t *>(g_base + g_hdr.wstats_off) + g_worker

cdef inline cmdstat_t *cmdstat_at(int worker, int cmd) noexcept nogil:
    return <cmdstat_t *>(g_base + g_hdr.cmdstats_off) + (<uint64_t>worker * MAX_COMMANDS + cmd)


cdef uint64_t _align(uint64_t x, uint64_t a) noexcept nogil:
    return (x + a - 1) & ~(a - 1)


def class_sizes():
    """Chunk sizes of the allocator: 16-byte steps to 128, then four steps per doubling."""
    sizes = [32, 48, 64, 80, 96, 112, 128]
    base = 128
    while base < PAGE_SIZE:
        for k in (5, 6, 7, 8):
            sizes.append(base * k // 4)
        base *= 2
    return sizes


cdef void _fill_class_lookup() noexcept:
    cdef uint32_t c = 0, i
    cdef uint64_t size
    for i in range(PAGE_SIZE // 16 + 1):
        size = <uint64_t>i * 16
        while class_at(c).size < size:
            c += 1
        g_cls_of[i] = c


def segment_layout(uint32_t nshards, uint32_t ndbs, uint64_t npages, uint64_t config_len,
                   uint32_t tenants=0):
    """Byte offsets of every region for the given shape; pure arithmetic."""
    cdef uint64_t off = _align(sizeof(header_t), 64)
    lay = {}
    lay['db_map_off'] = off; off = _align(off + 4 * ndbs, 64)
    lay['locks_off'] = off; off += <uint64_t>(nshards + MAX_CLASSES + 1) * LOCK_STRIDE
    lay['shards_off'] = off; off = _align(off + sizeof(shard_t) * nshards, 64)
    lay['dbstats_off'] = off; off = _align(off + sizeof(dbstat_t) * nshards * ndbs, 64)
    lay['classes_off'] = off; off = _align(off + sizeof(class_t) * MAX_CLASSES, 64)
    lay['wstats_off'] = off; off = _align(off + sizeof(wstat_t) * MAX_WORKERS, 64)
    lay['cmdstats_off'] = off
    off = _align(off + sizeof(cmdstat_t) * MAX_WORKERS * MAX_COMMANDS, 64)
    lay['clients_off'] = off; off = _align(off + sizeof(cslot_t) * MAX_CLIENT_SLOTS, 64)
    lay['rings_off'] = off; off = _align(off + sizeof(sigring_t) * MAX_WORKERS, 64)
    lay['errstats_off'] = off; off = _align(off + sizeof(errstat_t) * MAX_WORKERS * MAX_ERRSTATS, 64)
    lay['blocked_off'] = off; off = _align(off + LOCK_STRIDE + 4 * BW_BUCKETS, 64)
    lay['acl_off'] = off; off = _align(off + sizeof(acl_area_t), 64)
    lay['obs_off'] = off; off = _align(off + obs_region_size(), 64)
    lay['pubsub_off'] = off; off = _align(off + pubsub_region_size(), 64)
    lay['tenants_off'] = off; off = _align(off + tenant_region_size(tenants), 64)
    lay['pages_off'] = off; off = _align(off + sizeof(page_t) * npages, 64)
    lay['config_off'] = off; off = _align(off + config_len + 1, PAGE_SIZE)
    lay['arena_off'] = off
    lay['seg_size'] = off + npages * PAGE_SIZE
    return lay


cdef class Segment:
    """A mapping of the node segment in this process. `create` lays it out (the
    supervisor, once); `attach` maps an existing one and checks magic and layout."""
    cdef readonly str name
    cdef readonly uint64_t size
    cdef char *base

    def __cinit__(self):
        self.base = NULL

    @staticmethod
    def create(str name, dict shape, bytes config_json):
        import posix_ipc
        cdef uint32_t nshards = shape['shards'], tenants = shape.get('tenants', 0)
        cdef uint32_t ndbs = shape['databases'] + tenants     # a hidden db per tenant
        cdef uint64_t npages = shape['pages']
        lay = segment_layout(nshards, ndbs, npages, len(config_json), tenants)
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, mode=0o600, size=lay['seg_size'])
        cdef Segment seg = Segment._map(name, shm.fd, lay['seg_size'])
        shm.close_fd()
        seg._init_layout(shape, lay, config_json)
        return seg

    @staticmethod
    def attach(str name):
        import posix_ipc, os
        shm = posix_ipc.SharedMemory(name)
        size = os.fstat(shm.fd).st_size
        cdef Segment seg = Segment._map(name, shm.fd, size)
        shm.close_fd()
        cdef header_t *h = <header_t *>seg.base
        if h.magic != CC_MAGIC or h.layout_version != LAYOUT_VERSION or h.seg_size != size:
            seg.close()
            raise RuntimeError(f"segment {name} has a foreign magic or layout version")
        return seg

    @staticmethod
    def unlink(str name):
        import posix_ipc
        try:
            posix_ipc.unlink_shared_memory(name)
        except posix_ipc.ExistentialError:
            pass

    @staticmethod
    cdef Segment _map(str name, int fd, uint64_t size):
        cdef Segment seg = Segment.__new__(Segment)
        cdef void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        if p == MAP_FAILED:
            raise OSError("mmap of the segment failed")
        seg.base = <char *>p
        seg.size = size
        seg.name = name
        return seg

    cdef _init_layout(self, dict shape, dict lay, bytes config_json):
        import os
        cdef header_t *h = <header_t *>self.base
        cdef uint32_t i
        h.header_size = sizeof(header_t)
        h.seg_size = lay['seg_size']
        h.owner_pid = os.getpid()
        h.start_ms = cc_now_ms()
        h.nshards = shape['shards']
        h.shard_bits = (h.nshards - 1).bit_length()
        h.ndbs = shape['databases'] + shape.get('tenants', 0)
        h.tenant_base = shape['databases']
        h.tenant_slots = shape.get('tenants', 0)
        h.tenants_off = lay['tenants_off'] if h.tenant_slots else 0
        h.npages = shape['pages']
        for k in ('db_map_off', 'locks_off', 'shards_off', 'dbstats_off', 'classes_off',
                  'wstats_off', 'cmdstats_off', 'pages_off', 'config_off', 'arena_off',
                  'clients_off', 'rings_off', 'errstats_off'):
            setattr_header(h, k, lay[k])
        h.config_len = len(config_json)
        memcpy(self.base + h.config_off, <char *>config_json, len(config_json))
        h.stat_reset_ms = h.start_ms
        h.next_version = 1
        h.next_client_id = 1
        for i in range(h.nshards + MAX_CLASSES + 1):
            if cc_mutex_init(<pthread_mutex_t *>(self.base + h.locks_off + <uint64_t>i * LOCK_STRIDE)):
                raise OSError("pthread_mutex_init failed")
        cdef int32_t *dm = <int32_t *>(self.base + h.db_map_off)
        for i in range(h.ndbs):
            dm[i] = i
        sizes = class_sizes()
        h.nclasses = len(sizes)
        cdef class_t *cl
        for i in range(h.nclasses):
            cl = <class_t *>(self.base + h.classes_off) + i
            cl.size = sizes[i]
            cl.per_page = PAGE_SIZE // cl.size
        for i in range(h.npages):
            (<page_t *>(self.base + h.pages_off) + i).cls = PAGE_FREE
        h.obs_off = lay['obs_off']
        obs_init(h)                   # before the settings, which may override its defaults
        for k, v in shape.get('settings', {}).items():
            setattr_header(h, k, v)
        rings_init(h)
        acl_area_init(h, lay['acl_off'], int.from_bytes(os.urandom(8), 'little'))
        h.blocked_off = lay['blocked_off']
        if cc_mutex_init(<pthread_mutex_t *>(self.base + h.blocked_off)):
            raise OSError("pthread_mutex_init failed")
        h.pubsub_off = lay['pubsub_off']
        pubsub_init(h)
        h.layout_version = LAYOUT_VERSION
        h.magic = CC_MAGIC            # written last: a half-made segment is foreign

    def activate(self, int worker=0):
        """Make this mapping the one the core functions of this process use."""
        global g_base, g_hdr, g_seg_size, g_worker
        g_base = self.base
        g_hdr = <header_t *>self.base
        g_seg_size = self.size
        g_worker = worker
        cc_seed(<uint64_t>worker * 7919 + <uint64_t>cc_now_us())
        _fill_class_lookup()
        my_wstat().pid = getpid()
        persist_attach()                         # shm/wal.pxi

    def header(self):
        """The header as a dict (read without locks; for INFO and tools)."""
        cdef header_t *h = <header_t *>self.base
        return {k: getattr_header(h, k) for k in HEADER_FIELDS}

    def config_json(self):
        cdef header_t *h = <header_t *>self.base
        return (self.base + h.config_off)[:h.config_len]

    def close(self):
        if self.base != NULL:
            if g_base == self.base:
                _deactivate()
            munmap(self.base, self.size)
            self.base = NULL


cdef void _deactivate() noexcept:
    global g_base, g_hdr
    g_base = NULL
    g_hdr = NULL
    persist_detach()


HEADER_FIELDS = (
    'seg_size', 'owner_pid', 'start_ms', 'nshards', 'ndbs', 'nclasses', 'npages',
    'used_memory', 'peak_memory', 'maxmemory', 'policy', 'maxmemory_samples',
    'lfu_log_factor', 'lfu_decay_time', 'connected_clients', 'maxclients', 'timeout',
    'proto_max_bulk_len', 'pages_used', 'page_next', 'stat_reset_ms', 'shutdown_flags',
    'next_client_id', 'arena_off', 'config_off', 'db_map_off', 'locks_off', 'shards_off',
    'dbstats_off', 'classes_off', 'wstats_off', 'cmdstats_off', 'pages_off', 'generation',
    'clients_off', 'rings_off', 'errstats_off', 'hz', 'loglevel', 'client_query_buffer_limit',
    'list_max_listpack_size', 'list_compress_depth', 'hash_max_listpack_entries',
    'hash_max_listpack_value', 'set_max_intset_entries', 'set_max_listpack_entries',
    'set_max_listpack_value', 'zset_max_listpack_entries', 'zset_max_listpack_value',
    'config_epoch', 'slowlog_log_slower_than', 'slowlog_max_len', 'latency_monitor_threshold',
    'hotkeys_sample_rate', 'monitors', 'obs_off', 'busy_reply_threshold',
    'pubsub_off', 'notify_flags', 'obl', 'hll_sparse_max_bytes', 'listen_port')


cdef object getattr_header(header_t *h, str k):
    if k == 'seg_size': return h.seg_size
    if k == 'owner_pid': return h.owner_pid
    if k == 'start_ms': return h.start_ms
    if k == 'nshards': return h.nshards
    if k == 'ndbs': return h.ndbs
    if k == 'nclasses': return h.nclasses
    if k == 'npages': return h.npages
    if k == 'used_memory': return cc_atomic_load_i(&h.used_memory)
    if k == 'peak_memory': return h.peak_memory
    if k == 'maxmemory': return h.maxmemory
    if k == 'policy': return h.policy
    if k == 'maxmemory_samples': return h.maxmemory_samples
    if k == 'lfu_log_factor': return h.lfu_log_factor
    if k == 'lfu_decay_time': return h.lfu_decay_time
    if k == 'connected_clients': return cc_atomic_load(&h.connected_clients)
    if k == 'maxclients': return h.maxclients
    if k == 'timeout': return h.timeout
    if k == 'proto_max_bulk_len': return h.proto_max_bulk_len
    if k == 'pages_used': return h.pages_used
    if k == 'page_next': return h.page_next
    if k == 'stat_reset_ms': return h.stat_reset_ms
    if k == 'shutdown_flags': return h.shutdown_flags
    if k == 'next_client_id': return h.next_client_id
    if k == 'arena_off': return h.arena_off
    if k == 'config_off': return h.config_off
    if k == 'db_map_off': return h.db_map_off
    if k == 'locks_off': return h.locks_off
    if k == 'shards_off': return h.shards_off
    if k == 'dbstats_off': return h.dbstats_off
    if k == 'classes_off': return h.classes_off
    if k == 'wstats_off': return h.wstats_off
    if k == 'cmdstats_off': return h.cmdstats_off
    if k == 'pages_off': return h.pages_off
    if k == 'generation': return h.generation
    if k == 'clients_off': return h.clients_off
    if k == 'rings_off': return h.rings_off
    if k == 'errstats_off': return h.errstats_off
    if k == 'hz': return h.hz
    if k == 'list_max_listpack_size': return h.list_max_listpack_size
    if k == 'list_compress_depth': return h.list_compress_depth
    if k == 'hash_max_listpack_entries': return h.hash_max_listpack_entries
    if k == 'hash_max_listpack_value': return h.hash_max_listpack_value
    if k == 'set_max_intset_entries': return h.set_max_intset_entries
    if k == 'set_max_listpack_entries': return h.set_max_listpack_entries
    if k == 'set_max_listpack_value': return h.set_max_listpack_value
    if k == 'zset_max_listpack_entries': return h.zset_max_listpack_entries
    if k == 'zset_max_listpack_value': return h.zset_max_listpack_value
    if k == 'loglevel': return h.loglevel
    if k == 'client_query_buffer_limit': return h.client_query_buffer_limit
    if k == 'config_epoch': return cc_atomic_load(&h.config_epoch)
    if k == 'pubsub_off': return h.pubsub_off
    if k == 'notify_flags': return h.notify_flags
    if k == 'obl': return tuple(h.obl[i] for i in range(9))
    if k == 'hll_sparse_max_bytes': return h.hll_sparse_max_bytes
    if k == 'listen_port': return h.listen_port
    if k == 'protected_mode': return h.protected_mode
    if k == 'busy_reply_threshold': return h.busy_reply_threshold
    if k.startswith('persist:'): return persist_get(k[8:])     # shm/wal.pxi
    return obs_getattr(h, k)


cdef setattr_header(header_t *h, str k, v):
    """Set a header field that is a layout offset or a run-time setting."""
    if k == 'db_map_off': h.db_map_off = v
    elif k == 'locks_off': h.locks_off = v
    elif k == 'shards_off': h.shards_off = v
    elif k == 'dbstats_off': h.dbstats_off = v
    elif k == 'classes_off': h.classes_off = v
    elif k == 'wstats_off': h.wstats_off = v
    elif k == 'cmdstats_off': h.cmdstats_off = v
    elif k == 'pages_off': h.pages_off = v
    elif k == 'config_off': h.config_off = v
    elif k == 'arena_off': h.arena_off = v
    elif k == 'maxmemory': h.maxmemory = v
    elif k == 'policy': h.policy = v
    elif k == 'maxmemory_samples': h.maxmemory_samples = v
    elif k == 'lfu_log_factor': h.lfu_log_factor = v
    elif k == 'lfu_decay_time': h.lfu_decay_time = v
    elif k == 'maxclients': h.maxclients = v
    elif k == 'timeout': h.timeout = v
    elif k == 'proto_max_bulk_len': h.proto_max_bulk_len = v
    elif k == 'stat_reset_ms': h.stat_reset_ms = v
    elif k == 'shutdown_flags': h.shutdown_flags = v
    elif k == 'clients_off': h.clients_off = v
    elif k == 'rings_off': h.rings_off = v
    elif k == 'errstats_off': h.errstats_off = v
    elif k == 'hz': h.hz = v
    elif k == 'list_max_listpack_size': h.list_max_listpack_size = v
    elif k == 'list_compress_depth': h.list_compress_depth = v
    elif k == 'hash_max_listpack_entries': h.hash_max_listpack_entries = v
    elif k == 'hash_max_listpack_value': h.hash_max_listpack_value = v
    elif k == 'set_max_intset_entries': h.set_max_intset_entries = v
    elif k == 'set_max_listpack_entries': h.set_max_listpack_entries = v
    elif k == 'set_max_listpack_value': h.set_max_listpack_value = v
    elif k == 'zset_max_listpack_entries': h.zset_max_listpack_entries = v
    elif k == 'zset_max_listpack_value': h.zset_max_listpack_value = v
    elif k == 'loglevel': h.loglevel = v
    elif k == 'client_query_buffer_limit': h.client_query_buffer_limit = v
    elif k == 'protected_mode': h.protected_mode = v
    elif k == 'busy_reply_threshold': h.busy_reply_threshold = v
    elif k.startswith('persist:'): persist_set(k[8:], v)     # shm/wal.pxi
    elif k == 'notify_flags': h.notify_flags = v
    elif k == 'obl': obl_store(h, v)
    elif k == 'hll_sparse_max_bytes': h.hll_sparse_max_bytes = v
    elif k == 'listen_port': h.listen_port = v
    else:
        obs_setattr(h, k, v)


def set_setting(str k, v):
    """CONFIG SET of a run-time setting held in the header (visible to every worker)."""
    setattr_header(g_hdr, k, v)


def get_setting(str k):
    return getattr_header(g_hdr, k)


def worker_stats():
    """Per-worker counters of live worker slots (pid != 0): [{slot, pid, commands,
    hits, misses, expired, evicted, clients (connected now), connections (accepted),
    rejected_connections, net_in, net_out (bytes), errors (error replies), reads,
    writes (socket reads and reply writes)}]. Counters only grow, except after
    CONFIG RESETSTAT; CPU per worker is in /proc/<pid>/stat (commands/server.py
    worker_cpu)."""
    out = []
    cdef int w
    cdef wstat_t *ws
    for w in range(MAX_WORKERS):
        ws = <wstat_t *>(g_base + g_hdr.wstats_off) + w
        if ws.pid:
            out.append({'slot': w, 'pid': ws.pid, 'commands': ws.commands, 'hits': ws.hits,
                        'misses': ws.misses, 'expired': ws.expired, 'evicted': ws.evicted,
                        'clients': ws.clients, 'connections': ws.connections,
                        'rejected_connections': ws.rejected_connections,
                        'net_in': ws.net_in, 'net_out': ws.net_out, 'errors': ws.errors,
                        'reads': ws.reads, 'writes': ws.writes})
    return out


def stat_add(str field, int64_t n):
    """Add to this worker's counter (transport glue: connections, bytes)."""
    cdef wstat_t *ws = my_wstat()
    if field == 'clients': ws.clients += n
    elif field == 'connections': ws.connections += n
    elif field == 'rejected_connections': ws.rejected_connections += n
    elif field == 'net_in': ws.net_in += n
    elif field == 'net_out': ws.net_out += n
    else: raise KeyError(field)


def reset_worker_stats():
    """CONFIG RESETSTAT: zero the counters of every slot (clients stay)."""
    cdef int w
    cdef wstat_t *ws
    for w in range(MAX_WORKERS):
        ws = <wstat_t *>(g_base + g_hdr.wstats_off) + w
        ws.commands = ws.hits = ws.misses = ws.expired = ws.evicted = 0
        ws.connections = ws.rejected_connections = ws.net_in = ws.net_out = ws.errors = 0
        ws.reads = ws.writes = 0
    g_hdr.stat_reset_ms = cc_now_ms()


def clear_worker_slot(int w):
    """The supervisor forgets a dead worker's slot before restarting it."""
    cdef wstat_t *ws = <wstat_t *>(g_base + g_hdr.wstats_off) + w
    ws.clients = 0
    ws.pid = 0
