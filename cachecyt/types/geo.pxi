# GEO commands, as Redis 7.0: a geo set is a sorted set (types/zset.pxi) whose
# scores are 52-bit geohashes.
#
# A position (longitude -180..180, latitude -85.05112878..85.05112878) becomes
# two 26-bit cell indexes, interleaved latitude-first into the 52 low bits of
# the score. Reading a score back gives the centre of its cell. GEOHASH
# re-encodes that centre with latitudes -90..90, the standard geohash.
#
# A search (GEOSEARCH, GEORADIUS*) picks a cell size from the radius (or the
# box's half diagonal), takes the centre's cell and its 8 neighbours, walks
# each cell's score interval [cell << s, (cell + 1) << s) with the zset
# cursor, and keeps the members within the exact shape (haversine distance,
# Earth radius 6372797.560856 m). Cells, their order and the edge rules follow
# Redis so that unsorted replies and COUNT ANY pick the same members.
#
# Everything that reads members runs under the key's shard lock; the STORE
# forms lock the source's and the destination's shards in the lock order. The
# parser runs twice for them: once unlocked only to find the destination key,
# then under the locks for real (its errors depend on the source key).

cdef extern from *:
    """
    static uint64_t geo_spread(uint32_t v) {
        uint64_t x = v;
        x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
        x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
        x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
        x = (x | (x << 2)) & 0x3333333333333333ULL;
        x = (x | (x << 1)) & 0x5555555555555555ULL;
        return x;
    }
    static uint32_t geo_squash(uint64_t x) {
        x &= 0x5555555555555555ULL;
        x = (x | (x >> 1)) & 0x3333333333333333ULL;
        x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
        x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
        x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
        x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
        return (uint32_t)x;
    }
    """
    uint64_t geo_spread(uint32_t v) nogil
    uint32_t geo_squash(uint64_t x) nogil

cdef extern from "<math.h>" nogil:
    double sin(double)
    double cos(double)
    double asin(double)
    double sqrt(double)
    double fabs(double)

cdef enum:
    GEO_STEP_MAX = 26

cdef double GEO_LAT_MIN = -85.05112878
cdef double GEO_LAT_MAX = 85.05112878
cdef double GEO_EARTH_M = 6372797.560856
cdef double GEO_MERCATOR_MAX = 20037726.37
cdef double GEO_D_R = 3.14159265358979323846 / 180.0
cdef const char *GEO_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"

cdef const char *E_GEOPAIR = "ERR invalid longitude,latitude pair %f,%f"
cdef const char *E_GEOUNIT = "ERR unsupported unit provided. please use M, KM, FT, MI"
cdef const char *E_GEOMEMBER = "ERR could not decode requested zset member"
cdef const char *E_GEORADIUS = "ERR need numeric radius"
cdef const char *E_GEONEGRADIUS = "ERR radius cannot be negative"
cdef const char *E_GEOWIDTH = "ERR need numeric width"
cdef const char *E_GEOHEIGHT = "ERR need numeric height"
cdef const char *E_GEONEGBOX = "ERR height or width cannot be negative"
cdef const char *E_GEOCOUNT = "ERR COUNT must be > 0"
cdef const char *E_GEOANY = "ERR the ANY argument requires COUNT argument"


# ---- geohash ---------------------------------------------------------------------------

ctypedef struct geoarea_t:
    double lon_min
    double lon_max
    double lat_min
    double lat_max


cdef uint64_t geo_encode(double lon, double lat, double lat_lo, double lat_hi, int step) noexcept nogil:
    """Interleaved cell index of a position (checked by the caller) at `step` bits a side."""
    cdef double lat_off = (lat - lat_lo) / (lat_hi - lat_lo)
    cdef double lon_off = (lon + 180.0) / 360.0
    lat_off *= <double>(1ULL << step)
    lon_off *= <double>(1ULL << step)
    return geo_spread(<uint32_t>lat_off) | (geo_spread(<uint32_t>lon_off) << 1)


cdef void geo_decode(uint64_t bits, int step, geoarea_t *a) noexcept nogil:
    """The cell of an interleaved index (WGS84 latitude range)."""
    cdef uint32_t ilat = geo_squash(bits), ilon = geo_squash(bits >> 1)
    cdef double lat_scale = GEO_LAT_MAX - GEO_LAT_MIN, lon_scale = 360.0
    cdef double cells = <double>(1ULL << step)
    a.lat_min = GEO_LAT_MIN + (ilat * 1.0 / cells) * lat_scale
    a.lat_max = GEO_LAT_MIN + ((ilat + 1) * 1.0 / cells) * lat_scale
    a.lon_min = -180.0 + (ilon * 1.0 / cells) * lon_scale
    a.lon_max = -180.0 + ((ilon + 1) * 1.0 / cells) * lon_scale


