/* io_uring opens, connects and accepts, as the same `openat`/`connect`/`accept` records the
 * syscalls give (flag RF_IO_URING).  IOU_OPEN / IOU_CONNECT / IOU_ACCEPT (kernel.py) say which
 * the rules need.
 *
 * Why: an IORING_OP_OPENAT/OPENAT2 never passes through the openat syscall tracepoints, so a
 * program can open /etc/shadow unseen (the io_uring rootkit technique).  This kernel offers no
 * kprobe/fentry/LSM hook, but the io_uring tracepoints see every request whichever task runs
 * it (the submitter inline, an io-wq worker `iou-wrk-<pid>`, or the SQPOLL thread
 * `iou-sqp-<pid>`):
 *  - io_uring_submit_req fires after the request was prepared: io_open->filename is the
 *    kernel's own copy of the path (getname()), kept per request until completion (the kernel
 *    frees it before completing);
 *  - io_uring_complete gives the result: the new descriptor, installed in the process's table
 *    (io-wq and SQPOLL threads share it), so the kpath walk names the file the kernel opened.
 * The record is attributed to the ring's owner task (req->tctx->task), not the worker thread:
 * rules about "which program opened it" must see the program, not `iou-wrk-1234`.  With
 * SQPOLL the owner is the `iou-sqp-<pid>` thread itself (PF_IO_WORKER): the process's main
 * thread (group leader) stands for it, as the SQPOLL thread has no program of its own.
 * A direct (fixed-file) open (io_open.file_slot != 0) installs no descriptor, so there is
 * nothing to walk or track: the record carries the kernel's copy of the path and res =
 * IOU_NO_FD (-EBADF), i.e. it reads as an open that gave no descriptor (known gap: rules that
 * require fd.num >= 0 do not see it).
 * IORING_OP_CONNECT: the destination and the socket's facts come from the socket itself
 * (req->file, at completion: the kernel's values).  The kernel's copy of the address in the
 * request's async data was tried and is not usable: it is recycled before the completion and
 * read as stale bytes at submission on this kernel.  A refused TCP connect has reset the
 * socket's peer: such a record carries no address.
 * IORING_OP_ACCEPT: the listening descriptor from the submission, the peer from the new
 * socket at completion (one completion per connection for a multishot accept).
 * Every offset comes from the running kernel's BTF (kernel.py IOURING_OFFSETS).
 */

#define IOU_OP_ACCEPT 13
#define IOU_OP_CONNECT 16
#define IOU_CQE_F_MORE 2
#define IOU_OP_OPENAT 18
#define IOU_OP_OPENAT2 28
#define IOU_NO_FD (-9)
#define PF_IO_WORKER_BIT 0x10

/* What only the submission knows: the kernel's copy of an open's path (released before the
 * completion) and the descriptor number (the completion overwrites it with res). */
struct iou_sub { s64 fd; u32 fixed; char s[STR_SZ]; };
BPF_TABLE("lru_hash", u64, struct iou_sub, iou_subs, 4096);
BPF_PERCPU_ARRAY(iou_scratch, struct iou_sub, 1);

static __always_inline u32 iou_opcode(u64 req) {
    u8 op = 0;
    bpf_probe_read_kernel(&op, 1, (void *)(req + OFF_IOU_REQ_OPCODE));
    return op;
}

static __always_inline int iou_wanted(u32 op) {
#ifdef IOU_OPEN
    if (op == IOU_OP_OPENAT || op == IOU_OP_OPENAT2)
        return 1;
#endif
#ifdef IOU_CONNECT
    if (op == IOU_OP_CONNECT)
        return 1;
#endif
#ifdef IOU_ACCEPT
    if (op == IOU_OP_ACCEPT)
        return 1;
#endif
    return 0;
}

int iou_submit(struct bpf_raw_tracepoint_args *ctx) {
    u64 req = ctx->args[0];
    if (!req || IS_SELF())
        return 0;
    u32 op = iou_opcode(req);
    if (!iou_wanted(op))
        return 0;
    u32 zero = 0;
    struct iou_sub *n = iou_scratch.lookup(&zero);
    if (!n)
        return 0;
    n->s[0] = 0;
    s32 fd = -1;
    u32 rflags = 0;
    bpf_probe_read_kernel(&fd, 4, (void *)(req + OFF_IOU_REQ_FD));
    bpf_probe_read_kernel(&rflags, 4, (void *)(req + OFF_IOU_REQ_FLAGS));
    n->fd = fd;
    n->fixed = rflags & 1;                /* REQ_F_FIXED_FILE: fd is a registered-file slot */
    if (op == IOU_OP_ACCEPT) {            /* accepted into a registered-file slot: no fd */
        u32 slot = 0;
        bpf_probe_read_kernel(&slot, 4, (void *)(req + OFF_IOU_ACCEPT_SLOT));
        n->fixed |= (slot != 0) << 1;
    } else if (op != IOU_OP_CONNECT) {
        u64 fname = read_u64(req + OFF_IOU_OPEN_FILENAME);
        u64 name = read_u64(fname + OFF_FILENAME_NAME);
        if (name)
            bpf_probe_read_kernel_str(n->s, STR_SZ, (void *)name);
    }
    iou_subs.update(&req, n);
    return 0;
}

