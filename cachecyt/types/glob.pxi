# Glob-style patterns as Redis matches them (KEYS, SCAN MATCH, later CONFIG GET
# and PSUBSCRIBE): plain C over byte strings, nogil, no allocation, safe to call
# under a shard lock. It must not grow features of its own: every quirk below is
# Redis's observable behaviour and clients depend on it.
#
# How it works
#   *      any run of bytes (runs of stars count as one)
#   ?      any one byte
#   [...]  one byte of the set: single bytes, ranges a-z (ends in either order),
#          \x for a literal x, ^ first negates. Bytes compare as signed chars, so
#          a range running into bytes >= 0x80 behaves as it does in Redis. A set
#          left open at the end of the pattern ends there.
#   \x     the byte x literally
#   A star tries every split of the rest of the string, recursively. Two guards
#   keep hostile patterns cheap, as in Redis: once an inner star has run off the
#   end of the string, no longer split can match (`give_up`), and recursion
#   deeper than GLOB_MAX_NESTING stars fails the match.
#   A special case of Redis's: the empty string matches no pattern that starts
#   with a star, since the matching loop runs only while both are non-empty;
#   callers that want "*" to mean everything test for it themselves.

cdef enum:
    GLOB_MAX_NESTING = 1000


cdef bint _glob_set(const char **pp, uint64_t *plen, signed char ch) noexcept nogil:
    """Match one byte against the set whose body starts at *pp (after '['). Leaves
    *pp on the set's closing ']' (or on its last byte when the set is open)."""
    cdef const signed char *p = <const signed char *>pp[0]
    cdef uint64_t n = plen[0]
    cdef bint negate = n > 0 and p[0] == 94          # '^'
    cdef bint hit = False
    cdef int lo, hi, t
    if negate:
        p += 1
        n -= 1
    while True:
        if n >= 2 and p[0] == 92:                    # '\\': the next byte literally
            p += 1
            n -= 1
            if p[0] == ch:
                hit = True
        elif n == 0:
            p -= 1                                   # open set: stop on its last byte
            n += 1
            break
        elif p[0] == 93:                             # ']'
            break
        elif n >= 3 and p[1] == 45:                  # '-': a range
            lo = p[0]
            hi = p[2]
            if lo > hi:
                t = lo
                lo = hi
                hi = t
            p += 2
            n -= 2
            if lo <= ch <= hi:
                hit = True
        elif p[0] == ch:
            hit = True
        p += 1
        n -= 1
    pp[0] = <const char *>p
    plen[0] = n
    return hit != negate


cdef bint _glob(const char *p, uint64_t plen, const char *s, uint64_t slen,
                bint *give_up, int nesting) noexcept nogil:
    if nesting > GLOB_MAX_NESTING:
        return False
    while plen and slen:
        if p[0] == 42:                               # '*'
            while plen > 1 and p[1] == 42:
                p += 1
                plen -= 1
            if plen == 1:
                return True
            while slen:
                if _glob(p + 1, plen - 1, s, slen, give_up, nesting + 1):
                    return True
                if give_up[0]:
                    return False
                s += 1
                slen -= 1
            give_up[0] = True
            return False
        elif p[0] == 63:                             # '?'
            s += 1
            slen -= 1
        elif p[0] == 91:                             # '['
            p += 1
            plen -= 1
            if not _glob_set(&p, &plen, <signed char>s[0]):
                return False
            s += 1
            slen -= 1
        else:
            if p[0] == 92 and plen >= 2:             # '\\'
                p += 1
                plen -= 1
            if p[0] != s[0]:
                return False
            s += 1
            slen -= 1
        p += 1
        plen -= 1
        if slen == 0:
            while plen and p[0] == 42:
                p += 1
                plen -= 1
            break
    return plen == 0 and slen == 0


cdef inline bint glob_matchlen(const char *pat, uint64_t plen,
                               const char *s, uint64_t slen) noexcept nogil:
    """True when the byte string s matches the pattern (case-sensitive)."""
    cdef bint give_up = False
    return _glob(pat, plen, s, slen, &give_up, 0)


cdef inline bint glob_is_all(const char *pat, uint64_t plen) noexcept nogil:
    """The pattern "*", which callers take as "every key" (the empty one too)."""
    return plen == 1 and pat[0] == 42


def glob_match(bytes pattern, bytes string):
    """Test hook: glob_matchlen on Python bytes."""
    return glob_matchlen(pattern, len(pattern), string, len(string))
