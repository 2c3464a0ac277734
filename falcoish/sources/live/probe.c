/* falcoish live probe: one fixed-layout record per syscall, judged in the kernel before it
 * is sent.
 *
 * Read at run time by kernel.py, which prepends #defines (EV_* type numbers, struct offsets
 * from the running kernel's BTF, sizes), then kfilter.c (the rule-derived filter), then this
 * file (with kpath.c, the opened file's path; kcopy.c, the kernel's copies of path arguments;
 * payload.c, the I/O payload reads; net.c, the socket syscalls; each inserted at its @NAME@
 * marker), then one exit program per wanted "plain" syscall generated from spec.py, then
 * iouring.c when io_uring requests are followed.
 *
 * Flow of a plain syscall: the raw tracepoint `sys_exit` (one program for every syscall, so
 * a syscall nobody wants costs one tail-call miss) tail-calls the program of that syscall,
 * which reads its arguments from the saved user registers, its strings from user memory,
 * and calls `finish()`: count, judge with the kernel filter, keep the descriptor table,
 * choose a lane, send.  Syscalls whose record needs data from syscall entry (execve's argv
 * before the old image is gone, clone's flags, connect's socket) keep enter/exit tracepoint
 * pairs with a stash keyed by thread, and end in the same `finish()`.
 *
 * Lanes: lane 0 (reserved) carries process lifecycle and events that passed a rule-derived
 * filter; lane 1 (bulk) carries events kept only for the state table and events of types no
 * filter can narrow.  A flood in lane 1 cannot crowd out lane 0.  Every decision is counted
 * per event type in `counters` (seen, filtered, sent and dropped per lane).
 */

#include <uapi/linux/ptrace.h>

#ifndef STR_SZ
#define STR_SZ 512
#endif
#define NSTR 3
#define ARGV_SZ 4096
#define ARG_SZ 1024
#define MAX_ARGS 64
#define MAX_ENVS 64
#define SOCKADDR_MAX 128

struct evt {
    u64 ts;            /* bpf_ktime_get_boot_ns at exit */
    u32 tid;
    u32 pid;
    u32 uid;           /* real uid/gid (bpf_get_current_uid_gid) */
    u32 gid;
    u16 type;          /* EV_* */
    u16 nstr;          /* string slots used */
    u16 slen[NSTR];    /* bytes in each slot (strings include the NUL; 0 = unreadable) */
    u16 flags;         /* internal: which exit-side reads to do */
    u32 rflags;        /* for user space: RF_* */
    s64 res;
    u64 a[6];
    u64 xptr;          /* stash path: user pointer to read at exit into slot `nstr` */
    u64 xlenptr;       /* pointer to an int length (accept/recvfrom), or a fixed length */
    u64 sptr[NSTR];    /* stash path: user pointers of string slots, retried at exit */
    char comm[16];     /* bpf_get_current_comm at exit (after exec: the new name) */
    char s[NSTR][STR_SZ];
};

/* argv, then env right after it: a record is sent only as long as what it holds, so an exec
 * with a short environment takes a third of the room in the reserved lane. */
#define EXEC_MASK 16384                /* string offsets are masked by EXEC_MASK - 1 */
#define EXEC_STRS (EXEC_MASK + ARG_SZ)
struct exec_evt {
    struct evt h;
    u32 argv_len;
    u32 env_len;
    char strs[EXEC_STRS];
};

#define XF_LENPTR 1
#define XF_FIXED 2

#define RF_TRACKED 1     /* the descriptor this event created is tracked: user space keeps it */
#define RF_MATCHED 2     /* passed the rule-derived filter (or the type is not filtered) */
#define RF_LANE1 4
#define RF_IO_URING 8     /* (iouring.c) */
#define RF_TAMPERED 16   /* the caller's memory differed from the kernel's copy (kcopy.c) */
#define RF_CLAIM 32      /* ... and slot CLAIM_SLOT holds what the memory said */
#define RF_TAMPER_SHIFT 8    /* 2 bits: the slot that differed */
#define RF_UCOPY_SHIFT 12    /* NSTR bits: name slots with only the caller's copy */
#define CLAIM_SLOT 2

/* per-type policy, set by user space in `kf_types` (kfilter.c) */
#define ST_NONE 0        /* only the rule filter decides */
#define ST_ALWAYS 1      /* always needed by the state table */
#define ST_OPEN 2        /* open*: needed when the new descriptor must be tracked */
#define ST_CLOSE 3       /* close: needed when the descriptor is tracked */

BPF_RINGBUF_OUTPUT(lane0, LANE0_PAGES);
BPF_RINGBUF_OUTPUT(lane1, LANE1_PAGES);
BPF_PERCPU_ARRAY(scratch, struct evt, 1);
BPF_F_TABLE("hash", u64, struct evt, stash, STASH_ENTRIES, BPF_F_NO_PREALLOC);

/* counters[type * NCOUNT + kind], per CPU; events seen = filtered + sent + dropped */
#define C_FILTERED 1
#define C_SENT0 2
#define C_SENT1 3
#define C_DROP0 4
#define C_DROP1 5
#define NCOUNT 6
BPF_PERCPU_ARRAY(counters, u64, NTYPES * NCOUNT);

static __always_inline void count(u32 type, u32 kind) {
    u32 idx = type * NCOUNT + kind;
    u64 *n = counters.lookup(&idx);
    if (n)
        *n += 1;
}

