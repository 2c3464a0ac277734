/* falcoish probe, part 3: I/O payloads (read, recv*, send*, the write family).
 *
 * Inserted by kernel.py into probe.c after the plain-syscall helpers (struct evt, sysregs,
 * sys_arg, PLAIN_EXIT_BEGIN/END), before the handwritten exit programs that use PAYLOAD and
 * PAYLOAD_SENT.  Its own file because payloads have their own concerns: how many bytes a
 * rule needs (snaplen.py), reading the caller's buffer at entry (the race below), and the
 * iovec layouts of writev/pwritev.
 */

/* I/O payloads: snaplen_of[type] = bytes to keep (0: no rule needs this type's payload, and
 * then nothing is read; user space sets it from the rules, see snaplen.py).  Read at exit:
 * for a receive, what the kernel wrote, cut to the return value.  For a send, the buffer as
 * it is when the call returns, which another thread of the sender may have changed after
 * the kernel copied it (a Phantom-style race: what is shown need not be what was sent;
 * issue 14). */
#define SNAPLEN_MAX 256
BPF_ARRAY(snaplen_of, u32, NTYPES);
static __always_inline void payload(struct evt *e, u32 i, u64 ptr, s64 len) {
    u32 t = e->type;
    u32 *sl = snaplen_of.lookup(&t);
    if (!sl || !*sl || i >= NSTR)
        return;
    u64 n = (u64)len;
    if (n > *sl)
        n = *sl;
    if (n > SNAPLEN_MAX)
        n = SNAPLEN_MAX;
    asm volatile("" : "+r"(n));
    e->slen[i] = 0;
    if (n > 0 && bpf_probe_read_user(e->s[i], n & (2 * SNAPLEN_MAX - 1), (const void *)ptr) == 0)
        e->slen[i] = n;
    if (e->nstr < i + 1)
        e->nstr = i + 1;
}
#define PAYLOAD(e, i, ptr, len) payload((e), (i), (u64)(ptr), (s64)(len))

/* Sends and writes: the payload read at syscall entry (where the rules at start need it: an
 * enter tracepoint of that syscall only, ENTER_PAYLOAD_<name>), kept in the thread's own
 * task storage until the exit program takes it (no hash map: a write flood pays one
 * per-task lookup at each end, and a thread that migrates to another CPU keeps its copy).
 * This narrows the race: a thread of the sender can still change the buffer between this
 * read and the kernel's copy, but not for the whole time the call blocks (a send on a full
 * socket, a write to a full pipe).  Without an entry read (rules loaded later, or the task
 * storage busy) the exit program reads the buffer as it is then. */
struct pstash { u32 len; u32 type; char data[SNAPLEN_MAX]; };
BPF_TASK_STORAGE(payload_stash, struct pstash);

static __always_inline void payload_enter(u32 type, u64 ptr, u64 len) {
    u32 *sl = snaplen_of.lookup(&type);
    if (!sl || !*sl || IS_SELF())
        return;
    struct pstash *p = payload_stash.task_storage_get((void *)bpf_get_current_task_btf(), 0,
                                                      BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!p)
        return;
    u64 n = len;
    if (n > *sl)
        n = *sl;
    if (n > SNAPLEN_MAX)
        n = SNAPLEN_MAX;
    asm volatile("" : "+r"(n));
    p->len = 0;
    p->type = type;
    if (n > 0 && bpf_probe_read_user(p->data, n & (2 * SNAPLEN_MAX - 1), (const void *)ptr) == 0)
        p->len = n;
}

/* Called for every exit of a send or write (also a failed one: its entry copy must go). */
static __always_inline void payload_sent(struct evt *e, u32 i, u64 ptr, s64 ret) {
    struct pstash *p = payload_stash.task_storage_get((void *)bpf_get_current_task_btf(), 0, 0);
    if (!p || !p->type) {
        if (ret >= 0)
            payload(e, i, ptr, ret);
        return;
    }
    if (ret < 0 || p->type != e->type) {      /* (an entry copy older than this capture's start) */
        p->type = 0;
        if (ret >= 0)
            payload(e, i, ptr, ret);
        return;
    }
    u64 n = p->len;
    if ((u64)ret < n)
        n = ret < 0 ? 0 : (u64)ret;
    if (n > SNAPLEN_MAX)
        n = SNAPLEN_MAX;
    asm volatile("" : "+r"(n));
    if (i < NSTR) {
        e->slen[i] = 0;
        if (n > 0 && bpf_probe_read_kernel(e->s[i], n & (2 * SNAPLEN_MAX - 1), p->data) == 0)
            e->slen[i] = n;
        if (e->nstr < i + 1)
            e->nstr = i + 1;
    }
    p->type = 0;
}
#define PAYLOAD_SENT(e, i, ptr, len) payload_sent((e), (i), (u64)(ptr), (s64)(len))

