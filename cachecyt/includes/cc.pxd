# C boundary of the core: declarations of includes/cc.h and pthread.
from libc.stdint cimport uint64_t, int64_t, uint32_t

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass

cdef extern from "cc.h" nogil:
    int CACHECYT_DEBUG
    uint64_t cc_atomic_add(uint64_t *p, int64_t d)
    uint64_t cc_xchg_u64(uint64_t *p, uint64_t v)
    int64_t cc_atomic_add_i(int64_t *p, int64_t d)
    uint64_t cc_atomic_load(uint64_t *p)
    int64_t cc_atomic_load_i(int64_t *p)
    void cc_atomic_store(uint64_t *p, uint64_t v)
    void cc_atomic_max_i(int64_t *p, int64_t v)
    uint64_t cc_hash(const char *p, size_t n)
    uint64_t cc_mix(uint64_t x)
    int64_t cc_now_ms()
    int64_t cc_now_us()
    int64_t cc_mono_us()
    int cc_mutex_init(pthread_mutex_t *m)
    int cc_lock(pthread_mutex_t *m)
    void cc_unlock(pthread_mutex_t *m)
    int cc_mutex_held(pthread_mutex_t *m)
    int cc_trylock(pthread_mutex_t *m)
    uint64_t cc_rand()
    void cc_seed(uint64_t s)
    uint64_t cc_reverse_bits(uint64_t v)
    void cc_sort_pairs(uint64_t *pairs, size_t n)
    int cc_parse_ld(const char *s, size_t n, long double *out)
    int cc_fmt_ld_human(char *buf, size_t cap, long double v)
    void cc_sort_u32(uint32_t *v, size_t n)