cdef void geo_score_pos(double score, double *lon, double *lat) noexcept nogil:
    """The position a score stands for: the centre of its cell."""
    cdef geoarea_t a
    geo_decode(<uint64_t>score, GEO_STEP_MAX, &a)
    lon[0] = (a.lon_min + a.lon_max) / 2
    if lon[0] > 180.0: lon[0] = 180.0
    if lon[0] < -180.0: lon[0] = -180.0
    lat[0] = (a.lat_min + a.lat_max) / 2
    if lat[0] > GEO_LAT_MAX: lat[0] = GEO_LAT_MAX
    if lat[0] < GEO_LAT_MIN: lat[0] = GEO_LAT_MIN


cdef inline double geo_lat_dist(double lat1, double lat2) noexcept nogil:
    return GEO_EARTH_M * fabs(lat2 * GEO_D_R - lat1 * GEO_D_R)


cdef double geo_dist(double lon1, double lat1, double lon2, double lat2) noexcept nogil:
    """Haversine distance in metres."""
    cdef double la1 = lat1 * GEO_D_R, la2 = lat2 * GEO_D_R
    cdef double v = sin((lon2 * GEO_D_R - lon1 * GEO_D_R) / 2), u, a
    if v == 0.0:
        return geo_lat_dist(lat1, lat2)
    u = sin((la2 - la1) / 2)
    a = u * u + cos(la1) * cos(la2) * v * v
    return 2.0 * GEO_EARTH_M * asin(sqrt(a))


# ---- replies -----------------------------------------------------------------------------

cdef void geo_reply_coord(wbuf_t *w, double v) noexcept nogil:
    """A coordinate as Redis's human long double: 17 decimals, trailing zeros cut."""
    cdef char buf[400]
    cdef int n = snprintf(buf, sizeof(buf), "%.17f", v)
    if memchr(buf, 46, n) != NULL:          # '.'
        while buf[n - 1] == 48:
            n -= 1
        if buf[n - 1] == 46:
            n -= 1
    if n == 2 and buf[0] == 45 and buf[1] == 48:
        buf[0] = 48
        n = 1
    if w.resp == 3:
        wb_put(w, ",", 1)
        wb_put(w, buf, n)
        wb_put(w, "\r\n", 2)
    else:
        wb_bulk(w, buf, n)


cdef void geo_reply_dist(wbuf_t *w, double d) noexcept nogil:
    cdef char buf[400]
    cdef int n = snprintf(buf, sizeof(buf), "%.4f", d)
    wb_bulk(w, buf, n)


cdef void geo_reply_pair_error(Client c, double lon, double lat) noexcept nogil:
    cdef char buf[800]
    snprintf(buf, sizeof(buf), E_GEOPAIR, lon, lat)
    wb_error(&c.out, buf)


# ---- arguments ---------------------------------------------------------------------------

cdef bint geo_arg_lonlat(Client c, uint64_t i, double *lon, double *lat) noexcept nogil:
    """argv[i], argv[i+1] as a valid position; False after an error reply."""
    if not arg_double(c, i, lon) or not arg_double(c, i + 1, lat):
        wb_error(&c.out, E_NOTFLOAT)
        return False
    if lon[0] < -180.0 or lon[0] > 180.0 or lat[0] < GEO_LAT_MIN or lat[0] > GEO_LAT_MAX:
        geo_reply_pair_error(c, lon[0], lat[0])
        return False
    return True


cdef double geo_unit(Client c, uint64_t i) noexcept nogil:
    """Metres per unit of argv[i]; -1 after an error reply."""
    if arg_eq(c, i, "m"): return 1.0
    if arg_eq(c, i, "km"): return 1000.0
    if arg_eq(c, i, "ft"): return 0.3048
    if arg_eq(c, i, "mi"): return 1609.34
    wb_error(&c.out, E_GEOUNIT)
    return -1.0


# ---- GEOADD ------------------------------------------------------------------------------

