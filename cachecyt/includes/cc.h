/* C helpers for the core: atomics, the key hash, clocks and robust process-shared
 * mutexes. Everything here is header-only and used from Cython through
 * includes/cc.pxd. Nothing here knows the segment layout. */
#ifndef CACHECYT_CC_H
#define CACHECYT_CC_H
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <math.h>

#ifndef CACHECYT_DEBUG
#define CACHECYT_DEBUG 0
#endif

/* Swap in v, returning the old value (sequentially consistent). */
static inline uint64_t cc_xchg_u64(uint64_t *p, uint64_t v) {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static inline uint64_t cc_atomic_add(uint64_t *p, int64_t d) {
    return __atomic_add_fetch(p, (uint64_t)d, __ATOMIC_RELAXED);
}
static inline int64_t cc_atomic_add_i(int64_t *p, int64_t d) {
    return __atomic_add_fetch(p, d, __ATOMIC_RELAXED);
}
static inline uint64_t cc_atomic_load(uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline int64_t cc_atomic_load_i(int64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void cc_atomic_store(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline void cc_atomic_max_i(int64_t *p, int64_t v) {
    int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, 1,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/* Key hash: 8 bytes per step, multiply-xorshift mixing, a strong final mix.
 * Shard = low bits, home bucket = the bits above them. */
static inline uint64_t cc_mix(uint64_t x) {
    x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}
static inline uint64_t cc_hash(const char *p, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ULL ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        h = (h ^ cc_mix(w)) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        p += 8; n -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, p, n);
    h = (h ^ cc_mix(t ^ ((uint64_t)n << 56))) * 0xbf58476d1ce4e5b9ULL;
    return cc_mix(h);
}

static inline int64_t cc_now_ms(void) {
    struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static inline int64_t cc_now_us(void) {
    struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static inline int64_t cc_mono_us(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Robust, process-shared mutexes. cc_lock returns 0, or 1 when the previous
 * owner died holding it (the caller must repair what the lock guards). */
static inline int cc_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}
static inline int cc_lock(pthread_mutex_t *m) {
    int rc = pthread_mutex_lock(m);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        return 1;
    }
    return 0;
}
/* cc_lock without waiting: 0 taken, 1 taken from a dead owner, -1 busy. */
static inline int cc_trylock(pthread_mutex_t *m) {
    int rc = pthread_mutex_trylock(m);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        return 1;
    }
    return rc == 0 ? 0 : -1;
}
static inline void cc_unlock(pthread_mutex_t *m) {
    pthread_mutex_unlock(m);
}

/* Debug builds: whether the calling thread holds m (glibc records the owner's
 * thread id in the mutex). Always true elsewhere: the check is a debug aid. */
#if CACHECYT_DEBUG && defined(__GLIBC__)
#include <sys/syscall.h>
#include <unistd.h>
static inline int cc_mutex_held(pthread_mutex_t *m) {
    return m->__data.__owner == (int)syscall(SYS_gettid);
}
#else
static inline int cc_mutex_held(pthread_mutex_t *m) { (void)m; return 1; }
#endif

/* fast xorshift for sampling (per process state is fine) */
static uint64_t cc_rng_state = 0x9e3779b97f4a7c15ULL;
static inline uint64_t cc_rand(void) {
    uint64_t x = cc_rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    cc_rng_state = x;
    return x;
}
static inline void cc_seed(uint64_t s) { cc_rng_state = cc_mix(s) | 1; }

static inline uint64_t cc_reverse_bits(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    return (v >> 32) | (v << 32);
}

static int cc_pair_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static int cc_u32_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}
static inline void cc_sort_u32(uint32_t *v, size_t n) {
    qsort(v, n, 4, cc_u32_cmp);
}
/* sort n (key, value) uint64 pairs by key */
static inline void cc_sort_pairs(uint64_t *pairs, size_t n) {
    qsort(pairs, n, 16, cc_pair_cmp);
}

/* Redis's string2ld: the whole string is a long double, no leading space, no nan. */
static inline int cc_parse_ld(const char *s, size_t n, long double *out) {
    char buf[5*1024+1];
    char *end;
    if (n == 0 || n >= sizeof(buf)) return 0;
    memcpy(buf, s, n); buf[n] = 0;
    errno = 0;
    long double v = strtold(buf, &end);
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' ||
        buf[0] == '\v' || buf[0] == '\f' || *end != 0 || (size_t)(end - buf) != n ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) || v != v)
        return 0;
    *out = v;
    return 1;
}
/* Redis's ld2string in human mode: %.17Lf without trailing zeros or dot. */
static inline int cc_fmt_ld_human(char *buf, size_t cap, long double v) {
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap) return 0;
    if (memchr(buf, '.', n)) {
        while (n > 0 && buf[n-1] == '0') n--;
        if (n > 0 && buf[n-1] == '.') n--;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; n = 1; }
    buf[n] = 0;
    return n;
}
#endif
