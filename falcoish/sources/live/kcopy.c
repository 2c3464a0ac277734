/* The kernel's own copy of a syscall's path arguments, and the caller's memory checked against it.
 *
 * Why: the exit programs read path arguments from the caller's memory after the syscall ran.
 * That memory belongs to the process being watched: another thread, or a userfaultfd handler
 * that the kernel's copy blocked on, can rewrite it between the kernel's copy and ours (the
 * "Phantom" race), so the record would say `/tmp/shadow` while the kernel opened, linked to
 * or unlinked `/etc/shadow`.  The kernel copies every path argument into a `struct filename`
 * (getname) from the `names_cache` slab and frees it before the syscall returns; the
 * `kmem:kmem_cache_free` tracepoint fires before the object is freed, so its text is what
 * the kernel used.  This kernel allows no kprobes, fentry or LSM programs, so that free is
 * the hook every path syscall crosses.
 *
 * Collecting: for a free to `names_cache` (its address learned from the first free whose cache
 * is named so) by a user thread inside a syscall whose exit program consumes copies
 * (KCOPY_NR, generated), the text and the user pointer it was copied from (`uptr`) go into
 * `kcopies[tid]`, up to KC_MAX per syscall.  The syscall number comes from the pt_regs at
 * the top of the task's kernel stack (THREAD_SIZE, PTREGS_SIZE from kernel.py).
 *
 * Consuming (kcopy_take, in the exit program): a string slot whose user pointer equals a
 * copy's `uptr` gets the kernel's text (kcopy_apply, probe.c).  When the caller's memory,
 * read at exit, differs, the record is marked RF_TAMPERED (the slot in the bits at RF_TAMPER_SHIFT), the caller's
 * text goes into slot CLAIM_SLOT when that slot is free (RF_CLAIM), and the record is sent
 * whatever the rule filter says.  A name slot left without a kernel copy (a name longer than
 * the kernel keeps inline, a full table, a copy the kernel never made) is marked in the bits
 * at RF_UCOPY_SHIFT: the kernel filter treats it as unknown, so an event is never dropped on
 * the caller's version alone.
 */

#define KC_MAX 2
#define PF_KTHREAD_BIT 0x00200000
#define PF_IO_WORKER_BIT 0x00000010

struct kcopy {
    u32 nr;                 /* the syscall these copies belong to */
    u32 n;                  /* copies held */
    u64 uptr[KC_MAX];       /* the user pointer each was copied from */
    u32 len[KC_MAX];        /* bytes with the NUL; 0 = unreadable */
    u32 pad;
    char s[KC_MAX][STR_SZ];
};
/* preallocated: an entry lives from the first copy to the same syscall's exit, so about one per CPU
 * is in use at a time */
BPF_TABLE("hash", u32, struct kcopy, kcopies, KCOPY_ENTRIES);
BPF_PERCPU_ARRAY(kcopy_blank, struct kcopy, 1);
BPF_ARRAY(kc_names_cache, u64, 1);

/* Is `cache` the names_cache slab?  Learned from the cache's own name, once. */
static __always_inline int is_names_cache(u64 cache) {
    u32 zero = 0;
    u64 *known = kc_names_cache.lookup(&zero);
    if (!known)
        return 0;
    if (*known)
        return *known == cache;
    char nm[12] = {};
    bpf_probe_read_kernel_str(nm, sizeof(nm), (void *)read_u64(cache + OFF_KMEM_CACHE_NAME));
    if (nm[0] != 'n' || nm[1] != 'a' || nm[2] != 'm' || nm[3] != 'e' || nm[4] != 's' ||
        nm[5] != '_' || nm[6] != 'c' || nm[7] != 'a' || nm[8] != 'c' || nm[9] != 'h' ||
        nm[10] != 'e' || nm[11] != 0)
        return 0;
    *known = cache;
    return 1;
}

/* raw tracepoint kmem:kmem_cache_free(call_site, ptr, cache) (attached by kernel.py) */
int kc_free(struct bpf_raw_tracepoint_args *ctx) {
    if (!is_names_cache(ctx->args[2]) || IS_SELF())
        return 0;
    u64 task = bpf_get_current_task();
    u32 tflags = 0;
    bpf_probe_read_kernel(&tflags, sizeof(tflags), (void *)(task + OFF_TASK_FLAGS));
    if (tflags & (PF_KTHREAD_BIT | PF_IO_WORKER_BIT))
        return 0;
    u64 stack = read_u64(task + OFF_TASK_STACK);
    if (!stack)
        return 0;
    s64 nr = (s64)read_u64(stack + THREAD_SIZE - PTREGS_SIZE + OFF_REGS_ORIG_AX);
    if (!KCOPY_NR(nr))
        return 0;
    u64 obj = ctx->args[1];
    /* a name short enough to sit inside the struct (anything a slot can hold) */
    if (read_u64(obj + OFF_FILENAME_NAME) != obj + OFF_FILENAME_INAME)
        return 0;
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u32 zero = 0;
    struct kcopy *blank = kcopy_blank.lookup(&zero);
    if (!blank)
        return 0;
    blank->nr = (u32)nr;
    blank->n = 0;
    struct kcopy *kc = kcopies.lookup_or_try_init(&tid, blank);
    if (!kc)
        return 0;
    if (kc->nr != (u32)nr) {
        kc->nr = (u32)nr;
        kc->n = 0;
    }
    u32 i = kc->n;
    if (i >= KC_MAX)
        return 0;
    kc->uptr[i] = read_u64(obj + OFF_FILENAME_UPTR);
    long n = bpf_probe_read_kernel_str(kc->s[i], STR_SZ, (void *)(obj + OFF_FILENAME_INAME));
    kc->len[i] = n > 0 ? n : 0;
    kc->n = i + 1;
    return 0;
}

/* The copies this syscall's names got (see the top of the file); `names` = bit i set for each
 * string slot holding a path the kernel copies with getname. */
static __always_inline void kcopy_take(struct evt *e, struct sysregs *regs, u32 names) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u32 done = 0;
    struct kcopy *kc = kcopies.lookup(&tid);
    if (kc) {
        u32 nr = (u32)regs->v[((OFF_REGS_ORIG_AX - REGS_LO) / 8) % (REGS_SPAN / 8)];
        u32 n = kc->nr == nr ? kc->n : 0;
#pragma unroll
        for (int i = 0; i < NSTR; i++) {
            if (!((names >> i) & 1) || !e->sptr[i])
                continue;
            int j = n > 0 && kc->uptr[0] == e->sptr[i] ? 0 :
                    n > 1 && kc->uptr[1] == e->sptr[i] ? 1 : -1;
            if (j < 0)
                continue;
            kcopy_apply(e, i, kc->s[j & 1], kc->len[j & 1], 1);
            done |= 1 << i;
        }
        kcopies.delete(&tid);
    }
    e->rflags |= ((names & ~done) & 7) << RF_UCOPY_SHIFT;
}