cdef int cmd_geoadd(Client c) except -1:
    cdef uint64_t i = 2, n, j, off
    cdef int flags = 0, st = ST_OK, out
    cdef double *scores
    cdef double lon, lat, newscore = 0
    cdef int64_t added = 0, changed = 0
    cdef kref_t k
    cdef zroot_t r
    while i < c.argc:
        if arg_eq(c, i, "nx"): flags |= ZA_NX
        elif arg_eq(c, i, "xx"): flags |= ZA_XX
        elif arg_eq(c, i, "ch"): flags |= ZA_CH
        else: break
        i += 1
    n = c.argc - i
    if n % 3 or (flags & ZA_NX and flags & ZA_XX) or n == 0:
        wb_error(&c.out, E_SYNTAX)
        return 0
    n //= 3
    scores = <double *>malloc(8 * n)
    if scores == NULL:
        raise MemoryError()
    for j in range(n):
        if not geo_arg_lonlat(c, i + 3 * j, &lon, &lat):
            free(scores)
            return 0
        scores[j] = <double>geo_encode(lon, lat, GEO_LAT_MIN, GEO_LAT_MAX, GEO_STEP_MAX)
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_locked(&k, c)
        if st == ST_NOTFOUND and not flags & ZA_XX:
            off = zs_new_item(&k, 1, c.argl[i + 2], c.now_ms)
            st = ST_NOMEM if off == 0 else key_store_locked(&k, off)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            for j in range(n):
                out = zadd_one(IT(k.item), &r, flags, scores[j], c.argv[i + 3 * j + 2],
                               c.argl[i + 3 * j + 2], &newscore, &st)
                if st != ST_OK:
                    break
                if out == ZO_ADDED: added += 1
                elif out == ZO_UPDATED: changed += 1
            zs_commit_locked(&k, &r)
            zs_handover_locked(c, &k)          # blocked clients take theirs now (shm/blocking.pxi)
        elif st == ST_NOTFOUND:
            st = ST_OK
        shard_unlock(k.shard)
    free(scores)
    if st != ST_OK:
        handover_finish()                       # members added before running out of memory
        return zs_reply_st(c, st)
    if added or changed: notify_arg(c, NK_ZSET, "zadd", 1)
    handover_finish()
    signal_key_ready(c.db, c.argv[1], c.argl[1])
    wb_int(&c.out, added + changed if flags & ZA_CH else added)
    return 0


# ---- GEOPOS GEODIST GEOHASH ----------------------------------------------------------

cdef int geo_read_lock(Client c, kref_t *k, zroot_t *r) noexcept nogil:
    """Lock the key's shard and look it up for a read (the lock stays held)."""
    cdef int st
    kref_init(k, c.argv[1], c.argl[1])
    shard_lock(k.shard)
    st = zs_lookup_read_locked(k, c)
    if st == ST_OK:
        zs_load(IT(k.item), r)
    return st


