# A small LZ77 byte compressor for the inner nodes of lists (list-compress-depth,
# types/list.pxi). Pure C, no allocation, no state between calls: it runs under
# shard locks. It only ever reads what this process or another worker wrote
# with it, but the unpacker still checks every length against both buffers.
#
# How it works
#   The packed form is a sequence of tokens. A control byte below 32 starts a
#   literal run of (byte + 1) bytes, copied as they are. Any other control byte
#   starts a back-reference: its top 3 bits are the length code L (1..6, or 7
#   followed by one more byte added to it), its low 5 bits and the next byte the
#   distance d (0..8191); the reference copies L + 2 bytes starting d + 1 bytes
#   back in the output, and may overlap the bytes it is producing (a run).
#   The packer hashes the 3 bytes at each position into a table of the last
#   position seen with that hash, and takes a back-reference when those bytes
#   match within the window, extended as far as it goes (greedy). It gives up
#   (returns 0) as soon as the output would not fit in the caller's buffer, so
#   asking for "at most n - 8 bytes" costs nothing on data that does not shrink.

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #define CC_LZ_HBITS 13
    #define CC_LZ_WINDOW 8192
    #define CC_LZ_MAXREF 264            /* 7 + 255 + 2 */
    static char cc_lz_view[65536];      /* one node unpacked for reading */

    static inline uint32_t cc_lz_hash(const uint8_t *p) {
        uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
        return (v * 2654435761u) >> (32 - CC_LZ_HBITS);
    }

    /* Append the literal bytes lit[0..n) as runs of at most 32; 0 = no room. */
    static inline int cc_lz_literals(const uint8_t *lit, size_t n, uint8_t *out,
                                     size_t *op, size_t cap) {
        while (n) {
            size_t run = n > 32 ? 32 : n;
            if (*op + 1 + run > cap) return 0;
            out[(*op)++] = (uint8_t)(run - 1);
            memcpy(out + *op, lit, run);
            *op += run;
            lit += run;
            n -= run;
        }
        return 1;
    }

    /* Pack in[0..n) into out (at most cap bytes): the packed size, or 0 when it
       does not fit. */
    static size_t cc_lz_pack(const char *src, size_t n, char *dst, size_t cap) {
        const uint8_t *in = (const uint8_t *)src;
        uint8_t *out = (uint8_t *)dst;
        uint32_t last[1 << CC_LZ_HBITS];        /* position + 1, 0 = none */
        size_t ip = 0, lit = 0, op = 0;
        memset(last, 0, sizeof(last));
        while (ip + 3 <= n) {
            uint32_t h = cc_lz_hash(in + ip);
            size_t ref = last[h];
            last[h] = (uint32_t)(ip + 1);
            if (ref && ip - (ref - 1) <= CC_LZ_WINDOW
                    && memcmp(in + ref - 1, in + ip, 3) == 0) {
                size_t from = ref - 1, len = 3, max = n - ip, dist, code;
                if (max > CC_LZ_MAXREF) max = CC_LZ_MAXREF;
                while (len < max && in[from + len] == in[ip + len]) len++;
                if (!cc_lz_literals(in + lit, ip - lit, out, &op, cap)) return 0;
                dist = ip - from - 1;
                code = len - 2;
                if (op + 3 > cap) return 0;
                if (code < 7) {
                    out[op++] = (uint8_t)((code << 5) | (dist >> 8));
                } else {
                    out[op++] = (uint8_t)((7 << 5) | (dist >> 8));
                    out[op++] = (uint8_t)(code - 7);
                }
                out[op++] = (uint8_t)(dist & 255);
                /* the positions inside the match feed the table too, so the
                   next repetition finds the nearest copy */
                for (size_t j = ip + 1; j < ip + len && j + 3 <= n; j++)
                    last[cc_lz_hash(in + j)] = (uint32_t)(j + 1);
                ip += len;
                lit = ip;
            } else {
                ip++;
            }
        }
        if (!cc_lz_literals(in + lit, n - lit, out, &op, cap)) return 0;
        return op;
    }

    /* Unpack in[0..n) into out (at most cap bytes): the unpacked size, or
       (size_t)-1 when the input is not well formed. */
    static size_t cc_lz_unpack(const char *src, size_t n, char *dst, size_t cap) {
        const uint8_t *in = (const uint8_t *)src;
        uint8_t *out = (uint8_t *)dst;
        size_t ip = 0, op = 0;
        while (ip < n) {
            uint8_t c = in[ip++];
            if (c < 32) {
                size_t run = (size_t)c + 1;
                if (ip + run > n || op + run > cap) return (size_t)-1;
                memcpy(out + op, in + ip, run);
                ip += run;
                op += run;
            } else {
                size_t len = c >> 5, dist;
                if (len == 7) {
                    if (ip >= n) return (size_t)-1;
                    len += in[ip++];
                }
                if (ip >= n) return (size_t)-1;
                dist = (((size_t)c & 31) << 8) | in[ip++];
                len += 2;
                if (dist + 1 > op || op + len > cap) return (size_t)-1;
                for (size_t j = 0; j < len; j++, op++)     /* may overlap: byte by byte */
                    out[op] = out[op - dist - 1];
            }
        }
        return op;
    }
    """
    char cc_lz_view[65536]
    size_t cc_lz_pack(const char *src, size_t n, char *dst, size_t cap) nogil
    size_t cc_lz_unpack(const char *src, size_t n, char *dst, size_t cap) nogil


def _test_lz_roundtrip(bytes data):
    """Pack and unpack data (tests): (packed size or 0, unpacked bytes or None)."""
    cdef size_t n = len(data), z, u
    cdef char *buf = <char *>malloc(n + 16)
    cdef char *back = <char *>malloc(n + 16)
    try:
        z = cc_lz_pack(data, n, buf, n + 16)
        if z == 0:
            return 0, None
        u = cc_lz_unpack(buf, z, back, n + 16)
        if u == <size_t>-1:
            return z, None
        return z, back[:u]
    finally:
        free(buf)
        free(back)
