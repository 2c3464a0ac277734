/* The canonical path of the file a successful open*() returned, from kernel objects.
 *
 * Why: the path argument lives in the caller's memory and says only how the caller spelled
 * it.  `/proc/self/root/etc/shadow`, a symlinked directory, `..` or a dirfd all open
 * /etc/shadow; rules and the kernel filter must see that, not the spelling.  At sys_exit the
 * new descriptor's struct file holds the answer: walk f_path's dentry up through d_parent,
 * crossing mounts (at a mount's root, continue from its mountpoint in the parent mount), to
 * the root of the mount namespace, the way d_path() does.  A bind-mounted file therefore has
 * the bind mount's path, as d_path and /proc/<pid>/fd show it.  The walk stops at the mount
 * namespace's root, not at a chroot.
 *
 * The string is built backwards from the leaf in a per-CPU buffer of twice the slot size (so
 * every bounded write is provably inside it) and copied into string slot KPATH_SLOT.  When the
 * walk cannot finish (deeper than KPATH_DEPTH components, longer than a slot, a read failed,
 * the descriptor is gone, the file is on an internal mount such as pipefs) the slot is left empty: user space falls back to resolving the
 * caller's path, and the kernel filter treats the path as unknown (the event passes).
 * Every offset comes from the running kernel's BTF (kernel.py BTF_OFFSETS).
 */

#define KPATH_DEPTH 32
#define KPATH_BUF (2 * STR_SZ)
struct kpath_buf { char b[KPATH_BUF]; };
BPF_PERCPU_ARRAY(kpath_scratch, struct kpath_buf, 1);

static __always_inline void kpath(struct evt *e, long ret) {
    if (e->nstr < KPATH_SLOT + 1)
        e->nstr = KPATH_SLOT + 1;
    e->slen[KPATH_SLOT] = 0;
    if (ret < 0)
        return;
    u64 file = fd_file(ret);
    u32 zero = 0;
    struct kpath_buf *kb = kpath_scratch.lookup(&zero);
    if (!file || !kb)
        return;
    u64 vfsmnt = read_u64(file + OFF_FILE_MNT);
    u64 d = read_u64(file + OFF_FILE_DENTRY);
    if (!vfsmnt || !d)
        return;
    u64 mnt = vfsmnt - OFF_MOUNT_MNT;
    u64 root = read_u64(vfsmnt + OFF_VFSMOUNT_ROOT);
    u32 pos = STR_SZ - 1;              /* the NUL; components go right before it */
    kb->b[STR_SZ - 1] = 0;
    int done = 0;
    /* Every iteration has the same shape (no `continue`, the component index is the loop
     * index) so that the verifier can prune the unrolled loop. */
#pragma unroll
    for (int i = 0; i < KPATH_DEPTH; i++) {
        int top = 0;
#pragma unroll
        for (int k = 0; k < 2; k++) {          /* twice: mounts stacked on one another */
            if (d == root) {
                u64 pm = read_u64(mnt + OFF_MOUNT_PARENT);
                if (!pm || pm == mnt) {
                    top = 1;                   /* the namespace's root mount */
                } else {
                    d = read_u64(mnt + OFF_MOUNT_MOUNTPOINT);
                    mnt = pm;
                    root = read_u64(mnt + OFF_MOUNT_MNT + OFF_VFSMOUNT_ROOT);
                }
            }
        }
        u64 parent = read_u64(d + OFF_DENTRY_PARENT);
        if (top || parent == d) {
            done = 1;
            break;
        }
        u32 len = 0;
        bpf_probe_read_kernel(&len, sizeof(len), (void *)(d + OFF_DENTRY_NAME_LEN));
        u64 name = read_u64(d + OFF_DENTRY_NAME);
        if (!parent || !name || len == 0 || len > 255 || len + 1 > pos)
            break;
        pos -= len + 1;
        pos &= STR_SZ - 1;
        if (bpf_probe_read_kernel(&kb->b[pos + 1], len & 255, (void *)name) != 0)
            break;
        kb->b[pos] = '/';
        d = parent;
    }
    /* A file on an internal mount (a pipe or memfd reopened through /proc/<pid>/fd/N) or a
     * detached one has no path in any namespace: mnt_ns is NULL, or MNT_NS_INTERNAL (an
     * error pointer) there. */
    u64 ns = read_u64(mnt + OFF_MOUNT_NS);
    if (!done || !ns || ns >= (u64)-4095)
        return;
    if (pos == STR_SZ - 1) {                  /* the root itself */
        pos = STR_SZ - 2;
        kb->b[STR_SZ - 2] = '/';
    }
    pos &= STR_SZ - 1;
    u32 n = STR_SZ - pos;                      /* with the NUL */
    asm volatile("" : "+r"(n));
    if (n > STR_SZ || n < 2)
        return;
    if (bpf_probe_read_kernel(e->s[KPATH_SLOT], n, &kb->b[pos]) == 0)
        e->slen[KPATH_SLOT] = n;
}