cdef int cmd_geopos(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef uint64_t j
    cdef double score, lon, lat
    with nogil:
        st = geo_read_lock(c, &k, &r)
        if st != ST_WRONGTYPE:
            wb_array(&c.out, <int64_t>(c.argc - 2))
            for j in range(2, c.argc):
                if st == ST_OK and zs_find(IT(k.item), &r, c.argv[j], c.argl[j], &score):
                    geo_score_pos(score, &lon, &lat)
                    wb_array(&c.out, 2)
                    geo_reply_coord(&c.out, lon)
                    geo_reply_coord(&c.out, lat)
                else:
                    wb_null_array(&c.out)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


cdef int cmd_geodist(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef double conv = 1.0, s1, s2, lon1, lat1, lon2, lat2
    if c.argc == 5:
        conv = geo_unit(c, 4)
        if conv < 0:
            return 0
    elif c.argc > 5:
        wb_error(&c.out, E_SYNTAX)
        return 0
    with nogil:
        st = geo_read_lock(c, &k, &r)
        if st == ST_OK and zs_find(IT(k.item), &r, c.argv[2], c.argl[2], &s1) and \
                zs_find(IT(k.item), &r, c.argv[3], c.argl[3], &s2):
            geo_score_pos(s1, &lon1, &lat1)
            geo_score_pos(s2, &lon2, &lat2)
            geo_reply_dist(&c.out, geo_dist(lon1, lat1, lon2, lat2) / conv)
        elif st != ST_WRONGTYPE:
            wb_null(&c.out)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


cdef void geo_hash_string(double score, char *buf) noexcept nogil:
    """The 11-character standard geohash of a member's position."""
    cdef double lon, lat
    cdef uint64_t bits
    cdef int i
    geo_score_pos(score, &lon, &lat)
    bits = geo_encode(lon, lat, -90.0, 90.0, GEO_STEP_MAX)
    for i in range(10):
        buf[i] = GEO_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1f]
    buf[10] = GEO_ALPHABET[0]        # 52 bits fill ten characters; the eleventh is 0


cdef int cmd_geohash(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef uint64_t j
    cdef double score
    cdef char buf[11]
    with nogil:
        st = geo_read_lock(c, &k, &r)
        if st != ST_WRONGTYPE:
            wb_array(&c.out, <int64_t>(c.argc - 2))
            for j in range(2, c.argc):
                if st == ST_OK and zs_find(IT(k.item), &r, c.argv[j], c.argl[j], &score):
                    geo_hash_string(score, buf)
                    wb_bulk(&c.out, buf, 11)
                else:
                    wb_null(&c.out)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


# ---- searching ---------------------------------------------------------------------------

cdef enum:
    GF_COORDS = 1                # GEORADIUS[_RO]: centre from the arguments
    GF_MEMBER = 2                # GEORADIUSBYMEMBER[_RO]: centre from a member
    GF_SEARCH = 4                # GEOSEARCH / GEOSEARCHSTORE
    GF_SEARCHSTORE = 8
    GF_NOSTORE = 16              # the _RO forms
    GEO_SORT_NONE = 0
    GEO_SORT_ASC = 1
    GEO_SORT_DESC = 2
    GEO_STORED = 100             # geo_search_locked: stored, count not replied yet

ctypedef struct geoq_t:
    bint box
    double lon                   # centre
    double lat
    double radius                # circle, in the unit
    double width                 # box, in the unit
    double height
    double conv                  # metres per unit
    uint64_t store               # argument index of the destination key, 0 = none
    bint storedist
    bint withdist
    bint withhash
    bint withcoord
    bint any
    int sort
    int64_t count                # 0 = all

ctypedef struct geopt_t:
    double dist                  # metres, then in the unit
    double score
    double lon
    double lat
    const char *m
    uint64_t mlen
    uint64_t seq                 # order found, for a stable sort

ctypedef struct geohits_t:
    geopt_t *a
    uint64_t n
    uint64_t cap
    bint oom


cdef int geo_parse_shape(Client c, int flags, uint64_t base, item_t *it, zroot_t *r,
                         geoq_t *q) noexcept nogil:
    """The centre and radius of GEORADIUS / GEORADIUSBYMEMBER (their fixed
    arguments); 1 after an error reply."""
    cdef double score
    if flags & GF_COORDS:
        if not geo_arg_lonlat(c, 2, &q.lon, &q.lat):
            return 1
    elif it == NULL:
        return 0                 # no key: the options are still checked
    elif not zs_find(it, r, c.argv[2], c.argl[2], &score):
        wb_error(&c.out, E_GEOMEMBER)
        return 1
    else:
        geo_score_pos(score, &q.lon, &q.lat)
    return geo_parse_radius(c, base - 2, q)


cdef int geo_parse_radius(Client c, uint64_t i, geoq_t *q) noexcept nogil:
    if not arg_double(c, i, &q.radius):
        wb_error(&c.out, E_GEORADIUS)
        return 1
    if q.radius < 0:
        wb_error(&c.out, E_GEONEGRADIUS)
        return 1
    q.conv = geo_unit(c, i + 1)
    q.box = False
    return 1 if q.conv < 0 else 0


cdef int geo_parse_box(Client c, uint64_t i, geoq_t *q) noexcept nogil:
    if not arg_double(c, i, &q.width):
        wb_error(&c.out, E_GEOWIDTH)
        return 1
    if not arg_double(c, i + 1, &q.height):
        wb_error(&c.out, E_GEOHEIGHT)
        return 1
    if q.width < 0 or q.height < 0:
        wb_error(&c.out, E_GEONEGBOX)
        return 1
    q.conv = geo_unit(c, i + 2)
    q.box = True
    return 1 if q.conv < 0 else 0


cdef int geo_parse(Client c, int flags, uint64_t base, item_t *it, zroot_t *r, geoq_t *q,
                   bint dry) noexcept nogil:
    """Options of a search from argv[base] on, as Redis reads them (errors in its
    order). dry: only find the destination key, no replies, no key reads."""
    cdef uint64_t i = base, left
    cdef bint frommember = False, fromloc = False, byradius = False, bybox = False
    cdef bint store_ok = not (flags & (GF_NOSTORE | GF_SEARCH))
    cdef double score
    while i < c.argc:
        left = c.argc - i - 1            # arguments after this one
        if arg_eq(c, i, "withdist"): q.withdist = True
        elif arg_eq(c, i, "withhash"): q.withhash = True
        elif arg_eq(c, i, "withcoord"): q.withcoord = True
        elif arg_eq(c, i, "any"): q.any = True
        elif arg_eq(c, i, "asc"): q.sort = GEO_SORT_ASC
        elif arg_eq(c, i, "desc"): q.sort = GEO_SORT_DESC
        elif arg_eq(c, i, "count") and left >= 1:
            if not arg_i64(c, i + 1, &q.count):
                if not dry: wb_error(&c.out, E_NOTINT)
                return 1
            if q.count <= 0:
                if not dry: wb_error(&c.out, E_GEOCOUNT)
                return 1
            i += 1
        elif (arg_eq(c, i, "store") or arg_eq(c, i, "storedist")) and left >= 1 and store_ok:
            q.store = i + 1
            q.storedist = arg_eq(c, i, "storedist")
            i += 1
        elif arg_eq(c, i, "storedist") and flags & GF_SEARCHSTORE:
            q.storedist = True
        elif arg_eq(c, i, "frommember") and left >= 1 and flags & GF_SEARCH and not fromloc:
            frommember = True
            if it != NULL and not dry:
                if not zs_find(it, r, c.argv[i + 1], c.argl[i + 1], &score):
                    wb_error(&c.out, E_GEOMEMBER)
                    return 1
                geo_score_pos(score, &q.lon, &q.lat)
            i += 1
        elif arg_eq(c, i, "fromlonlat") and left >= 2 and flags & GF_SEARCH and not frommember:
            if not dry and not geo_arg_lonlat(c, i + 1, &q.lon, &q.lat):
                return 1
            fromloc = True
            i += 2
        elif arg_eq(c, i, "byradius") and left >= 2 and flags & GF_SEARCH and not bybox:
            if not dry and geo_parse_radius(c, i + 1, q):
                return 1
            byradius = True
            i += 2
        elif arg_eq(c, i, "bybox") and left >= 3 and flags & GF_SEARCH and not byradius:
            if not dry and geo_parse_box(c, i + 1, q):
                return 1
            bybox = True
            i += 3
        else:
            if not dry: wb_error(&c.out, E_SYNTAX)
            return 1
        i += 1
    if dry:
        return 0
    return geo_parse_check(c, flags, q, frommember or fromloc, byradius or bybox)


cdef int geo_parse_check(Client c, int flags, geoq_t *q, bint centre, bint shape) noexcept nogil:
    """The option combinations Redis refuses; 1 after an error reply."""
    cdef char buf[200]
    if q.store and (q.withdist or q.withhash or q.withcoord):
        snprintf(buf, sizeof(buf), "ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
                 "GEOSEARCHSTORE" if flags & GF_SEARCHSTORE else "STORE option in GEORADIUS")
        wb_error(&c.out, buf)
        return 1
    if flags & GF_SEARCH and not centre:
        geo_name_error(c, "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ")
        return 1
    if flags & GF_SEARCH and not shape:
        geo_name_error(c, "ERR exactly one of BYRADIUS and BYBOX can be specified for ")
        return 1
    if q.any and q.count == 0:
        wb_error(&c.out, E_GEOANY)
        return 1
    return 0


cdef void geo_name_error(Client c, const char *msg) noexcept nogil:
    """An error ending with the command's name as typed."""
    cdef char buf[400]
    cdef uint64_t n = strlen(msg), ln = c.argl[0]
    if ln > 300:
        ln = 300
    memcpy(buf, msg, n)
    memcpy(buf + n, c.argv[0], ln)
    buf[n + ln] = 0
    wb_error(&c.out, buf)


cdef int geo_steps(double range_m, double lat) noexcept nogil:
    """Cell size for a search range: the largest cells about as big as it."""
    cdef int step = 1
    if range_m == 0:
        return GEO_STEP_MAX
    while range_m < GEO_MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    if step < 1:
        step = 1
    if step > GEO_STEP_MAX:
        step = GEO_STEP_MAX
    return step


cdef void geo_bounds(geoq_t *q, double *b) noexcept nogil:
    """Longitude/latitude bounds of the shape: min lon, min lat, max lon, max lat."""
    cdef double h, w, dlat, dtop, dbottom
    if q.box:
        h = q.conv * q.height / 2
        w = q.conv * q.width / 2
    else:
        h = w = q.conv * q.radius
    dlat = (h / GEO_EARTH_M) / GEO_D_R
    dtop = (w / GEO_EARTH_M / cos((q.lat + dlat) * GEO_D_R)) / GEO_D_R
    dbottom = (w / GEO_EARTH_M / cos((q.lat - dlat) * GEO_D_R)) / GEO_D_R
    if q.lat < 0:
        b[0] = q.lon - dbottom
        b[2] = q.lon + dbottom
    else:
        b[0] = q.lon - dtop
        b[2] = q.lon + dtop
    b[1] = q.lat - dlat
    b[3] = q.lat + dlat


cdef uint64_t geo_move(uint64_t bits, int step, int dlon, int dlat) noexcept nogil:
    """The neighbouring cell, wrapping around at the edges. Only a coordinate
    that moves is wrapped into range (a centre on the top edge, latitude or
    longitude offset 1.0, stays out of range in the other one, as in Redis)."""
    cdef uint32_t mask = <uint32_t>((1ULL << step) - 1)
    cdef uint32_t ilat = geo_squash(bits), ilon = geo_squash(bits >> 1)
    if dlat:
        ilat = (ilat + <uint32_t>dlat) & mask
    if dlon:
        ilon = (ilon + <uint32_t>dlon) & mask
    return geo_spread(ilat) | (geo_spread(ilon) << 1)


# the 9 cells in Redis's order: centre, N, S, E, W, NE, NW, SE, SW (dlon, dlat)
cdef int GEO_DLON[9]
cdef int GEO_DLAT[9]
GEO_DLON[:] = [0, 0, 0, 1, -1, 1, -1, 1, -1]
GEO_DLAT[:] = [0, 1, -1, 0, 0, 1, 1, -1, -1]


cdef int geo_cells(geoq_t *q, uint64_t *cells, bint *used) noexcept nogil:
    """The cells to walk (cells[i] valid where used[i]); returns their step."""
    cdef double b[4]
    cdef double range_m
    cdef int step, i
    cdef uint64_t centre
    cdef geoarea_t a, nb
    cdef bint finer = False
    if q.box:
        range_m = sqrt((q.conv * q.width / 2) ** 2 + (q.conv * q.height / 2) ** 2)
    else:
        range_m = q.conv * q.radius
    geo_bounds(q, b)
    step = geo_steps(range_m, q.lat)
    centre = geo_encode(q.lon, q.lat, GEO_LAT_MIN, GEO_LAT_MAX, step)
    # a neighbour too close to the centre leaves part of the shape out: one step coarser
    geo_decode(geo_move(centre, step, 0, 1), step, &nb)
    finer = finer or nb.lat_max < b[3]
    geo_decode(geo_move(centre, step, 0, -1), step, &nb)
    finer = finer or nb.lat_min > b[1]
    geo_decode(geo_move(centre, step, 1, 0), step, &nb)
    finer = finer or nb.lon_max < b[2]
    geo_decode(geo_move(centre, step, -1, 0), step, &nb)
    finer = finer or nb.lon_min > b[0]
    if step > 1 and finer:
        step -= 1
        centre = geo_encode(q.lon, q.lat, GEO_LAT_MIN, GEO_LAT_MAX, step)
    geo_decode(centre, step, &a)
    for i in range(9):
        cells[i] = geo_move(centre, step, GEO_DLON[i], GEO_DLAT[i])
        used[i] = True
    if step >= 2:                # rows and columns wholly outside the bounds
        for i in range(9):
            if (a.lat_min < b[1] and GEO_DLAT[i] == -1) or (a.lat_max > b[3] and GEO_DLAT[i] == 1) \
                    or (a.lon_min < b[0] and GEO_DLON[i] == -1) or (a.lon_max > b[2] and GEO_DLON[i] == 1):
                used[i] = False
    return step


cdef bint geo_in_shape(geoq_t *q, double lon, double lat, double *dist) noexcept nogil:
    if not q.box:
        dist[0] = geo_dist(q.lon, q.lat, lon, lat)
        return dist[0] <= q.radius * q.conv
    if geo_lat_dist(lat, q.lat) > q.height * q.conv / 2:
        return False
    if geo_dist(lon, lat, q.lon, lat) > q.width * q.conv / 2:
        return False
    dist[0] = geo_dist(q.lon, q.lat, lon, lat)
    return True


cdef void geo_hit(geohits_t *h, double dist, zcur_t *cur, double lon, double lat) noexcept nogil:
    cdef geopt_t *na
    cdef uint64_t cap
    if h.n == h.cap:
        cap = h.cap * 2 if h.cap else 16
        na = <geopt_t *>realloc(h.a, cap * sizeof(geopt_t))
        if na == NULL:
            h.oom = True
            return
        h.a = na
        h.cap = cap
    h.a[h.n].dist = dist
    h.a[h.n].score = cur.score
    h.a[h.n].lon = lon
    h.a[h.n].lat = lat
    h.a[h.n].m = cur.m
    h.a[h.n].mlen = cur.mlen
    h.a[h.n].seq = h.n
    h.n += 1


cdef void geo_walk_cell(item_t *it, zroot_t *r, geoq_t *q, uint64_t cell, int step,
                        uint64_t limit, geohits_t *h) noexcept nogil:
    """Members whose score lies in the cell and whose position is in the shape."""
    cdef int shift = 52 - 2 * step
    cdef uint64_t a = zs_score_rank(it, r, <double>(cell << shift), False)
    cdef uint64_t b = zs_score_rank(it, r, <double>((cell + 1) << shift), False)
    cdef uint64_t i
    cdef zcur_t cur
    cdef double lon, lat, dist = 0
    for i in range(a, b):
        if i == a:
            zcur_seek(&cur, it, r, a)
        else:
            zcur_next(&cur)
        geo_score_pos(cur.score, &lon, &lat)
        if geo_in_shape(q, lon, lat, &dist):
            geo_hit(h, dist, &cur, lon, lat)
            if h.oom or (limit and h.n >= limit):
                return


cdef void geo_collect(item_t *it, zroot_t *r, geoq_t *q, geohits_t *h) noexcept nogil:
    """Every member in the shape (COUNT ANY: stop at COUNT), cell by cell."""
    cdef uint64_t cells[9]
    cdef bint used[9]
    cdef int step = geo_cells(q, cells, used), i, last = 0
    cdef uint64_t limit = <uint64_t>q.count if q.any else 0
    for i in range(9):
        if not used[i]:
            continue
        # with huge radii neighbours repeat; as Redis, a cell equal to the last
        # one walked (never the centre) is skipped
        if last and cells[i] == cells[last]:
            continue
        if h.oom or (limit and h.n >= limit):
            break
        geo_walk_cell(it, r, q, cells[i], step, limit, h)
        last = i


cdef extern from *:
    """
    typedef struct { double dist; double score; double lon; double lat;
                     const char *m; uint64_t mlen; uint64_t seq; } geo_pt_c;
    static int geo_cmp_asc(const void *a, const void *b) {
        const geo_pt_c *x = (const geo_pt_c *)a, *y = (const geo_pt_c *)b;
        if (x->dist != y->dist) return x->dist > y->dist ? 1 : -1;
        return x->seq > y->seq ? 1 : (x->seq < y->seq ? -1 : 0);
    }
    static int geo_cmp_desc(const void *a, const void *b) {
        const geo_pt_c *x = (const geo_pt_c *)a, *y = (const geo_pt_c *)b;
        if (x->dist != y->dist) return x->dist < y->dist ? 1 : -1;
        return x->seq > y->seq ? 1 : (x->seq < y->seq ? -1 : 0);
    }
    """
    int geo_cmp_asc(const void *a, const void *b) noexcept nogil
    int geo_cmp_desc(const void *a, const void *b) noexcept nogil
    void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *) noexcept nogil) nogil