/* @KFILTER@ (kfilter.c is inserted here by kernel.py) */

/* The capturing process itself is never traced: its /proc reads would feed back. */
#define IS_SELF() ((bpf_get_current_pid_tgid() >> 32) == SELF_PID)

static __always_inline struct evt *record_begin(u16 type) {
    u32 zero = 0;
    struct evt *e = scratch.lookup(&zero);
    if (!e)
        return 0;
    e->type = type;
    e->nstr = 0;
    e->flags = 0;
    e->rflags = 0;
    e->xptr = 0;
    e->xlenptr = 0;
    e->res = 0;
    e->slen[0] = 0;
    e->slen[1] = 0;
    e->slen[2] = 0;
    e->sptr[0] = 0;
    e->sptr[1] = 0;
    e->sptr[2] = 0;
    return e;
}

static __always_inline struct evt *stash_begin(u16 type) {
    if (IS_SELF())
        return 0;
    return record_begin(type);
}

static __always_inline void stash_commit(struct evt *e) {
    u64 id = bpf_get_current_pid_tgid();
    stash.update(&id, e);
}

/* User string into slot i (the slot count is raised to cover it). */
#define STR(e, i, ptr) do { \
    long _n = bpf_probe_read_user_str((e)->s[i], STR_SZ, (const void *)(ptr)); \
    (e)->slen[i] = _n > 0 ? _n : 0; \
    (e)->sptr[i] = (u64)(ptr); \
    if ((e)->nstr < (i) + 1) (e)->nstr = (i) + 1; \
} while (0)

/* Raw bytes (a sockaddr) into slot i. */
#define BYTES(e, i, ptr, len) do { \
    u32 _l = (u32)(len); \
    if (_l > SOCKADDR_MAX) _l = SOCKADDR_MAX; \
    asm volatile("" : "+r"(_l)); \
    (e)->slen[i] = 0; \
    if ((ptr) && _l > 0 && bpf_probe_read_user((e)->s[i], _l & 0xff, (const void *)(ptr)) == 0) \
        (e)->slen[i] = _l; \
    if ((e)->nstr < (i) + 1) (e)->nstr = (i) + 1; \
} while (0)

/* A sockaddr the kernel wrote back, length behind an int pointer (accept, recvfrom). */
#define XSOCKADDR(e, i, ptr, lenptr) do { \
    int _xl = 0; \
    (e)->slen[i] = 0; \
    if ((ptr) && (lenptr) && bpf_probe_read_user(&_xl, sizeof(_xl), (const void *)(lenptr)) == 0) \
        BYTES(e, i, ptr, _xl); \
    if ((e)->nstr < (i) + 1) (e)->nstr = (i) + 1; \
} while (0)

#define EXIT_READ(e, ptr, lenarg, how) do { \
    (e)->xptr = (u64)(ptr); (e)->xlenptr = (u64)(lenarg); (e)->flags = (how); \
} while (0)

/* What judging needs: the return value and who made the call. */
static __always_inline void fill_ids(struct evt *e, long ret) {
    u64 id = bpf_get_current_pid_tgid();
    e->res = ret;
    e->tid = (u32)id;
    e->pid = id >> 32;
}

/* The rest of the header, only for records that are sent (most of a flood is not). */
static __always_inline void fill_rest(struct evt *e) {
    u64 ug = bpf_get_current_uid_gid();
    e->ts = bpf_ktime_get_boot_ns();
    e->uid = (u32)ug;
    e->gid = ug >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline void fill_common(struct evt *e, long ret) {
    fill_ids(e, ret);
    fill_rest(e);
}

/* Stash path: a string whose page was not resident at enter is readable at exit. */
#define RETRY_STR(e, i) do { \
    if ((e)->nstr > (i) && (e)->slen[i] == 0 && (e)->sptr[i]) { \
        long _n = bpf_probe_read_user_str((e)->s[i], STR_SZ, (const void *)(e)->sptr[i]); \
        (e)->slen[i] = _n > 0 ? _n : 0; \
    } \
} while (0)

static __always_inline void exit_reads(struct evt *e, long ret) {
    RETRY_STR(e, 0);
    RETRY_STR(e, 1);
    RETRY_STR(e, 2);
}

/* ---------------------------------------------------------------- kernel objects (BTF) */

static __always_inline u64 read_u64(u64 addr) {
    u64 v = 0;
    if (addr)
        bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
    return v;
}

/* struct file * of descriptor `fd` of the current task (0 if none). */
static __always_inline u64 fd_file(s64 fd) {
    if (fd < 0)
        return 0;
    u64 task = bpf_get_current_task();
    u64 files = read_u64(task + OFF_TASK_FILES);
    u64 fdt = read_u64(files + OFF_FILES_FDT);
    if (!fdt)
        return 0;
    /* fd was just returned by the kernel (or is being closed): below max_fds */
    u64 arr = read_u64(fdt + OFF_FDT_FD);
    return read_u64(arr + (u64)fd * 8);
}

/* i_mode of the inode behind descriptor `fd` (0 if unknown). */
static __always_inline u32 fd_mode(s64 fd) {
    u64 file = fd_file(fd);
    u64 inode = read_u64(file + OFF_FILE_INODE);
    u16 mode = 0;
    if (inode)
        bpf_probe_read_kernel(&mode, sizeof(mode), (void *)(inode + OFF_INODE_MODE));
    return mode;
}

