/* Sockets: the exit programs of connect, sendmsg, recvmsg and listen, and what they read from
 * the kernel's socket (the local end, the peer).  Inserted after payload.c by kernel.py.
 *
 * Why from the socket: a process can leave before user space reads its /proc entry, and the
 * address arguments live in its memory, which it can rewrite during the call (kcopy.c);
 * the socket holds what the kernel did.
 */

/* The socket behind descriptor `fd` (struct sock *), through file->private_data. */
static __always_inline u64 fd_sock(s64 fd) {
    u64 file = fd_file(fd);
    u64 socket = read_u64(file + OFF_FILE_PRIVATE);
    return read_u64(socket + OFF_SOCKET_SK);
}

/* The local end of the socket behind `fd` as the kernel holds it after the call (a send
 * on an unbound socket binds it): family << 48 | port << 32 | IPv4 address (network order);
 * an IPv6 socket carries its port only; 0 when not a bound inet socket. */
static __always_inline u64 sock_local(s64 fd) {
    u64 sk = fd_sock(fd);
    if (!sk)
        return 0;
    u16 family = 0, port = 0;
    u32 a4 = 0;
    bpf_probe_read_kernel(&family, 2, (void *)(sk + OFF_SKC_FAMILY));
    if (family != 2 && family != 10)
        return 0;
    bpf_probe_read_kernel(&port, 2, (void *)(sk + OFF_SKC_NUM));
    if (family == 2)
        bpf_probe_read_kernel(&a4, 4, (void *)(sk + OFF_SKC_RCV_SADDR));
    return ((u64)family << 48) | ((u64)port << 32) | a4;
}

/* The peer of socket `sk` as the kernel holds it, as a sockaddr in string slot i (left empty
 * when the socket has no peer: not inet, or reset).  Accepts and io_uring use it: the address
 * an accept wrote into the caller's memory is the caller's to change afterwards, and a
 * caller that passed no buffer has none at all. */
static __always_inline void sock_peer(struct evt *e, u32 i, u64 sk) {
    if (i >= NSTR)
        return;
    if (e->nstr < i + 1)
        e->nstr = i + 1;
    e->slen[i] = 0;
    if (!sk)
        return;
    u16 family = 0, dport = 0;
    bpf_probe_read_kernel(&family, 2, (void *)(sk + OFF_SKC_FAMILY));
    bpf_probe_read_kernel(&dport, 2, (void *)(sk + OFF_SKC_DPORT));
    if (!dport || (family != 2 && family != 10))
        return;
    __builtin_memset(e->s[i], 0, 28);
    bpf_probe_read_kernel(&e->s[i][0], 2, &family);
    bpf_probe_read_kernel(&e->s[i][2], 2, &dport);          /* network order, as sockaddr */
    if (family == 2) {
        bpf_probe_read_kernel(&e->s[i][4], 4, (void *)(sk + OFF_SKC_DADDR));
        e->slen[i] = 16;
    } else {
        bpf_probe_read_kernel(&e->s[i][8], 16, (void *)(sk + OFF_SKC_V6_DADDR));
        e->slen[i] = 28;
    }
}

#ifdef WANT_connect
static __always_inline void connect_sock(struct evt *e, u64 sk);
static __always_inline void connect_peer(struct evt *e, u64 sk);
/* connect: the remote address as passed; the local end as the kernel bound it (a[3] = the
 * socket when its local port is known, a[4] = IPv4 address, a[5] = port, slot 1 = IPv6);
 * a[1] = 1 << 32 | socket type << 16 | protocol, from the socket itself: a socket made
 * before the capture, or whose socket() record was not needed, is otherwise known only from
 * /proc, which a short-lived process has left by the time user space looks. */
int sx_connect(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_CONNECT)
    s64 fd = (s64)(s32)sys_arg(regs, 0);
    e->a[0] = (u64)fd;
    e->a[1] = 0;
    e->a[2] = 0;
    e->a[3] = 0;
    e->a[4] = 0;
    e->a[5] = 0;
    BYTES(e, 0, sys_arg(regs, 1), sys_arg(regs, 2));
    u64 sk = fd_sock(fd);
    connect_sock(e, sk);
    if (ret == 0 || ret == -115)           /* the call that set the peer (or EINPROGRESS) */
        connect_peer(e, sk);
    PLAIN_EXIT_END()
}

/* The IPv4 destination as the kernel connected the socket, in place of the caller's sockaddr
 * (read from its memory after the call, so possibly rewritten meanwhile: kcopy.c), for a
 * connect that succeeded or is in progress (another result, EISCONN say, says nothing of the
 * address passed).  Unknown, and the caller's left, when the socket is not connected (a
 * refused or reset connect).  An unspecified address the kernel routed to a local one is not
 * a change of mind. */
