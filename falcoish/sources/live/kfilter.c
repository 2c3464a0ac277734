/* falcoish probe, part 2: the rule-derived kernel filter.
 *
 * Tables are computed in user space from the enabled rules (falcoish/kernel_filter) and
 * written by kfilter_maps.py; this code only evaluates them.  Per event type: up to 64 tests,
 * each giving one bit, and up to KF_TERMS terms (DNF): an event passes when, for some term,
 * every required bit is true or unknown and every forbidden bit is false or unknown.
 *
 * Tests on strings share lookups in one LPM trie keyed by [bank, type, kind] + bytes: a
 * forward lookup of the whole string gives every prefix test that holds and the equality
 * tests of the longest stored entry (the trie returns the longest stored prefix; each entry
 * carries the prefix bits of every shorter entry it extends); the same lookup cut at the
 * last '/' tests the dirname; the reversed string does suffixes and, cut, the basename.
 * `contains` tests look the string up from each position whose byte starts some needle
 * (needles are prefix entries of their own kind), only for events that some term could pass
 * on the other tests alone; integer tests compare a masked argument.
 *
 * A test is unknown when its view is: a string cut at the read limit, a relative path for
 * a test on the normalised path, a path that is not already normal (`//`, `/./`, `/../`),
 * a thread whose exec-time name the probe does not have.  Unknown passes.
 *
 * Two banks of every table: a reload fills the inactive bank, then flips `kf_config.bank`.
 * An event reads the bank once, so it is judged entirely by the old or the new tables.
 */

#define KF_TERMS 48
#define KF_INTS 32
#define KF_NEEDLE 32
#define KF_KEY 256
#define KF_STR 253
#define K_FWD 0
#define K_DIR 3
#define K_REV 6
#define K_BASE 9
#define K_COMM 12
#define K_CONT 13
#define O_DIRECTORY_BIT 0200000
#define O_PATH_BIT 010000000

struct kf_conf {
    u32 bank;
    u32 flood_threshold;   /* 0 = flood detection off */
    u32 sustain;
    u32 pad;
    u64 window_ns;
    u64 quiet_ns;
};
BPF_ARRAY(kf_config, struct kf_conf, 1);

struct kf_type {
    u8 valid;          /* 0 until user space wrote the tables: then every event passes */
    u8 lifecycle;      /* always sent, lane 0 */
    u8 filter;         /* judge with the tables below */
    u8 match_all;      /* not filtered: every event counts as matched */
    u8 state;          /* ST_* */
    u8 creates_fd;     /* 1: the return value is a new fd; 2: pipe (two fds in a slot) */
    u8 pipe_slot;
    u8 flags_arg;      /* a[] index of open flags (ST_OPEN) */
    u8 track_all;      /* every new descriptor is tracked (no kernel filter) */
    u8 lane1_only;     /* matched events still go to lane 1 (types no filter narrows) */
    u8 nterms;
    u8 nints;
    u8 spare;
    u8 bank;
    u8 pad[2];
    u32 lookups;       /* 1 << kind for each trie lookup the tests need */
    u32 pad2;
    u64 always_unknown; /* tests the tables could not hold: always unknown */
    u64 need[13];      /* tests needing [slot*4 + 0 whole, 1 absolute, 2 normal, 3 no //], [12] comm */
    u64 cont[NSTR];    /* tests with a `contains` part, per slot */
    u64 first[4];      /* bytes that start a needle (256-bit set) */
};
BPF_ARRAY(kf_types, struct kf_type, 2 * NTYPES);

/* one row per (bank, type): a whole filter is read with one lookup */
struct kf_termrow { u64 pos[KF_TERMS]; u64 neg[KF_TERMS]; };
BPF_ARRAY(kf_terms, struct kf_termrow, 2 * NTYPES);

/* operand: 0-5 a[i], 6 res, 7 fd number (res, or -1); decode: 0 s64, 1 s32, 2 u32, 3 u64;
 * op: 0 equal, 1 any bit, 2 <, 3 <=, 4 >, 5 >= */
struct kf_int { u8 operand; u8 decode; u8 op; u8 bit; u32 pad; u64 mask; u64 value; };
struct kf_introw { struct kf_int t[KF_INTS]; };
BPF_ARRAY(kf_ints, struct kf_introw, 2 * NTYPES);