cdef void geo_reply_hits(Client c, geoq_t *q, geohits_t *h, uint64_t n) noexcept nogil:
    cdef uint64_t i
    cdef int extra = q.withdist + q.withhash + q.withcoord
    cdef geopt_t *p
    wb_array(&c.out, <int64_t>n)
    for i in range(n):
        p = &h.a[i]
        if extra:
            wb_array(&c.out, extra + 1)
        wb_bulk(&c.out, p.m, p.mlen)
        if q.withdist:
            geo_reply_dist(&c.out, p.dist / q.conv)
        if q.withhash:
            wb_int(&c.out, <int64_t>p.score)
        if q.withcoord:
            wb_array(&c.out, 2)
            geo_reply_coord(&c.out, p.lon)
            geo_reply_coord(&c.out, p.lat)


cdef int geo_store_hits(Client c, kref_t *dst, geoq_t *q, geohits_t *h, uint64_t n,
                        int64_t *count) noexcept nogil:
    """Make the destination a zset of the hits (scores: geohashes, or distances
    in the unit with STOREDIST); none deletes it. ST_OK or ST_NOMEM."""
    cdef zroot_t tmp
    cdef uint64_t i
    cdef int st
    memset(&tmp, 0, sizeof(zroot_t))
    if zsl_init(&tmp) != ST_OK:
        return ST_NOMEM
    for i in range(n):
        st = zsl_insert(&tmp, h.a[i].m, h.a[i].mlen,
                        h.a[i].dist / q.conv if q.storedist else h.a[i].score)
        if st != ST_OK:
            zsl_free(&tmp)
            return st
    return zs_store_result_locked(dst, &tmp, c, count)