/* Attribute to the ring's owner, judge and send, as plain_end does for a syscall. */
static __always_inline int iou_send(struct bpf_raw_tracepoint_args *ctx, struct evt *e, u64 req,
                                    long ret) {
    fill_ids(e, ret);
    e->rflags = RF_IO_URING;
    u64 tctx = read_u64(req + OFF_IOU_REQ_TCTX);
    u64 owner = read_u64(tctx + OFF_IOU_TCTX_TASK);
    u32 tflags = 0;
    if (owner)
        bpf_probe_read_kernel(&tflags, 4, (void *)(owner + OFF_IOU_TASK_FLAGS));
    if (tflags & PF_IO_WORKER_BIT)          /* SQPOLL: its thread submitted; the process's */
        owner = read_u64(owner + OFF_IOU_TASK_LEADER);   /* main thread stands for the ring */
    if (owner) {
        u32 tid = 0, tgid = 0;
        bpf_probe_read_kernel(&tid, 4, (void *)(owner + OFF_IOU_TASK_PID));
        bpf_probe_read_kernel(&tgid, 4, (void *)(owner + OFF_IOU_TASK_TGID));
        if (tid && tgid) {
            e->tid = tid;
            e->pid = tgid;
        }
    }
    fill_rest(e);
    if (owner)
        bpf_probe_read_kernel(e->comm, sizeof(e->comm), (void *)(owner + OFF_IOU_TASK_COMM));
    u32 type = e->type;
    judge_prog.call(ctx, P_JUDGE);
    /* reached only without a loaded judge: the event goes up unjudged */
    if (type >= NTYPES)
        return 0;
    flood_check(e->pid);
    e->rflags |= RF_MATCHED | RF_TRACKED;
    send(e, record_size(e), type, 0);
    return 0;
}

int iou_complete(struct bpf_raw_tracepoint_args *ctx) {
    u64 req = ctx->args[1];
    if (!req || IS_SELF())
        return 0;
    u32 op = iou_opcode(req);
    if (!iou_wanted(op))
        return 0;
    struct iou_sub *n = iou_subs.lookup(&req);
    if (!n)
        return 0;                          /* submitted before the capture started */
    s32 res = 0;
    bpf_probe_read_kernel(&res, 4, (void *)(ctx->args[2] + OFF_IOU_CQE_RES));
    long ret = res;
#ifdef IOU_CONNECT
    if (op == IOU_OP_CONNECT) {
        struct evt *e = record_begin(EV_CONNECT);
        if (!e) {
            iou_subs.delete(&req);
            return 0;
        }
        e->a[0] = n->fixed ? (u64)IOU_NO_FD : (u64)n->fd;
        e->a[1] = 0;
        e->a[2] = 0;
        e->a[3] = 0;
        e->a[4] = 0;
        e->a[5] = 0;
        e->nstr = 1;
        e->slen[0] = 0;
        iou_subs.delete(&req);
        u64 file = read_u64(req + OFF_IOU_REQ_FILE);
        u64 socket = read_u64(file + OFF_FILE_PRIVATE);
        u64 sk = read_u64(socket + OFF_SOCKET_SK);
        if (sk)
            sock_peer(e, 0, sk);
        connect_sock(e, sk);
        return iou_send(ctx, e, req, ret);
    }
#endif
#ifdef IOU_ACCEPT
    if (op == IOU_OP_ACCEPT) {
        /* the listening descriptor from the submission; the peer from the accepted socket.  A
         * multishot accept completes once per connection (IORING_CQE_F_MORE): its submission
         * stays for the next one. */
        struct evt *e = record_begin(EV_ACCEPT);
        u32 cflags = 0;
        bpf_probe_read_kernel(&cflags, 4, (void *)(ctx->args[2] + OFF_IOU_CQE_FLAGS));
        s64 lfd = n->fixed & 1 ? (s64)IOU_NO_FD : n->fd;
        u32 direct = n->fixed & 2;
        if (!(cflags & IOU_CQE_F_MORE))
            iou_subs.delete(&req);
        if (!e)
            return 0;
        e->a[0] = (u64)lfd;
        e->nstr = 1;
        e->slen[0] = 0;
        if (direct && res >= 0)
            ret = IOU_NO_FD;               /* a registered-file slot, not a descriptor */
        else if (ret >= 0) {
            u64 sk = fd_sock(ret);
            if (sk)
                sock_peer(e, 0, sk);
        }
        return iou_send(ctx, e, req, ret);
    }
#endif
#ifdef IOU_OPEN
    struct evt *e = record_begin(EV_OPENAT);
    if (!e) {
        iou_subs.delete(&req);
        return 0;
    }
    s32 dfd = 0;
    u32 slot = 0;
    u64 flags = 0, mode = 0;
    bpf_probe_read_kernel(&dfd, 4, (void *)(req + OFF_IOU_OPEN_DFD));
    bpf_probe_read_kernel(&slot, 4, (void *)(req + OFF_IOU_OPEN_SLOT));
    bpf_probe_read_kernel(&flags, 8, (void *)(req + OFF_IOU_OPEN_FLAGS));
    bpf_probe_read_kernel(&mode, 8, (void *)(req + OFF_IOU_OPEN_MODE));
    e->a[0] = (u64)(s64)dfd;
    e->a[1] = flags;
    e->a[2] = mode;
    long n0 = bpf_probe_read_kernel_str(e->s[0], STR_SZ, n->s);
    e->slen[0] = n0 > 0 ? n0 : 0;
    e->nstr = 1;
    iou_subs.delete(&req);
    if (slot && res >= 0)
        ret = IOU_NO_FD;                   /* a fixed-file slot, not a descriptor */
    kpath(e, ret);
    return iou_send(ctx, e, req, ret);
#else
    iou_subs.delete(&req);
    return 0;
#endif
}