struct kf_key { u32 prefixlen; u8 data[KF_KEY]; };
struct kf_val { u64 prefix; u64 exact; u32 len; u32 pad; };
BPF_F_TABLE("lpm_trie", struct kf_key, struct kf_val, kf_strings, KF_STRING_ENTRIES, BPF_F_NO_PREALLOC);

/* per CPU: lookup keys, and what stage 1 found for stage 2 (contains) */
/* Values needed after a loop go through this map value: the verifier does not track map
 * memory, so reading one back gives an unknown scalar, and the states that leave a loop at
 * different iterations become equal (and are verified once) instead of each carrying its
 * own bounds through the rest of the program. */
struct kf_scratch {
    struct kf_key fwd;
    struct kf_key rev;
    u64 truth;
    u64 unknown;
    u32 len[NSTR];
    u32 bank;          /* the bank this event is judged by, fixed when judging starts */
    u32 slot;          /* next string slot to look at */
    u32 whole;         /* the scanned slot: read whole, absolute, normal, free of // */
    u32 abs;
    u32 normal;
    u32 nodslash;
    u32 last_slash;
};
BPF_PERCPU_ARRAY(kf_scratch_map, struct kf_scratch, 1);

/* tid -> the name the thread got at its last exec (or from its parent at fork): what user
 * space calls proc.name, which a later prctl(PR_SET_NAME) does not change. */
struct commrec { char comm[16]; };
BPF_TABLE("lru_hash", u32, struct commrec, exec_comm, COMM_ENTRIES);

static __always_inline u32 kf_bank(void) {
    u32 zero = 0;
    struct kf_conf *conf = kf_config.lookup(&zero);
    return conf ? conf->bank & 1 : 0;
}

static __always_inline struct kf_type *kf_type_at(u32 bank, u32 type) {
    u32 idx = (bank & 1) * NTYPES + type;
    return kf_types.lookup(&idx);
}

static __always_inline struct kf_type *kf_type_of(u32 type) {
    return kf_type_at(kf_bank(), type);
}

/* 1 when a == b, else 0, without a branch: inside a long loop a branch doubles the paths. */
#define EQ(a, b) ((((u64)(u8)(a) ^ (u64)(u8)(b)) - 1) >> 63)
/* Keeps clang from rewriting a loop index into pointer increments the verifier cannot bound. */
#define OPAQUE(v) asm volatile("" : "+r"(v))

/* What the probe knows of string slot `s` of `slen` bytes (including the NUL), into `ks`. */
static __always_inline void kf_scan(const char *s, u32 slen, struct kf_scratch *ks, u32 i) {
    u32 len = slen > 0 ? slen - 1 : 0;
    if (i < NSTR)
        ks->len[i] = len;
    ks->whole = slen > 0 && slen < STR_SZ;
    ks->abs = ks->whole && len > 0 && s[0] == '/';
    ks->normal = 0;
    ks->nodslash = 0;
    ks->last_slash = 0;
    if (!ks->whole)
        return;
    u64 longer = len > 1;
    u64 bad = 0, dslash = 0, last = 0;
    u64 p1 = 0, p2 = 0, p3 = 0;
    #pragma clang loop unroll(disable)
    for (u32 k = 0; k < STR_SZ - 1; k++) {
        if (k >= len)
            break;
        OPAQUE(k);
        u64 c = (u8)s[k & (STR_SZ - 1)];
        u64 slash = EQ(c, '/');
        dslash |= slash & EQ(p1, '/');
        bad |= slash & EQ(p1, '.') & (EQ(p2, '/') | (EQ(p2, '.') & EQ(p3, '/')));
        last += (k - last) & (0 - slash);
        p3 = p2;
        p2 = p1;
        p1 = c;
    }
    bad |= EQ(p1, '/') & longer;
    bad |= EQ(p1, '.') & (EQ(p2, '/') | (EQ(p2, '.') & EQ(p3, '/')));
    ks->nodslash = !dslash;
    ks->normal = ks->abs && !bad && !dslash;
    ks->last_slash = last & (STR_SZ - 1);
}