/* @KPATH@ (kpath.c is inserted here by kernel.py) */

/* ---------------------------------------------------------------- the kernel's copy of an argument */

/* Do `len` bytes of the two strings differ?  Whole words, the last one masked. */
static __always_inline int text_differs(const char *a, const char *b, u32 len) {
#pragma unroll
    for (int w = 0; w < STR_SZ / 8; w++) {
        if (w * 8 >= len)
            break;
        u64 x = *(const u64 *)(a + w * 8) ^ *(const u64 *)(b + w * 8);
        u32 rem = len - w * 8;
        if (rem < 8)
            x &= (1ULL << (rem * 8)) - 1;
        if (x)
            return 1;
    }
    return 0;
}

/* String slot i gets the kernel's text `k` (klen bytes with the NUL) in place of what the
 * caller's memory said; a different reading is kept as the claim (slot CLAIM_SLOT, when
 * free and `claim` allows: exec records keep cgroups there) and marks the record
 * RF_TAMPERED (see kcopy.c). */
static __always_inline void kcopy_apply(struct evt *e, u32 i, const char *k, u32 klen, int claim) {
    if (i >= NSTR || klen == 0 || klen > STR_SZ)
        return;
    u32 ulen = e->slen[i];
    if (ulen == klen && !text_differs(e->s[i], k, klen))
        return;
    if (ulen > 0 && ulen <= STR_SZ) {
        e->rflags |= RF_TAMPERED | (i << RF_TAMPER_SHIFT);
        if (claim && e->nstr <= CLAIM_SLOT && i != CLAIM_SLOT) {
            bpf_probe_read_kernel(e->s[CLAIM_SLOT], STR_SZ, e->s[i]);
            e->slen[CLAIM_SLOT] = ulen;
            e->nstr = CLAIM_SLOT + 1;
            e->rflags |= RF_CLAIM;
        }
    }
    bpf_probe_read_kernel(e->s[i], STR_SZ, k);
    e->slen[i] = klen;
}

/* The user registers saved at syscall entry, copied once per syscall by the dispatcher (one
 * read of the span REGS_LO .. REGS_LO + REGS_SPAN that holds the six arguments and orig_ax)
 * and read from here by the exit programs: cheaper than one kernel read per argument. */
struct sysregs { u64 v[REGS_SPAN / 8]; };
BPF_PERCPU_ARRAY(sysregs_map, struct sysregs, 1);

/* @KCOPY@ (kcopy.c is inserted here by kernel.py) */

/* ---------------------------------------------------------------- descriptor tracking */

/* (tgid << 32 | fd) -> time tracking began (0: closed here after being inherited).  Only the
 * descriptors user space keeps are tracked, so only their close goes up. */
BPF_TABLE("lru_hash", u64, u64, tracked, TRACKED_ENTRIES);
/* child tgid -> parent tgid and fork time: inherited descriptors are found through it */
struct forkrec { u32 parent; u32 pad; u64 ts; };
BPF_TABLE("lru_hash", u32, struct forkrec, fork_parent, 65536);

static __always_inline void track(u32 tgid, s64 fd, u64 ts) {
    if (fd < 0)
        return;
    u64 key = ((u64)tgid << 32) | (u32)fd;
    tracked.update(&key, &ts);
}

/* Is `fd` of `tgid` tracked (here, or inherited from a parent before the fork)?  Consumes
 * the entry: the caller is closing it. */
static __always_inline int untrack(u32 tgid, s64 fd) {
    if (fd < 0)
        return 0;
    u64 key = ((u64)tgid << 32) | (u32)fd;
    u64 *since = tracked.lookup(&key);
    if (since) {
        if (*since == 0)               /* closed here after a fork: stays untracked */
            return 0;
        tracked.delete(&key);
        return 1;
    }
    u32 who = tgid;
    #pragma unroll
    for (int depth = 0; depth < 4; depth++) {
        struct forkrec *f = fork_parent.lookup(&who);
        if (!f)
            break;
        u64 pkey = ((u64)f->parent << 32) | (u32)fd;
        u64 *psince = tracked.lookup(&pkey);
        if (psince) {
            if (*psince == 0 || *psince > f->ts)
                return 0;
            u64 tomb = 0;              /* closed in the child: a reuse here is not inherited */
            tracked.update(&key, &tomb);
            return 1;
        }
        who = f->parent;
    }
    u64 tomb = 0;                      /* not tracked: remember, the next close is one lookup */
    tracked.update(&key, &tomb);
    return 0;
}

/* ---------------------------------------------------------------- flood detection */

/* Per process: syscalls of captured types in the current window.  A process above
 * `threshold` per window for `sustain` windows in a row sends one FLOOD record (lane 0),
 * at most once per `quiet_ns`. */
struct rate { u64 start; u64 last_alert; u32 count; u32 hot; };
BPF_PERCPU_ARRAY(flood_scratch, struct evt, 1);
BPF_TABLE("lru_hash", u32, struct rate, rates, 16384);
BPF_HASH(flood_held, u32, struct evt, 1024);

/* Counting goes through a per-CPU cache of (process, events not yet added): a flooding
 * process stays on its CPU, so most events cost one per-CPU lookup, and the shared table is
 * updated once per FLOOD_BATCH events or when another process runs on the CPU. */