#ifdef ENTER_PAYLOAD_sendto
TRACEPOINT_PROBE(syscalls, sys_enter_sendto) {
    payload_enter(EV_SENDTO, (u64)args->buff, (u64)args->len);
    return 0;
}
#endif

/* The first iovec of a user iovec array. */
static __always_inline void first_iov(u64 iov, u64 *base, u64 *len) {
    u64 v[2] = {0, 0};
    if (iov && bpf_probe_read_user(v, sizeof(v), (void *)iov) == 0) {
        *base = v[0];
        *len = v[1];
    }
}

/* Bytes in the first IOV_WALK iovecs of a user array of `cnt`, and the first one's base and
 * length (what writev_record and msg_record report: the total, and the first payload). */
#define IOV_WALK 8
static __always_inline u64 iov_walk(u64 iov, u64 cnt, u64 *base, u64 *first) {
    u64 total = 0, b = 0, f = 0;
    #pragma unroll
    for (int i = 0; i < IOV_WALK; i++) {
        if (i >= cnt)
            break;
        u64 v[2] = {0, 0};
        bpf_probe_read_user(v, sizeof(v), (void *)(iov + 16 * i));
        if (i == 0) {
            b = v[0];
            f = v[1];
        }
        total += v[1];
    }
    *base = b;
    *first = f;
    return total;
}

/* The first iovec of a user msghdr (msg_iov is at offset 16): its base and length. */
static __always_inline void msg_first_iov(u64 msg, u64 *base, u64 *len) {
    u64 iov = 0;
    bpf_probe_read_user(&iov, 8, (void *)(msg + 16));
    first_iov(iov, base, len);
}

#ifdef ENTER_PAYLOAD_sendmsg
TRACEPOINT_PROBE(syscalls, sys_enter_sendmsg) {
    u64 base = 0, len = 0;
    msg_first_iov((u64)args->msg, &base, &len);
    if (base)
        payload_enter(EV_SENDMSG, base, len);
    return 0;
}
#endif

/* Writes: the payload read at entry as for sends, and with the same race: a thread of the
 * writer can change the buffer between this read and the kernel's copy (what is shown, and
 * what the kernel filter tests, is what the buffer held at entry). */
#ifdef ENTER_PAYLOAD_write
TRACEPOINT_PROBE(syscalls, sys_enter_write) {
    payload_enter(EV_WRITE, (u64)args->buf, (u64)args->count);
    return 0;
}
#endif

#ifdef ENTER_PAYLOAD_pwrite64
TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) {
    payload_enter(EV_PWRITE64, (u64)args->buf, (u64)args->count);
    return 0;
}
#endif

/* The first iovec's payload of an iovec write, at entry. */
static __always_inline void iov_payload_enter(u16 type, u64 vec) {
    u64 base = 0, len = 0;
    first_iov(vec, &base, &len);
    if (base)
        payload_enter(type, base, len);
}

#ifdef ENTER_PAYLOAD_writev
TRACEPOINT_PROBE(syscalls, sys_enter_writev) {
    iov_payload_enter(EV_WRITEV, (u64)args->vec);
    return 0;
}
#endif

#ifdef ENTER_PAYLOAD_pwritev
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev) {
    iov_payload_enter(EV_PWRITEV, (u64)args->vec);
    return 0;
}

typedef int rwf_t;               /* the type of pwritev2's last tracepoint field */
TRACEPOINT_PROBE(syscalls, sys_enter_pwritev2) {      /* reported as pwritev (spec.py) */
    iov_payload_enter(EV_PWRITEV, (u64)args->vec);
    return 0;
}
#endif

#if defined(WANT_writev) || defined(WANT_pwritev)
/* writev/pwritev: a[0] = fd, a[1] = bytes in the iovecs (up to IOV_WALK of them), a[2] =
 * pos (pwritev); slot 0 = the payload of the first iovec, cut to the return value. */
static __always_inline void writev_record(struct evt *e, struct sysregs *regs, long ret) {
    e->a[0] = (u64)(s64)(s32)sys_arg(regs, 0);
    e->a[2] = e->type == EV_PWRITEV ? sys_arg(regs, 3) : 0;
    u64 base = 0, first = 0;
    e->a[1] = iov_walk(sys_arg(regs, 1), sys_arg(regs, 2), &base, &first);
    u64 n = ret >= 0 && (u64)ret < first ? (u64)ret : first;
    PAYLOAD_SENT(e, 0, base, ret >= 0 ? (s64)n : ret);
}
#endif

#ifdef WANT_writev
int sx_writev(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_WRITEV)
    writev_record(e, regs, ret);
    PLAIN_EXIT_END()
}
#endif

#ifdef WANT_pwritev
int sx_pwritev(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_PWRITEV)
    writev_record(e, regs, ret);
    PLAIN_EXIT_END()
}
#endif