/* Bits of the longest stored entry that prefixes the key's first `len` bytes. */
static __always_inline u64 kf_lookup(struct kf_key *k, u32 kind, u32 len) {
    if (len > KF_STR)
        len = KF_STR + 1;               /* longer than any entry: prefixes only */
    k->data[2] = kind;
    u32 bytes = len > KF_STR ? KF_STR : len;
    k->prefixlen = 8 * (3 + bytes);
    struct kf_val *v = kf_strings.lookup(k);
    if (!v)
        return 0;
    return v->prefix | (v->len == len ? v->exact : 0);
}

static __always_inline s64 kf_operand(struct evt *e, struct kf_int *t) {
    u32 op = t->operand;
    u64 v;
    if (op == 6) {
        v = (u64)e->res;
    } else if (op == 7) {
        v = e->res < 0 ? (u64)-1 : (u64)e->res;
    } else {
        u32 i = op > 5 ? 5 : op;
        v = e->a[i];
    }
    if (t->decode == 1)
        v = (u64)(s64)(s32)(u32)v;
    else if (t->decode == 2)
        v = (u32)v;
    return (s64)v;
}

static __always_inline int kf_int_holds(struct evt *e, struct kf_int *t) {
    s64 v = kf_operand(e, t) & (s64)t->mask;
    s64 c = (s64)t->value;
    int unsigned_cmp = t->decode >= 2;
    switch (t->op) {
    case 0: return v == c;
    case 1: return v != 0;
    case 2: return unsigned_cmp ? (u64)v < (u64)c : v < c;
    case 3: return unsigned_cmp ? (u64)v <= (u64)c : v <= c;
    case 4: return unsigned_cmp ? (u64)v > (u64)c : v > c;
    case 5: return unsigned_cmp ? (u64)v >= (u64)c : v >= c;
    }
    return 0;
}

/* Does some term hold?  (unknown tests satisfy both polarities)  Unrolled with a constant
 * trip count: the verifier then sees straight-line code, not a loop it must bound. */
static __always_inline int kf_terms_pass(u32 base, u32 nterms, u64 truth, u64 unknown) {
    struct kf_termrow *row = kf_terms.lookup(&base);
    if (!row)
        return 1;
    u64 tu = truth | unknown, tr = truth & ~unknown;
    #pragma unroll
    for (int i = 0; i < KF_TERMS; i++) {
        if (i < nterms && (row->pos[i] & ~tu) == 0 && (row->neg[i] & tr) == 0)
            return 1;
    }
    return 0;
}

#define KF_REJECT 0
#define KF_PASS 1
#define KF_NEEDS_CONTAINS 2

/* Stage 1a, one string slot (a program of its own per slot, through tail calls, so the
 * verifier meets one slot's loops at a time): scan the string, look it up, record the bits
 * in `ks`. */
static __always_inline void kf_slot(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks, u32 i) {
    if (i >= NSTR)
        return;
    ks->len[i] = 0;
    u64 used = cfg->need[i * 4] | cfg->need[i * 4 + 1] | cfg->need[i * 4 + 2] | cfg->need[i * 4 + 3];
    if (!used)
        return;
    u32 slen = i < e->nstr ? e->slen[i] : 0;
    if (slen > STR_SZ)
        slen = 0;
    kf_scan(e->s[i], slen, ks, i);
    if (!ks->whole) {
        ks->unknown |= used;
        ks->len[i] = 0;
        return;
    }
    if (!ks->abs)
        ks->unknown |= cfg->need[i * 4 + 1] | cfg->need[i * 4 + 2];
    else if (!ks->normal)
        ks->unknown |= cfg->need[i * 4 + 2];
    if (!ks->nodslash)
        ks->unknown |= cfg->need[i * 4 + 3];
    u32 lookups = cfg->lookups;
    if (lookups & ((1 << (K_FWD + i)) | (1 << (K_DIR + i)))) {
        ks->fwd.data[0] = ks->bank;
        ks->fwd.data[1] = type;
        bpf_probe_read_kernel(&ks->fwd.data[3], KF_STR, e->s[i]);
        if (lookups & (1 << (K_FWD + i)))
            ks->truth |= kf_lookup(&ks->fwd, K_FWD + i, ks->len[i]);
        if ((lookups & (1 << (K_DIR + i))) && ks->normal)
            ks->truth |= kf_lookup(&ks->fwd, K_DIR + i, ks->last_slash ? ks->last_slash : 1);
    }
    if (lookups & ((1 << (K_REV + i)) | (1 << (K_BASE + i)))) {
        ks->rev.data[0] = ks->bank;
        ks->rev.data[1] = type;
        u32 len = ks->len[i];
        #pragma clang loop unroll(disable)
        for (u32 k = 0; k < KF_STR; k++) {
            if (k >= len)
                break;
            u32 at = k;
            OPAQUE(at);
            ks->rev.data[(3 + at) & (KF_KEY - 1)] = e->s[i][(len - 1 - at) & (STR_SZ - 1)];
        }
        if (lookups & (1 << (K_REV + i)))
            ks->truth |= kf_lookup(&ks->rev, K_REV + i, ks->len[i]);
        if ((lookups & (1 << (K_BASE + i))) && ks->normal)
            ks->truth |= kf_lookup(&ks->rev, K_BASE + i, ks->len[i] - ks->last_slash - 1);
    }
}