#define FLOOD_BATCH 64
struct flood_cpu { u32 tgid; u32 pending; };
BPF_PERCPU_ARRAY(flood_cpu_map, struct flood_cpu, 1);

/* Add `n` events of `tgid`; `current`: tgid is the running process (only then may its window
 * be judged and a record sent, so the record names the right process). */
static __always_inline void flood_add(u32 tgid, u32 n, u64 now, int current) {
    u32 zero = 0;
    struct kf_conf *conf = kf_config.lookup(&zero);
    if (!conf || !conf->flood_threshold || !tgid)
        return;
    struct rate *r = rates.lookup(&tgid);
    if (!r) {
        struct rate fresh = {now, 0, n, 0};
        rates.update(&tgid, &fresh);
        return;
    }
    __sync_fetch_and_add(&r->count, n);
    if (!current || now - r->start < conf->window_ns)
        return;
    u32 seen = r->count;
    r->start = now;
    r->count = 0;
    if (seen < conf->flood_threshold) {
        r->hot = 0;
        return;
    }
    r->hot += 1;
    if (r->hot < conf->sustain || now - r->last_alert < conf->quiet_ns)
        return;
    r->last_alert = now;
    /* its own scratch: `scratch` holds the event being judged */
    struct evt *e = flood_scratch.lookup(&zero);
    if (!e)
        return;
    e->type = EV_FLOOD;
    e->nstr = 0;
    e->rflags = RF_MATCHED;
    fill_common(e, 0);
    e->a[0] = seen;
    e->a[1] = r->hot;
    e->a[2] = conf->window_ns;
    /* A flood is when lane 0 is most likely full: a notice it cannot take waits in
     * `flood_held`, which user space empties twice a second, so it is late, not lost. */
    if (lane0.ringbuf_output(e, offsetof(struct evt, s), 0) == 0 || flood_held.update(&tgid, e) == 0)
        count(EV_FLOOD, C_SENT0);
    else
        count(EV_FLOOD, C_DROP0);
}

static __always_inline void flood_check(u32 tgid) {
    u32 zero = 0;
    struct flood_cpu *fc = flood_cpu_map.lookup(&zero);
    if (!fc)
        return;
    if (fc->tgid == tgid) {
        if (++fc->pending < FLOOD_BATCH)
            return;
        flood_add(tgid, fc->pending, bpf_ktime_get_boot_ns(), 1);
        fc->pending = 0;
        return;
    }
    if (fc->pending)
        flood_add(fc->tgid, fc->pending, bpf_ktime_get_boot_ns(), 0);
    fc->tgid = tgid;
    fc->pending = 1;
}

/* ---------------------------------------------------------------- the decision */

static __always_inline void send(void *data, u32 size, u32 type, int lane) {
    if (lane == 0) {
        if (lane0.ringbuf_output(data, size, 0) == 0)
            count(type, C_SENT0);
        else
            count(type, C_DROP0);
    } else {
        if (lane1.ringbuf_output(data, size, 0) == 0)
            count(type, C_SENT1);
        else
            count(type, C_DROP1);
    }
}

static __always_inline u32 record_size(struct evt *e) {
    u32 n = e->nstr;
    if (n > NSTR)
        n = NSTR;
    u32 size = offsetof(struct evt, s) + n * STR_SZ;
    if (size > sizeof(struct evt))
        size = sizeof(struct evt);
    return size;
}

/* First half of a decision: count the event, watch its process's rate, find its policy. */
static __always_inline struct kf_type *decide_begin(struct evt *e) {
    u32 type = e->type;
    if (type >= NTYPES)
        return 0;
    struct kf_type *cfg = kf_type_of(type);
    if (!cfg || !cfg->flood_sent)
        flood_check(e->pid);
    if (cfg && !cfg->valid) {           /* tables not written yet: pass, as without a filter */
        e->rflags |= RF_MATCHED | RF_TRACKED;
        if (!e->ts)
            fill_rest(e);
        send(e, record_size(e), type, 0);
        return 0;
    }
    return cfg;
}

/* Second half: `matched` = passed the rule filter (or lifecycle / not filtered).  Keep what
 * the state table needs, track new descriptors, pick the lane, send. */
