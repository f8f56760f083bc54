# Constants of the core. Layout constants are part of the segment format:
# changing one means bumping LAYOUT_VERSION.

cdef enum:
    LAYOUT_VERSION = 8
    PAGE_SHIFT = 16
    PAGE_SIZE = 65536            # bytes per arena page; also the largest chunk
    BLOCK_SHIFT = 12
    BLOCK_SLOTS = 4096           # table slots per block (one page of slot_t)
    MAX_CLASSES = 64
    MAX_WORKERS = 64
    MAX_COMMANDS = 512
    LOCK_STRIDE = 64             # bytes per lock, one cache line each
    MIN_TABLE = 8                # smallest slot count of a shard table
    ITEM_HDR = 40                # sizeof(item_t)
    INDEX_SLOTS = 8192           # extent offsets per index chunk (one page)
    CLS_LOOKUP = 4097            # PAGE_SIZE / 16 + 1: size-to-class table entries
    MAX_CLIENT_SLOTS = 16384     # rows of the shared client table (bounds maxclients)
    RING_CELLS = 256             # messages per worker signal ring (power of two)
    MAX_ERRSTATS = 32            # error prefixes counted per worker
    BW_PER_PAGE = 818            # wait entries per registry page: (PAGE_SIZE - 64) / sizeof(bwait_t)
    BW_BUCKETS = 65536           # counters of waited keys by hash (shm/blocking.pxi)
    MSG_RING_BYTES = 1048576     # bytes of each worker's pub/sub message ring (power of two)

# status codes of nogil core functions; only the command layer turns them into replies
cdef enum:
    ST_OK = 0
    ST_NOTFOUND = 1
    ST_WRONGTYPE = 2
    ST_NOMEM = 3
    ST_EXISTS = 4
    ST_NOTINT = 5
    ST_OVERFLOW = 6
    ST_TOOBIG = 7
    ST_NOTFLOAT = 8
    ST_NANINF = 9

# value types (item_t.type) and encodings (item_t.encoding)
cdef enum:
    T_STRING = 0
    T_LIST = 1
    T_SET = 2
    T_ZSET = 3
    T_HASH = 4

cdef enum:
    ENC_RAW = 0                  # bytes, reported as raw (made by APPEND, SETRANGE ...)
    ENC_INT = 1                  # 8-byte int64 in the value area
    ENC_EMBSTR = 2               # bytes as SET stored them: embstr up to 44 bytes, else raw
    # collections (types/*.pxi): the compact encodings, then the scalable ones
    ENC_LISTPACK = 3             # list, hash, set, zset: one packed chunk
    ENC_INTSET = 4               # set of integers: one sorted int64 array
    ENC_QUICKLIST = 5            # list: chunked packed nodes
    ENC_HASHTABLE = 6            # hash, set: nested open-addressing table
    ENC_SKIPLIST = 7             # zset: skiplist + member index

# item_t.iflags
cdef enum:
    IF_EXTENTS = 1               # data (key || value) lives in whole-page extents
    IF_EXTENTS2 = 2              # ... listed in index chunks, not after the header
    IF_STALE = 4                 # memcached: invalidated (md I, ms I with an older CAS)
    IF_WON = 8                   # memcached: a client was given the right to recache (W)
    IF_FETCHED = 16              # memcached: read at least once since stored
    IF_BINKEY = 32               # memcached: stored with a base64 key (ms b); k answers in base64
    IF_WINDOW = 64               # adaptive policy: the key is in its shard's window queue (shm/evict.pxi)
    IF_REF = 128                 # ... and was read while there (a second chance in the window)

# maxmemory-policy values
cdef enum:
    POL_NOEVICTION = 0
    POL_ALLKEYS_LRU = 1
    POL_ALLKEYS_LFU = 2
    POL_ALLKEYS_RANDOM = 3
    POL_VOLATILE_LRU = 4
    POL_VOLATILE_LFU = 5
    POL_VOLATILE_RANDOM = 6
    POL_VOLATILE_TTL = 7
    POL_ALLKEYS_ADAPTIVE = 8     # shm/evict.pxi: window + frequency-sketch admission
    POL_VOLATILE_ADAPTIVE = 9