static __always_inline void connect_peer(struct evt *e, u64 sk) {
    if (!sk || e->slen[0] < 8)
        return;
    u16 family = 0, dport = 0;
    u32 daddr = 0;
    bpf_probe_read_kernel(&family, 2, (void *)(sk + OFF_SKC_FAMILY));
    bpf_probe_read_kernel(&dport, 2, (void *)(sk + OFF_SKC_DPORT));
    bpf_probe_read_kernel(&daddr, 4, (void *)(sk + OFF_SKC_DADDR));
    u16 ufamily = *(u16 *)&e->s[0][0], uport = *(u16 *)&e->s[0][2];
    u32 uaddr = *(u32 *)&e->s[0][4];
    if (family != 2 || ufamily != 2 || !dport || (uport == dport && uaddr == daddr))
        return;
    if (uaddr != 0 || uport != dport) {
        e->rflags |= RF_TAMPERED;                  /* slot 0 */
        if (e->nstr <= CLAIM_SLOT) {
            bpf_probe_read_kernel(e->s[CLAIM_SLOT], 16, e->s[0]);
            e->slen[CLAIM_SLOT] = e->slen[0] > 16 ? 16 : e->slen[0];
            e->nstr = CLAIM_SLOT + 1;
            e->rflags |= RF_CLAIM;
        }
    }
    *(u16 *)&e->s[0][2] = dport;
    *(u32 *)&e->s[0][4] = daddr;
}

/* What connect reports from the socket itself (see sx_connect); shared with io_uring's
 * IORING_OP_CONNECT (iouring.c). */
static __always_inline void connect_sock(struct evt *e, u64 sk) {
    if (sk) {
        u16 family = 0, port = 0, type = 0, proto = 0;
        bpf_probe_read_kernel(&type, 2, (void *)(sk + OFF_SK_TYPE));
        bpf_probe_read_kernel(&proto, 2, (void *)(sk + OFF_SK_PROTOCOL));
        e->a[1] = (1ULL << 32) | ((u64)type << 16) | proto;
        bpf_probe_read_kernel(&family, 2, (void *)(sk + OFF_SKC_FAMILY));
        bpf_probe_read_kernel(&port, 2, (void *)(sk + OFF_SKC_NUM));
        if (port && family == 2) {
            u32 a4 = 0;
            bpf_probe_read_kernel(&a4, 4, (void *)(sk + OFF_SKC_RCV_SADDR));
            e->a[3] = sk;
            e->a[4] = a4;
            e->a[5] = port;
        } else if (port && family == 10) {
            bpf_probe_read_kernel(e->s[1], 16, (void *)(sk + OFF_SKC_V6_RCV_SADDR));
            e->slen[1] = 16;
            e->nstr = 2;
            e->a[3] = sk;
            e->a[5] = port;
        }
    }
}
#endif

#if defined(WANT_sendmsg) || defined(WANT_recvmsg)
/* sendmsg/recvmsg: a[0] = fd, a[1] = bytes in the iovecs (up to IOV_WALK of them), a[2] =
 * the socket's local end; slot 0 = msg_name (for recvmsg as the kernel wrote it back, its
 * length updated), slot 1 = the payload of the first iovec, cut to the return value. */
struct umsghdr { u64 name; s32 namelen; s32 pad; u64 iov; u64 iovlen; };
static __always_inline void msg_record(struct evt *e, struct sysregs *regs, long ret) {
    s64 fd = (s64)(s32)sys_arg(regs, 0);
    struct umsghdr h = {};
    bpf_probe_read_user(&h, sizeof(h), (void *)sys_arg(regs, 1));
    e->a[0] = (u64)fd;
    e->a[2] = sock_local(fd);
    u64 base = 0, first = 0;
    e->a[1] = iov_walk(h.iov, h.iovlen, &base, &first);
    BYTES(e, 0, h.name, ret >= 0 ? h.namelen : 0);
    u64 n = ret >= 0 && (u64)ret < first ? (u64)ret : first;
    if (e->type == EV_SENDMSG)
        PAYLOAD_SENT(e, 1, base, ret >= 0 ? (s64)n : ret);
    else if (ret >= 0 && base)
        PAYLOAD(e, 1, base, n);
}
#endif

#ifdef WANT_sendmsg
int sx_sendmsg(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_SENDMSG)
    msg_record(e, regs, ret);
    PLAIN_EXIT_END()
}
#endif

#ifdef WANT_recvmsg
int sx_recvmsg(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_RECVMSG)
    msg_record(e, regs, ret);
    PLAIN_EXIT_END()
}
#endif

#ifdef WANT_listen
int sx_listen(struct bpf_raw_tracepoint_args *ctx) {
    PLAIN_EXIT_BEGIN(EV_LISTEN)
    s64 fd = (s64)(s32)sys_arg(regs, 0);
    e->a[0] = (u64)fd;
    e->a[1] = sys_arg(regs, 1);
    u64 sk = fd_sock(fd);
    u16 port = 0;
    if (sk)
        bpf_probe_read_kernel(&port, 2, (void *)(sk + OFF_SKC_NUM));
    e->a[2] = port ? sk : 0;
    e->a[3] = port;
    PLAIN_EXIT_END()
}
#endif