static __always_inline int decide_end(struct evt *e, struct kf_type *cfg, int matched) {
    u32 type = e->type;
    if (type >= NTYPES)
        return 0;
    int needed = 0;
    s64 newfd = e->res;
    if (cfg->state == ST_ALWAYS) {
        needed = 1;
    } else if (cfg->state == ST_CLOSE) {
        needed = untrack(e->pid, (s64)(s32)e->a[0]);
    } else if (cfg->state == ST_OPEN && newfd >= 0 && cfg->flags_arg < 6) {   /* (creat: a writer) */
        /* a directory may become a dirfd or the cwd, an executable may be run through its
         * descriptor: user space must know those; other files only when a rule matched */
        u64 flags = e->a[cfg->flags_arg > 5 ? 5 : cfg->flags_arg];
        if (flags & (O_DIRECTORY_BIT | O_PATH_BIT)) {
            needed = 1;
        } else if ((flags & 3) == 0) {
            /* only a read-only open can give a directory (else EISDIR) or a file to run
             * through its descriptor (a writer makes exec fail with ETXTBSY) */
            u32 mode = fd_mode(newfd);
            needed = (mode & 0xF000) == 0x4000 || (mode & 0111) != 0;
        } else {
            needed = cfg->track_writers;    /* a write rule will ask for fd.name */
        }
    } else if (cfg->state == ST_OPEN && newfd >= 0) {
        needed = cfg->track_writers;        /* creat: always a writer */
    }
    if (e->rflags & RF_TAMPERED)          /* always reported: it is an attack on the probe */
        matched = 1;
    if (!matched && !needed) {
        count(type, C_FILTERED);
        return 0;
    }
    if (cfg->creates_fd && newfd >= 0 && (needed || cfg->track_all)) {
        e->rflags |= RF_TRACKED;
        track(e->pid, newfd, e->ts);
        if (cfg->creates_fd == 2) {             /* pipe: the second fd sits in a slot */
            u32 slot = cfg->pipe_slot > 2 ? 2 : cfg->pipe_slot;
            if (e->slen[slot] >= 8) {
                s32 other = 0;
                bpf_probe_read_kernel(&other, 4, &e->s[slot][4]);
                track(e->pid, other, e->ts);
            }
        }
    }
    int lane = matched && !cfg->lane1_only ? 0 : 1;
    if (cfg->lifecycle)
        lane = 0;
    if (cfg->flood_sent)                 /* (counted here: see kf_type.flood_sent) */
        flood_check(e->pid);
    e->rflags |= matched ? RF_MATCHED : 0;
    e->rflags |= lane ? RF_LANE1 : 0;
    if (!e->ts)
        fill_rest(e);
    send(e, record_size(e), type, lane);
    return 0;
}

/* Records built by tracepoint programs (lifecycle, clone, exec) are never filtered. */
static __always_inline int finish(struct evt *e) {
    struct kf_type *cfg = decide_begin(e);
    if (!cfg)
        return 0;
    return decide_end(e, cfg, cfg->lifecycle || cfg->match_all || cfg->filter);
}

/* Plain syscalls end in these programs (tail calls): the record is in `scratch`, and the
 * filter code is verified once, not once per syscall, one piece at a time:
 * kf_judge -> kf_slots (once per string slot) -> kf_decide [-> kf_contains].  A tail call
 * that fails falls through to "pass": an event is never dropped unjudged. */
#define P_JUDGE 0
#define P_CONTAINS 1
#define P_SLOTS 2
#define P_DECIDE 3
BPF_PROG_ARRAY(judge_prog, 4);

/* The event in `scratch` with its policy from the bank it is judged by. */
struct judged { struct evt *e; struct kf_scratch *ks; struct kf_type *cfg; };

static __always_inline int judged_event(struct judged *j) {
    u32 zero = 0;
    j->e = scratch.lookup(&zero);
    j->ks = kf_scratch_map.lookup(&zero);
    if (!j->e || !j->ks || j->e->type >= NTYPES)
        return 0;
    j->cfg = kf_type_at(j->ks->bank, j->e->type);
    return j->cfg != 0;
}

int kf_judge(struct bpf_raw_tracepoint_args *ctx) {
    u32 zero = 0;
    struct evt *e = scratch.lookup(&zero);
    struct kf_scratch *ks = kf_scratch_map.lookup(&zero);
    if (!e || !ks)
        return 0;
    struct kf_type *cfg = decide_begin(e);
    if (!cfg)
        return 0;
    int matched = cfg->lifecycle || cfg->match_all;
    if (!matched && cfg->filter) {
        ks->bank = cfg->bank;
        ks->truth = 0;
        ks->unknown = cfg->always_unknown;
        ks->decided = 0;
        kf_slot(e, e->type, cfg, ks, 0);       /* most types have one string slot */
        if (cfg->slots & 6) {
            ks->slot = 1;
            judge_prog.call(ctx, P_SLOTS);
            matched = 1;
        } else {
            int verdict = kf_final(e, e->type, cfg, ks);
            if (verdict == KF_NEEDS_CONTAINS) {
                judge_prog.call(ctx, P_CONTAINS);
                verdict = KF_PASS;
            }
            matched = verdict == KF_PASS;
        }
    }
    return decide_end(e, cfg, matched);
}

int kf_slots(struct bpf_raw_tracepoint_args *ctx) {
    struct judged j = {};
    if (!judged_event(&j))
        return 0;
    u32 i = j.ks->slot;
    kf_slot(j.e, j.e->type, j.cfg, j.ks, i);
    u32 next = i + 1;
    j.ks->slot = next;
    if (next < NSTR && (j.cfg->slots >> next) & 1)
        judge_prog.call(ctx, P_SLOTS);
    else
        judge_prog.call(ctx, P_DECIDE);
    return decide_end(j.e, j.cfg, 1);
}

int kf_decide(struct bpf_raw_tracepoint_args *ctx) {
    struct judged j = {};
    if (!judged_event(&j))
        return 0;
    int verdict = kf_final(j.e, j.e->type, j.cfg, j.ks);
    if (verdict == KF_NEEDS_CONTAINS) {
        judge_prog.call(ctx, P_CONTAINS);
        verdict = KF_PASS;
    }
    return decide_end(j.e, j.cfg, verdict == KF_PASS);
}

int kf_contains(struct bpf_raw_tracepoint_args *ctx) {
    struct judged j = {};
    if (!judged_event(&j))
        return 0;
    return decide_end(j.e, j.cfg, kf_stage2(j.e, j.e->type, j.cfg, j.ks));
}