cdef int geo_search_locked(Client c, int flags, uint64_t base, kref_t *src, kref_t *dst,
                           geoq_t *q, int64_t *stored) noexcept nogil:
    """A whole search with its shards locked: parse, collect, then reply or
    store. Returns ST_OK with the reply written, GEO_STORED (the caller
    replies with *stored), or an ST_* error for the caller to reply."""
    cdef int st = zs_lookup_read_locked(src, c)
    cdef item_t *it = NULL
    cdef zroot_t r
    cdef geohits_t h
    cdef uint64_t n
    if st == ST_WRONGTYPE:
        return st
    if st == ST_OK:
        it = IT(src.item)
        zs_load(it, &r)
    memset(q, 0, sizeof(geoq_t))
    if flags & GF_SEARCHSTORE:
        q.store = 1
    if flags & (GF_COORDS | GF_MEMBER) and geo_parse_shape(c, flags, base, it, &r, q):
        return ST_OK
    if geo_parse(c, flags, base, it, &r, q, False):
        return ST_OK
    if it == NULL:
        if q.store:
            st = geo_store_hits(c, dst, q, NULL, 0, stored)
            return GEO_STORED if st == ST_OK else st
        wb_array(&c.out, 0)
        return ST_OK
    if q.count and q.sort == GEO_SORT_NONE and not q.any:
        q.sort = GEO_SORT_ASC
    memset(&h, 0, sizeof(geohits_t))
    geo_collect(it, &r, q, &h)
    if h.oom:
        free(h.a)
        return ST_NOMEM
    n = h.n
    if q.count and <uint64_t>q.count < n:
        n = <uint64_t>q.count
    if q.sort != GEO_SORT_NONE and h.n > 1:
        qsort(h.a, h.n, sizeof(geopt_t), geo_cmp_asc if q.sort == GEO_SORT_ASC else geo_cmp_desc)
    if q.store:
        st = geo_store_hits(c, dst, q, &h, n, stored)
        if st == ST_OK:
            st = GEO_STORED
    else:
        geo_reply_hits(c, q, &h, n)
    free(h.a)
    return st


