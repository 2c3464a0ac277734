/* falcoish live probe: syscall tracepoints -> one fixed-layout record per syscall at exit.
 *
 * Read at run time by kernel.py, which prepends #defines (EV_* type numbers, WANT_* switches,
 * sizes) and appends one small enter/exit handler pair per wanted "plain" syscall, generated
 * from the table in spec.py.  The handlers that need more than copying tracepoint fields
 * (execve/execveat, clone3, openat2, connect's local port, process lifecycle) live here,
 * each behind its WANT_* switch so that only wanted tracepoints are compiled and attached.
 *
 * Flow: sys_enter_X copies scalar arguments into a[] and user strings into s[] of a per-CPU
 * scratch record, then stores it in `stash` keyed by pid_tgid.  sys_exit_X adds the return
 * value, time and credentials, reads what the kernel wrote back to user memory (pipe fds,
 * peer address) and emits the record into the ring buffer, sized to the string slots used.
 *
 * No kernel structure is read except the first 16 bytes of struct sock_common (local port),
 * whose layout has not changed since 2.6 and does not depend on the installed headers.
 */

#include <uapi/linux/ptrace.h>

#ifndef STR_SZ
#define STR_SZ 512
#endif
#define NSTR 3
#define ARGV_SZ 4096           /* argv / envp blobs: logical size ... */
#define ARG_SZ 1024            /* ... plus room for one more string that overflows it */
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
    u16 slen[NSTR];    /* bytes in each slot (strings include the NUL) */
    u16 flags;         /* internal: which exit-side reads to do */
    u32 pad;
    s64 res;
    u64 a[6];
    u64 xptr;          /* user pointer to read at exit into slot `nstr` */
    u64 xlenptr;       /* pointer to an int length (accept/recvfrom), or a fixed length */
    u64 sptr[NSTR];    /* user pointers of string slots: retried at exit if unreadable at enter */
    char comm[16];     /* bpf_get_current_comm at exit (after exec: the new name) */
    char s[NSTR][STR_SZ];
};

struct exec_evt {
    struct evt h;
    u32 argv_len;
    u32 env_len;
    char argv[ARGV_SZ + ARG_SZ];
    char env[ARGV_SZ + ARG_SZ];
};

#define XF_LENPTR 1    /* xlenptr points to an int holding the length */
#define XF_FIXED 2     /* xlenptr is the length itself */

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_PERCPU_ARRAY(scratch, struct evt, 1);
BPF_F_TABLE("hash", u64, struct evt, stash, STASH_ENTRIES, BPF_F_NO_PREALLOC);
BPF_PERCPU_ARRAY(lost, u64, 1);

static __always_inline void count_lost(void) {
    u32 zero = 0;
    u64 *n = lost.lookup(&zero);
    if (n)
        *n += 1;
}

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
    e->xptr = 0;
    e->xlenptr = 0;
    e->res = 0;
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

/* Raw bytes (a sockaddr) into slot i, length from a tracepoint field. */
#define BYTES(e, i, ptr, len) do { \
    u32 _l = (u32)(len); \
    if (_l > SOCKADDR_MAX) _l = SOCKADDR_MAX; \
    asm volatile("" : "+r"(_l)); \
    (e)->slen[i] = 0; \
    if ((ptr) && _l > 0 && bpf_probe_read_user((e)->s[i], _l & 0xff, (const void *)(ptr)) == 0) \
        (e)->slen[i] = _l; \
    if ((e)->nstr < (i) + 1) (e)->nstr = (i) + 1; \
} while (0)

/* Read a user buffer at exit (kernel-written data) into the next free slot. */
#define EXIT_READ(e, ptr, lenarg, how) do { \
    (e)->xptr = (u64)(ptr); (e)->xlenptr = (u64)(lenarg); (e)->flags = (how); \
} while (0)