/* Generic exit of a stash-path syscall: the stash must hold the same syscall. `child_ok`
 * marks a clone-family exit where a missing stash with ret 0 is the child's return. */
static __always_inline int exit_common(long ret, u16 type, int child_ok) {
    u64 id = bpf_get_current_pid_tgid();
    struct evt *e = stash.lookup(&id);
    if (!e) {
        if (child_ok && ret == 0) {
            struct evt *c = stash_begin(type);
            if (!c)
                return 0;
            fill_common(c, 0);
            c->a[0] = 0;
            c->a[1] = 1;    /* marks the child side */
            finish(c);
        }
        return 0;
    }
    if (e->type != type) {
        stash.delete(&id);
        return 0;
    }
    fill_common(e, ret);
    exit_reads(e, ret);
    /* the stash entry is the record: finish() reads it in place, then it is deleted */
    finish(e);
    stash.delete(&id);
    return 0;
}

/* ---------------------------------------------------------------- process lifecycle */

BPF_HASH(exitcodes, u64, s64, 4096);
TRACEPOINT_PROBE(sched, sched_process_fork) {
    /* Runs in the parent, before the child can run: the state table learns the child here.
     * Also for the capturing process itself: its children are ordinary processes. */
    struct evt *e = record_begin(EV_SCHED_FORK);
    if (!e)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    u32 child = (u32)args->child_pid;
    u32 me = (u32)id;
    struct commrec *mine = exec_comm.lookup(&me);
    if (mine) {
        struct commrec copy = *mine;
        exec_comm.update(&child, &copy);
    }
    struct forkrec f = {id >> 32, 0, bpf_ktime_get_boot_ns()};
    fork_parent.update(&child, &f);
    struct evt *st = stash.lookup(&id);
    e->a[0] = child;
    e->a[1] = 0;
    e->a[2] = 0;
    if (st) {
        /* clone/clone3 stash a[0] = flags; fork/vfork have fixed flags */
        if (st->type == EV_CLONE || st->type == EV_CLONE3) {
            e->a[1] = st->a[0];
            e->a[2] = 1;
        } else if (st->type == EV_FORK) {
            e->a[1] = 17;  /* SIGCHLD */
            e->a[2] = 1;
        } else if (st->type == EV_VFORK) {
            e->a[1] = 0x4000 | 0x100 | 17;  /* CLONE_VFORK|CLONE_VM|SIGCHLD */
            e->a[2] = 1;
        }
    }
    fill_common(e, 0);
    finish(e);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    exec_comm.delete(&tid);
    struct evt *e = stash_begin(EV_PROCEXIT);
    if (!e)
        return 0;
    s64 *code = exitcodes.lookup(&id);
    e->a[0] = args->group_dead;
    e->a[1] = code ? (u64)*code : (u64)-1;
    e->a[2] = code ? 1 : 0;
    if (code)
        exitcodes.delete(&id);
    stash.delete(&id);
    fill_common(e, 0);
    finish(e);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit_group) {
    u64 id = bpf_get_current_pid_tgid();
    s64 code = (int)args->error_code;
    exitcodes.update(&id, &code);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit) {
    u64 id = bpf_get_current_pid_tgid();
    s64 code = (int)args->error_code;
    exitcodes.update(&id, &code);
    return 0;
}

/* ---------------------------------------------------------------- execve / execveat */

BPF_PERCPU_ARRAY(exec_scratch, struct exec_evt, 1);
BPF_F_TABLE("hash", u64, struct exec_evt, exec_stash, 1024, BPF_F_NO_PREALLOC);

/* The NUL-separated strings of `vec` into strs[start...]: at most ARGV_SZ + ARG_SZ bytes. */
static __always_inline u32 read_strv(char *strs, u32 start, const char *const *vec, int max) {
    u32 off = 0;
    for (int i = 0; i < max; i++) {
        const char *p = 0;
        if (bpf_probe_read_user(&p, sizeof(p), &vec[i]) || !p)
            break;
        if (off >= ARGV_SZ)
            break;
        long n = bpf_probe_read_user_str(&strs[(start + off) & (EXEC_MASK - 1)], ARG_SZ, p);
        if (n <= 0)
            break;
        off += n;
    }
    return off > ARGV_SZ + ARG_SZ ? ARGV_SZ + ARG_SZ : off;
}

static __always_inline struct exec_evt *exec_begin(u16 type) {
    u32 zero = 0;
    if (IS_SELF())
        return 0;
    struct exec_evt *x = exec_scratch.lookup(&zero);
    if (!x)
        return 0;
    x->h.type = type;
    x->h.nstr = 0;
    x->h.flags = 0;
    x->h.rflags = 0;
    x->h.xptr = 0;
    x->h.res = 0;
    x->h.slen[0] = 0;
    x->h.slen[1] = 0;
    x->h.slen[2] = 0;
    x->h.a[5] = 0;                     /* no credentials read (a failed exec) */
    return x;
}

static __always_inline void exec_commit(struct exec_evt *x, const char *const *argv,
                                        const char *const *envp) {
    u32 argv_len = read_strv(x->strs, 0, argv, MAX_ARGS);
    x->argv_len = argv_len;
    x->env_len = read_strv(x->strs, argv_len, envp, MAX_ENVS);
    u64 id = bpf_get_current_pid_tgid();
    exec_stash.update(&id, x);
}

