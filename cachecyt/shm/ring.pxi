# Signal rings: one inbox per worker slot in the segment, through which any
# process asks a worker to act on something only it can touch (CLIENT KILL of
# one of its clients, a CONFIG SET it must apply to its own clients). This file
# only moves messages; it never wakes anyone: the sender then writes 1 to the
# receiver's eventfd (workers/main.py), which the receiver's loop watches with
# add_reader. Nothing polls.
#
# How it works: a bounded multi-producer, single-consumer queue of RING_CELLS
# fixed-size cells. Each cell carries a sequence number. A free cell for ticket
# t has seq == t; a producer takes ticket t = tail with a CAS on tail, fills the
# cell and publishes it by storing seq = t + 1 (release). The consumer reads
# cell head while its seq == head + 1, then frees it for the next lap by storing
# seq = head + RING_CELLS. A full ring (seq < ticket) makes the send fail; the
# caller reports it. No lock is held anywhere, so a producer that dies between
# the CAS and the publish leaves one cell unpublished and that ring stalls
# there; accepted, since a worker dies only on a bug and CLIENT KILL / CONFIG
# SET then report the full ring instead of hanging.

cdef extern from *:
    """
    static inline int cc_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired) {
        return __atomic_compare_exchange_n(p, expected, desired, 0,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    """
    int cc_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired) nogil

cdef enum:
    SIG_KILL = 1                 # arg = client id: close that client now
    SIG_CONFIG = 2               # settings in the header changed: apply them
    SIG_UNBLOCK = 8              # arg = client id, data "error" or "": CLIENT UNBLOCK


cdef inline sigring_t *ring_at(header_t *h, int worker) noexcept nogil:
    return <sigring_t *>(<char *>h + h.rings_off) + worker


cdef void rings_init(header_t *h) noexcept nogil:
    """Every cell of every ring free for its first lap (segment creation)."""
    cdef int w
    cdef uint64_t i
    cdef sigring_t *r
    for w in range(MAX_WORKERS):
        r = ring_at(h, w)
        r.head = 0
        r.tail = 0
        for i in range(RING_CELLS):
            r.cells[i].seq = i


cdef int ring_push(int worker, uint32_t kind, uint64_t arg,
                   const char *data, uint32_t n) noexcept nogil:
    """Append one message to a worker's ring: 0, or -1 when the ring is full."""
    cdef sigring_t *r = ring_at(g_hdr, worker)
    cdef uint64_t pos = cc_atomic_load(&r.tail), seq
    cdef sigcell_t *cell
    cdef int64_t dif
    while True:
        cell = &r.cells[pos & (RING_CELLS - 1)]
        seq = cc_atomic_load(&cell.seq)
        dif = <int64_t>(seq - pos)
        if dif == 0:
            if cc_cas_u64(&r.tail, &pos, pos + 1):
                break                              # pos is ours
        elif dif < 0:
            return -1                              # full: the consumer is a lap behind
        else:
            pos = cc_atomic_load(&r.tail)
    if n > sizeof(cell.data):
        n = sizeof(cell.data)
    cell.kind = kind
    cell.arg = arg
    cell.len = n
    if n:
        memcpy(cell.data, data, n)
    cc_atomic_store(&cell.seq, pos + 1)
    return 0


cdef int ring_pop(int worker, sigcell_t *out) noexcept nogil:
    """Take the oldest published message of this worker's ring: 1, or 0 if none."""
    cdef sigring_t *r = ring_at(g_hdr, worker)
    cdef uint64_t pos = r.head
    cdef sigcell_t *cell = &r.cells[pos & (RING_CELLS - 1)]
    if cc_atomic_load(&cell.seq) != pos + 1:
        return 0
    memcpy(out, cell, sizeof(sigcell_t))
    cc_atomic_store(&cell.seq, pos + RING_CELLS)
    r.head = pos + 1
    return 1


def signal_worker(int worker, uint32_t kind, uint64_t arg=0, bytes data=b''):
    """Queue a message for a worker; False when its ring is full. The caller
    wakes the worker afterwards (its eventfd)."""
    if worker < 0 or worker >= MAX_WORKERS:
        raise ValueError("no such worker slot")
    return ring_push(worker, kind, arg, data, len(data)) == 0


def take_signals(int worker):
    """Every message waiting for this worker, oldest first: [(kind, arg, data)]."""
    cdef sigcell_t cell
    out = []
    while ring_pop(worker, &cell):
        out.append((cell.kind, cell.arg, cell.data[:cell.len]))
    return out


SIGNAL_KILL = SIG_KILL
SIGNAL_CONFIG = SIG_CONFIG
SIGNAL_UNBLOCK = SIG_UNBLOCK