static __always_inline void fill_common(struct evt *e, long ret) {
    u64 id = bpf_get_current_pid_tgid();
    u64 ug = bpf_get_current_uid_gid();
    e->res = ret;
    e->ts = bpf_ktime_get_boot_ns();
    e->tid = (u32)id;
    e->pid = id >> 32;
    e->uid = (u32)ug;
    e->gid = ug >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* A string whose page was not resident at enter (bpf cannot fault it in) is readable after
 * the kernel itself copied it: retry those at exit. */
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
    u32 i = e->nstr;
    if (!e->xptr || ret < 0 || i >= NSTR)
        return;
    u32 len = 0;
    if (e->flags & XF_LENPTR) {
        int l = 0;
        if (!e->xlenptr || bpf_probe_read_user(&l, sizeof(l), (void *)e->xlenptr))
            return;
        len = l;
    } else {
        len = (u32)e->xlenptr;
    }
    if (len > SOCKADDR_MAX)
        len = SOCKADDR_MAX;
    asm volatile("" : "+r"(len));   /* keep the clamp visible to the verifier */
    len &= 0xff;
    if (len == 0)
        return;
    if (i == 0) {
        if (bpf_probe_read_user(e->s[0], len & 0xff, (void *)e->xptr) == 0) e->slen[0] = len; else return;
    } else if (i == 1) {
        if (bpf_probe_read_user(e->s[1], len & 0xff, (void *)e->xptr) == 0) e->slen[1] = len; else return;
    } else {
        if (bpf_probe_read_user(e->s[2], len & 0xff, (void *)e->xptr) == 0) e->slen[2] = len; else return;
    }
    e->nstr = i + 1;
}

static __always_inline void emit(struct evt *e) {
    u32 n = e->nstr;
    if (n > NSTR)
        n = NSTR;
    u32 size = offsetof(struct evt, s) + n * STR_SZ;
    if (size > sizeof(struct evt))
        size = sizeof(struct evt);
    if (events.ringbuf_output(e, size, 0) != 0)
        count_lost();
}

/* skc_num (local port, host order) sits at byte 14 of struct sock_common. */
static __always_inline u64 sock_local_port(u64 sk) {
    u16 port = 0;
    if (sk)
        bpf_probe_read_kernel(&port, sizeof(port), (void *)(sk + 14));
    return port;
}

/* Generic exit: the stash must hold the same syscall. `child_ok` marks a clone-family
 * exit where a missing stash with ret 0 is the child's return (emit a bare record). */
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
            emit(c);
        }
        return 0;
    }
    if (e->type != type) {
        stash.delete(&id);
        return 0;
    }
    fill_common(e, ret);
    exit_reads(e, ret);
#ifdef WANT_connect
    if (type == EV_CONNECT && e->a[3])    /* a[3] = sock seen at TCP_SYN_SENT */
        e->a[5] = sock_local_port(e->a[3]);
#endif
#ifdef WANT_listen
    if (type == EV_LISTEN && e->a[2])     /* a[2] = sock seen at TCP_LISTEN */
        e->a[3] = sock_local_port(e->a[2]);