/* Exec records are always lifecycle: lane 0, cut after the environment. */
static __always_inline void exec_send(struct exec_evt *x) {
    u32 type = x->h.type;
    if (type >= NTYPES)
        return;
    flood_check(x->h.pid);
    x->h.rflags |= RF_MATCHED;
    u64 size = offsetof(struct exec_evt, strs) + (u64)x->argv_len + x->env_len;
    asm volatile("" : "+r"(size));
    if (size > sizeof(*x))
        size = sizeof(*x);
    send(x, size, type, 0);
}

static __always_inline int exec_exit(long ret, u16 type) {
    u64 id = bpf_get_current_pid_tgid();
    struct exec_evt *x = exec_stash.lookup(&id);
    if (!x)
        return 0;
    if (x->h.type == type) {
        fill_common(&x->h, ret);
        exec_send(x);
    }
    exec_stash.delete(&id);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    struct exec_evt *x = exec_begin(EV_EXECVE);
    if (!x)
        return 0;
    STR(&x->h, 0, args->filename);
    exec_commit(x, args->argv, args->envp);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_execve) {
    return exec_exit(args->ret, EV_EXECVE);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat) {
    struct exec_evt *x = exec_begin(EV_EXECVEAT);
    if (!x)
        return 0;
    x->h.a[0] = (u64)args->fd;
    x->h.a[1] = (u64)args->flags;
    STR(&x->h, 0, args->filename);
    exec_commit(x, args->argv, args->envp);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat) {
    return exec_exit(args->ret, EV_EXECVEAT);
}

/* The capabilities the new program runs with, from the task's credentials as exec left
 * them: a[2..4] = inheritable, permitted, effective, a[5] = 1.  /proc can only tell them
 * while the process lives, and a short-lived one is gone by the time user space looks (it
 * would keep the capabilities of its parent, e.g. a program started without CAP_SYS_MODULE
 * would look as if it had it).  kernel_cap_t is one u64 (two u32 before 6.3: same bytes). */
static __always_inline void exec_creds(struct evt *e) {
    u64 cred = read_u64(bpf_get_current_task() + OFF_TASK_CRED);
    if (!cred)
        return;
    e->a[2] = read_u64(cred + OFF_CRED_CAP_INHERITABLE);
    e->a[3] = read_u64(cred + OFF_CRED_CAP_PERMITTED);
    e->a[4] = read_u64(cred + OFF_CRED_CAP_EFFECTIVE);
    e->a[5] = 1;
}

/* The cgroup paths the new program runs in, innermost component first, CG_NAME bytes per
 * component, at most CG_DEPTH components: slot 1 = the unified (v2) hierarchy, slot 2 = the
 * v1 hierarchy of subsystem CG_V1_SUBSYS (-1: none).  xptr (unused by exec records) =
 * 1 << 32 | v1 whole << 24 | v1 depth << 16 | v2 whole << 8 | v2 depth ("whole": the walk
 * reached the root).  A container runtime moves its init into the container's cgroup after
 * the fork and before the exec, so the cgroup at fork (all a gone process leaves) is the
 * runtime's, not the container's. */
#define CG_NAME 128
#define CG_DEPTH 4
static __always_inline u32 cgroup_walk(char *out, u64 cgrp) {
    u64 kn = read_u64(cgrp + OFF_CGROUP_KN);
    u32 depth = 0;
    #pragma unroll
    for (int d = 0; d < CG_DEPTH; d++) {
        u64 parent = read_u64(kn + OFF_KN_PARENT);
        if (!kn || !parent)
            break;
        u64 name = read_u64(kn + OFF_KN_NAME);
        if (bpf_probe_read_kernel_str(out + d * CG_NAME, CG_NAME, (void *)name) < 0)
            out[d * CG_NAME] = 0;
        depth++;
        kn = parent;
    }
    u32 whole = kn && !read_u64(kn + OFF_KN_PARENT);
    return whole << 8 | depth;
}

static __always_inline void exec_cgroups(struct evt *e) {
    u64 cset = read_u64(bpf_get_current_task() + OFF_TASK_CGROUPS);
    if (!cset)
        return;
    u64 v2 = cgroup_walk(e->s[1], read_u64(cset + OFF_CSS_SET_DFL_CGRP));
    u64 v1 = 0;
#if CG_V1_SUBSYS >= 0
    u64 css = read_u64(cset + OFF_CSS_SET_SUBSYS + 8 * CG_V1_SUBSYS);
    if (css)
        v1 = cgroup_walk(e->s[2], read_u64(css + OFF_CSS_CGROUP));
#endif
    e->xptr = (1ULL << 32) | v1 << 16 | v2;
}

TRACEPOINT_PROBE(sched, sched_process_exec) {
    /* A successful exec is reported here, where the new comm and credentials are in place
     * (sys_exit_execveat does not fire after a successful execveat on every kernel).  A
     * non-leader thread that execs takes over the leader's tid: its stash is looked up
     * under the old tid.  sys_exit_execve(at) then only sees failures. */
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct commrec now = {};
    bpf_get_current_comm(now.comm, sizeof(now.comm));
    exec_comm.update(&tid, &now);
    u64 key = id;
    if (args->old_pid != args->pid)
        key = (id & 0xffffffff00000000ULL) | (u32)args->old_pid;
    struct exec_evt *x = exec_stash.lookup(&key);
    if (!x)
        return 0;
    fill_common(&x->h, 0);
    if (x->h.type == EV_EXECVE) {
        /* the kernel's copy of execve's path (bprm->filename; for execveat it is rewritten
         * as /dev/fd/N/...) in place of the entry read of the caller's memory */
        u32 zero = 0;
        struct kpath_buf *kb = kpath_scratch.lookup(&zero);
        if (kb) {
            long n = bpf_probe_read_kernel_str(kb->b, STR_SZ, (void *)args + (args->data_loc_filename & 0xFFFF));
            if (n > 0)
                kcopy_apply(&x->h, 0, kb->b, n, 0);
        }
    }
    exec_creds(&x->h);
    exec_cgroups(&x->h);
    exec_send(x);
    exec_stash.delete(&key);
    return 0;
}