cdef int geo_search(Client c, int flags) except -1:
    """GEOSEARCH[STORE], GEORADIUS[BYMEMBER][_RO]."""
    cdef uint64_t keyi = 2 if flags & GF_SEARCHSTORE else 1, base
    cdef kref_t src, dst
    cdef geoq_t q
    cdef uint32_t shards[2]
    cdef int m = 1, st
    cdef int64_t stored = 0
    if flags & GF_COORDS: base = 6
    elif flags & GF_MEMBER: base = 5
    else: base = keyi + 1
    # the destination key is known only from the options: find it unlocked
    memset(&q, 0, sizeof(geoq_t))
    geo_parse(c, flags, base, NULL, NULL, &q, True)
    if flags & GF_SEARCHSTORE:
        q.store = 1
    kref_init(&src, c.argv[keyi], c.argl[keyi])
    shards[0] = src.shard
    if q.store:
        kref_init(&dst, c.argv[q.store], c.argl[q.store])
        shards[1] = dst.shard
        m = 2
    with nogil:
        m = shards_lock_many(shards, m)
        st = geo_search_locked(c, flags, base, &src, &dst, &q, &stored)
        shards_unlock_many(shards, m)
    if not q.store and not flags & (GF_SEARCH | GF_NOSTORE):
        c.flags |= CL_UNCHANGED          # GEORADIUS[BYMEMBER] without STORE: a read (no record)
    if st != GEO_STORED:
        return zs_reply_st(c, st)
    if stored:
        notify_arg(c, NK_ZSET, "geosearchstore" if flags & GF_SEARCH else "georadiusstore", q.store)
        handover_finish()                # the waiters the store served (types/zset.pxi)
        signal_key_ready(c.db, c.argv[q.store], c.argl[q.store])
    wb_int(&c.out, stored)
    return 0