#endif
    emit(e);
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
    struct evt *st = stash.lookup(&id);
    e->a[0] = (u32)args->child_pid;
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
    emit(e);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit) {
    u64 id = bpf_get_current_pid_tgid();
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
    emit(e);
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

static __always_inline u32 read_strv(char *buf, const char *const *vec, int max) {
    u32 off = 0;
    for (int i = 0; i < max; i++) {
        const char *p = 0;
        if (bpf_probe_read_user(&p, sizeof(p), &vec[i]) || !p)
            break;
        if (off >= ARGV_SZ)
            break;
        long n = bpf_probe_read_user_str(&buf[off & (ARGV_SZ - 1)], ARG_SZ, p);
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
    x->h.xptr = 0;
    x->h.res = 0;
    return x;
}

static __always_inline void exec_commit(struct exec_evt *x, const char *const *argv,
                                        const char *const *envp) {
    x->argv_len = read_strv(x->argv, argv, MAX_ARGS);
    x->env_len = read_strv(x->env, envp, MAX_ENVS);
    u64 id = bpf_get_current_pid_tgid();
    exec_stash.update(&id, x);
}

static __always_inline int exec_exit(long ret, u16 type) {
    u64 id = bpf_get_current_pid_tgid();
    struct exec_evt *x = exec_stash.lookup(&id);
    if (!x)
        return 0;
    if (x->h.type == type) {
        fill_common(&x->h, ret);
        if (events.ringbuf_output(x, sizeof(*x), 0) != 0)
            count_lost();
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

TRACEPOINT_PROBE(sched, sched_process_exec) {
    /* A successful exec is reported here, where the new comm and credentials are in place
     * (sys_exit_execveat does not fire after a successful execveat on every kernel).  A
     * non-leader thread that execs takes over the leader's tid: its stash is looked up
     * under the old tid.  sys_exit_execve(at) then only sees failures. */
    u64 id = bpf_get_current_pid_tgid();
    u64 key = id;
    if (args->old_pid != args->pid)
        key = (id & 0xffffffff00000000ULL) | (u32)args->old_pid;
    struct exec_evt *x = exec_stash.lookup(&key);
    if (!x)
        return 0;
    fill_common(&x->h, 0);
    if (events.ringbuf_output(x, sizeof(*x), 0) != 0)
        count_lost();
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

/* ---------------------------------------------------------------- special syscalls */

#ifdef WANT_openat2
TRACEPOINT_PROBE(syscalls, sys_enter_openat2) {
    struct evt *e = stash_begin(EV_OPENAT2);
    if (!e)
        return 0;
    u64 how[3] = {0, 0, 0};   /* struct open_how { u64 flags, mode, resolve; } */
    bpf_probe_read_user(how, sizeof(how), (void *)args->how);
    e->a[0] = (u64)args->dfd;
    e->a[1] = how[0];
    e->a[2] = how[1];
    e->a[3] = how[2];
    STR(e, 0, args->filename);
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_openat2) { return exit_common(args->ret, EV_OPENAT2, 0); }
#endif

#ifdef WANT_connect
TRACEPOINT_PROBE(syscalls, sys_enter_connect) {
    struct evt *e = stash_begin(EV_CONNECT);
    if (!e)
        return 0;
    e->a[0] = (u64)args->fd;
    e->a[3] = 0;
    e->a[4] = 0;
    e->a[5] = 0;
    BYTES(e, 0, args->uservaddr, args->addrlen);
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_connect) { return exit_common(args->ret, EV_CONNECT, 0); }
#endif

#ifdef WANT_listen
TRACEPOINT_PROBE(syscalls, sys_enter_listen) {
    struct evt *e = stash_begin(EV_LISTEN);
    if (!e)
        return 0;
    e->a[0] = (u64)args->fd;
    e->a[1] = (u64)args->backlog;
    e->a[2] = 0;
    e->a[3] = 0;
    stash_commit(e);
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_exit_listen) { return exit_common(args->ret, EV_LISTEN, 0); }
#endif

#if defined(WANT_connect) || defined(WANT_listen)
TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    /* Inside connect() a TCP socket goes CLOSE -> SYN_SENT, inside listen() -> LISTEN, both in
     * the caller's context: remember the socket (its local port is read at exit) and, for
     * connect, the local address routing chose. */
    if (args->newstate != 2 /* TCP_SYN_SENT */ && args->newstate != 10 /* TCP_LISTEN */)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    struct evt *e = stash.lookup(&id);
    if (!e)
        return 0;
#ifdef WANT_listen
    if (e->type == EV_LISTEN && args->newstate == 10) {
        e->a[2] = (u64)args->skaddr;
        return 0;
    }
#endif
    if (e->type != EV_CONNECT || args->newstate != 2)
        return 0;
    e->a[3] = (u64)args->skaddr;
    if (args->family == 2) {
        u32 a4 = 0;
        __builtin_memcpy(&a4, args->saddr, 4);
        e->a[4] = a4;
        e->slen[1] = 0;
    } else {
        bpf_probe_read_kernel(e->s[1], 16, args->saddr_v6);
        e->slen[1] = 16;
    }
    e->nstr = 2;
    return 0;
}
#endif

#ifdef INIT_MODULE_RAW
/* Kernels without CONFIG_MODULES have no init_module/finit_module tracepoints: the raw
 * syscall tracepoints with an id filter stand in (costs a check on every syscall). */
TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    long nr = args->id;
#ifdef WANT_init_module
    if (nr == 175) {
        struct evt *e = stash_begin(EV_INIT_MODULE);
        if (!e)
            return 0;
        e->a[0] = args->args[1];
        STR(e, 0, args->args[2]);
        stash_commit(e);
        return 0;
    }
#endif
#ifdef WANT_finit_module
    if (nr == 313) {
        struct evt *e = stash_begin(EV_FINIT_MODULE);
        if (!e)
            return 0;
        e->a[0] = args->args[0];
        e->a[1] = args->args[2];
        STR(e, 0, args->args[1]);
        stash_commit(e);
        return 0;
    }
#endif
    return 0;
}
TRACEPOINT_PROBE(raw_syscalls, sys_exit) {
    long nr = args->id;
#ifdef WANT_init_module
    if (nr == 175)
        return exit_common(args->ret, EV_INIT_MODULE, 0);
#endif
#ifdef WANT_finit_module
    if (nr == 313)
        return exit_common(args->ret, EV_FINIT_MODULE, 0);
#endif
    return 0;
}
#endif

/* ---------------------------------------------------------------- generated handlers */