/* ---------------------------------------------------------------- clone family (always) */

TRACEPOINT_PROBE(syscalls, sys_enter_clone) {
    struct evt *e = stash_begin(EV_CLONE);
    if (!e)
        return 0;
    e->a[0] = args->clone_flags;
    e->a[1] = 0;
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_clone) { return exit_common(args->ret, EV_CLONE, 1); }

TRACEPOINT_PROBE(syscalls, sys_enter_clone3) {
    struct evt *e = stash_begin(EV_CLONE3);
    if (!e)
        return 0;
    u64 flags = 0;
    bpf_probe_read_user(&flags, sizeof(flags), (void *)args->uargs);  /* clone_args.flags */
    e->a[0] = flags;
    e->a[1] = 0;
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_clone3) { return exit_common(args->ret, EV_CLONE3, 1); }

TRACEPOINT_PROBE(syscalls, sys_enter_fork) {
    struct evt *e = stash_begin(EV_FORK);
    if (!e)
        return 0;
    e->a[0] = 17;
    e->a[1] = 0;
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_fork) { return exit_common(args->ret, EV_FORK, 1); }

TRACEPOINT_PROBE(syscalls, sys_enter_vfork) {
    struct evt *e = stash_begin(EV_VFORK);
    if (!e)
        return 0;
    e->a[0] = 0x4000 | 0x100 | 17;
    e->a[1] = 0;
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_vfork) { return exit_common(args->ret, EV_VFORK, 1); }

/* ---------------------------------------------------------------- plain syscalls at exit */

BPF_PROG_ARRAY(exit_progs, 512);

RAW_TRACEPOINT_PROBE(sys_exit) {
    u32 zero = 0;
    struct sysregs *r = sysregs_map.lookup(&zero);
    if (!r)
        return 0;
    bpf_probe_read_kernel(r->v, REGS_SPAN, (void *)ctx->args[0] + REGS_LO);
    s64 nr = (s64)r->v[(OFF_REGS_ORIG_AX - REGS_LO) / 8];
    if (nr < 0 || nr >= 512)
        return 0;
    exit_progs.call(ctx, (u32)nr);
    return 0;
}

/* Argument n (x86_64 syscall ABI order) from the copied registers. */
static __always_inline u64 sys_arg(struct sysregs *r, int n) {
    u32 off = n == 0 ? OFF_REGS_DI : n == 1 ? OFF_REGS_SI : n == 2 ? OFF_REGS_DX :
              n == 3 ? OFF_REGS_R10 : n == 4 ? OFF_REGS_R8 : OFF_REGS_R9;
    return r->v[((off - REGS_LO) / 8) % (REGS_SPAN / 8)];
}

/* The common head of a generated exit program. */
#define PLAIN_EXIT_BEGIN(type) \
    long ret = (long)ctx->args[1]; \
    if (IS_SELF()) return 0; \
    struct sysregs *regs = sysregs_lookup(); \
    if (!regs) return 0; \
    struct evt *e = record_begin(type); \
    if (!e) return 0;

static __always_inline struct sysregs *sysregs_lookup(void) {
    u32 zero = 0;
    return sysregs_map.lookup(&zero);
}

static __always_inline int plain_end(struct bpf_raw_tracepoint_args *ctx, struct evt *e, long ret) {
    fill_ids(e, ret);
    e->ts = 0;                         /* set when sent (fill_rest) */
    judge_prog.call(ctx, P_JUDGE);
    /* Reached only when the judge is not loaded (this kernel's verifier refused it): the
     * event goes up unjudged, as without a filter. */
    u32 type = e->type;
    if (type >= NTYPES)
        return 0;
    flood_check(e->pid);
    e->rflags |= RF_MATCHED | RF_TRACKED;
    fill_rest(e);
    send(e, record_size(e), type, 0);
    return 0;
}

#define PLAIN_EXIT_END() return plain_end(ctx, e, ret);

#ifdef WANT_openat2
int sx_openat2(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_OPENAT2)
    u64 how[3] = {0, 0, 0};   /* struct open_how { u64 flags, mode, resolve; } */
    bpf_probe_read_user(how, sizeof(how), (void *)sys_arg(regs, 2));
    e->a[0] = sys_arg(regs, 0);
    e->a[1] = how[0];
    e->a[2] = how[1];
    e->a[3] = how[2];
    STR(e, 0, sys_arg(regs, 1));
    kcopy_take(e, regs, 1);
    kpath(e, ret);
    PLAIN_EXIT_END()
}
#endif

/* @PAYLOAD@ (payload.c is inserted here by kernel.py) */

/* @NET@ (net.c is inserted here by kernel.py) */

/* ---------------------------------------------------------------- generated exit programs */