/* Stage 1b: the thread name, integer tests, then the terms.  KF_NEEDS_CONTAINS when only a
 * term waiting on a `contains` test could pass. */
static __always_inline int kf_final(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks) {
    u32 base = ks->bank * NTYPES + type;
    u64 truth = ks->truth, unknown = ks->unknown;
    u32 lookups = cfg->lookups;
    if (cfg->need[12]) {
        u32 tid = e->tid;
        struct commrec *c = exec_comm.lookup(&tid);
        if (!c) {
            unknown |= cfg->need[12];
        } else if (lookups & (1 << K_COMM)) {
            ks->fwd.data[0] = ks->bank;
            ks->fwd.data[1] = type;
            u32 clen = 16;
            #pragma unroll
            for (int k = 15; k >= 0; k--) {
                char ch = c->comm[k];
                if (ch == 0)
                    clen = k;
                ks->fwd.data[3 + k] = ch;
            }
            truth |= kf_lookup(&ks->fwd, K_COMM, clen);
        }
    }
    u32 nints = cfg->nints;
    struct kf_introw *ints = kf_ints.lookup(&base);
    if (ints && nints) {
        #pragma unroll
        for (int i = 0; i < KF_INTS; i++) {
            if (i < nints && kf_int_holds(e, &ints->t[i]))
                truth |= 1ULL << (ints->t[i].bit & 63);
        }
    }
    ks->truth = truth;
    ks->unknown = unknown;
    u64 pending = (cfg->cont[0] | cfg->cont[1] | cfg->cont[2]) & ~truth & ~unknown;
    if (kf_terms_pass(base, cfg->nterms, truth, unknown))
        return KF_PASS;
    if (!pending || !kf_terms_pass(base, cfg->nterms, truth, unknown | pending))
        return KF_REJECT;
    return KF_NEEDS_CONTAINS;
}

/* Stage 2: the needles of slot `i` at every position of the string (trie lookups of the
 * string from that position, where its byte starts some needle). */
static __always_inline u64 kf_contains_slot(struct evt *e, u32 type, struct kf_type *cfg,
                                            struct kf_scratch *ks, int i) {
    u64 found = 0;
    u32 len = ks->len[i];
    ks->fwd.data[0] = ks->bank;
    ks->fwd.data[1] = type;
    #pragma clang loop unroll(disable)
    for (u32 p = 0; p < KF_STR; p++) {
        if (p >= len)
            break;
        OPAQUE(p);
        u8 c = e->s[i][p & (STR_SZ - 1)];
        if (!((cfg->first[(c >> 6) & 3] >> (c & 63)) & 1))
            continue;
        bpf_probe_read_kernel(&ks->fwd.data[3], KF_STR, &e->s[i][p & 255]);
        found |= kf_lookup(&ks->fwd, K_CONT + i, len - p);
    }
    if (ks->len[i] > KF_STR)            /* positions past the key size were not searched */
        ks->unknown |= cfg->cont[i] & ~found;
    return found;
}

static __always_inline int kf_stage2(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks) {
    u64 truth = ks->truth;
    #pragma unroll
    for (int i = 0; i < NSTR; i++) {
        if (cfg->cont[i] & ~truth)
            truth |= kf_contains_slot(e, type, cfg, ks, i);
    }
    u32 base = ks->bank * NTYPES + type;
    return kf_terms_pass(base, cfg->nterms, truth, ks->unknown);
}