cdef bint geo_has_store_word(Client c) noexcept:
    """GEORADIUS[BYMEMBER] with a STORE or STOREDIST word: a write (shm/wal.pxi)."""
    cdef uint64_t i
    for i in range(5, c.argc):
        if arg_eq(c, i, "store") or arg_eq(c, i, "storedist"):
            return True
    return False


cdef int cmd_geosearch(Client c) except -1:
    return geo_search(c, GF_SEARCH)

cdef int cmd_geosearchstore(Client c) except -1:
    return geo_search(c, GF_SEARCH | GF_SEARCHSTORE)

cdef int cmd_georadius(Client c) except -1:
    return geo_search(c, GF_COORDS)

cdef int cmd_georadius_ro(Client c) except -1:
    return geo_search(c, GF_COORDS | GF_NOSTORE)

cdef int cmd_georadiusbymember(Client c) except -1:
    return geo_search(c, GF_MEMBER)

cdef int cmd_georadiusbymember_ro(Client c) except -1:
    return geo_search(c, GF_MEMBER | GF_NOSTORE)


cdef void register_geo_commands():
    register_c('geoadd', cmd_geoadd)
    register_c('geopos', cmd_geopos)
    register_c('geodist', cmd_geodist)
    register_c('geohash', cmd_geohash)
    register_c('geosearch', cmd_geosearch)
    register_c('geosearchstore', cmd_geosearchstore)
    register_c('georadius', cmd_georadius)
    register_c('georadius_ro', cmd_georadius_ro)
    register_c('georadiusbymember', cmd_georadiusbymember)
    register_c('georadiusbymember_ro', cmd_georadiusbymember_ro)
