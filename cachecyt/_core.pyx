# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The core extension: shared-memory keyspace, RESP parser and encoder, and the
commands that run on the hot path. Built from topic files; this file holds only
imports and includes (see docs/ARCHITECTURE.md for the map)."""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int16_t, int32_t, int64_t
from libc.string cimport memcpy, memset, memmove, memcmp, memchr, strlen, strncpy, strcmp
from libc.stdlib cimport malloc, realloc, free
from libc.stdio cimport snprintf
from libc.math cimport isnan, isinf
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.unistd cimport getpid
from cpython.bytes cimport PyBytes_FromStringAndSize

from cachecyt.includes.cc cimport *

cdef extern from "<strings.h>" nogil:
    int strncasecmp(const char *a, const char *b, size_t n)

include "includes/consts.pxi"
include "shm/layout.pxi"
include "shm/segment.pxi"
include "shm/tenantmem.pxi"
include "shm/alloc.pxi"
include "shm/item.pxi"
include "shm/table.pxi"
include "shm/keys.pxi"
include "shm/expire.pxi"
include "shm/sketch.pxi"
include "shm/evict.pxi"
include "shm/shadow.pxi"
include "shm/check.pxi"
include "protocol/resp.pxi"
include "protocol/reply.pxi"
include "protocol/memtext.pxi"
include "commands/errors.pxi"
include "commands/dispatch.pxi"
include "commands/client.pxi"
include "commands/batchhold.pxi"
include "shm/ring.pxi"
include "shm/clients.pxi"
include "shm/acl.pxi"
include "shm/tenants.pxi"
include "shm/stats.pxi"
include "shm/script.pxi"
include "types/string.pxi"
include "types/bits.pxi"
include "types/lcs.pxi"
include "types/hll.pxi"
include "commands/keyspace.pxi"
include "types/glob.pxi"
include "commands/keys.pxi"
include "commands/move.pxi"
include "types/dict.pxi"
include "types/hash.pxi"
include "types/set.pxi"
include "types/value.pxi"
include "types/zset.pxi"
include "types/geo.pxi"
include "shm/blocking.pxi"
include "types/listlz.pxi"
include "types/list.pxi"
include "commands/sort.pxi"
include "commands/dump.pxi"
include "commands/connection.pxi"
include "commands/memcached.pxi"
include "commands/multi.pxi"
include "commands/pause.pxi"
include "commands/mcauth.pxi"
include "commands/mctenant.pxi"
include "shm/wal.pxi"
include "shm/snapshot.pxi"
include "shm/backupstat.pxi"
include "shm/pubsub.pxi"
include "commands/pubsub.pxi"
include "commands/notify.pxi"
include "scripting/luacall.pxi"


cdef void _register_core_handlers():
    register_string_commands()
    register_bits_commands()
    register_lcs_commands()
    register_move_commands()
    register_sort_commands()
    register_dump_commands()
    register_hll_commands()
    register_keyspace_commands()
    register_keys_commands()
    register_hash_commands()
    register_set_commands()
    register_connection_commands()
    register_zset_commands()
    register_geo_commands()
    register_list_commands()
    register_blocking_commands()
    register_multi_commands()
    register_pubsub_commands()
    register_lua_commands()
