/* falcoish probe, part 2: the rule-derived kernel filter.
 *
 * Tables are computed in user space from the enabled rules (falcoish/kernel_filter) and
 * written by kfilter_maps.py; this code only evaluates them.  Per event type: up to 64 tests,
 * each giving one bit, and up to KF_TERMS terms (DNF): an event passes when, for some term,
 * every required bit is true or unknown and every forbidden bit is false or unknown.
 *
 * Tests on a string slot cost two lookups in one LPM trie keyed by [bank, type, kind] +
 * bytes.  The forward lookup of the whole string returns the longest stored entry that
 * prefixes it; every entry carries the prefix-test bits of all shorter entries it extends,
 * its own equality bits (they hold when its length is the string's), and the bits of the
 * longest "D/" entry it extends (fd.directory = D holds when that entry ends at the last
 * '/').  The reversed string does the same for suffixes and the basename ("B/" reversed).
 * `contains` tests look the string up from each position whose byte starts some needle,
 * only for events some term could pass on the other tests alone.  Integer tests compare a
 * masked argument.
 *
 * A test is unknown when its view is: a string cut at the read limit, a relative path for
 * a test on the normalised path, a path that is not already normal (`//`, `/./`, `/../`),
 * a thread whose exec-time name the probe does not have, an I/O payload shorter than the
 * longest prefix tested on it (or unread).  Unknown passes.
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
#define K_REV 3
#define K_CONT 7
#define KF_REJECT 0
#define KF_PASS 1
#define KF_NEEDS_CONTAINS 2
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
    u8 slots;          /* string slots the tests read (bit i = slot i) */
    u8 bank;
    u8 nopre;          /* 1: no forward pair prefilter, 2: no reverse one (an entry is too short) */
    u8 track_writers;  /* ST_OPEN: a descriptor opened for writing is tracked (a write rule needs it) */
    u32 lookups;       /* 1 << kind for each trie lookup the tests need */
    u32 pad2;
    u64 always_unknown; /* tests the tables could not hold: always unknown */
    u64 need[13];      /* tests needing [slot*4 + 0 whole, 1 absolute, 2 normal, 3 no //], [12] comm */
    u64 cont[NSTR];    /* tests with a `contains` part, per slot */
    u64 cont_dots[NSTR];     /* ... whose every needle (and nothing else) needs ".." */
    u64 cont_slashdot[NSTR]; /* ... whose every needle (and nothing else) needs "/." */
    struct kf_short {  /* entries too short for a byte pair: checked directly when a lookup is skipped */
        u8 kind;
        u8 len;
        u8 b[2];
        u32 comp_len;
        u64 prefix;
        u64 exact;
        u64 comp;
    } shorts[4];
    u8 nshort;
    u8 nnameprefix;
    u8 raw_slots;      /* slots holding an I/O payload: raw bytes, no NUL (bit i = slot i) */
    u8 paymin[NSTR];   /* payload prefix tests of slot i are unknown on fewer bytes than this */
    u8 flood_sent;     /* count toward a flood only events sent up: the bulk I/O syscalls, which
                        * ordinary programs make by the million (dd bs=64 is not an attack) */
    u8 pad3[1];
    struct kf_nameprefix { u64 bits; u8 len; char s[15]; } nameprefix[4];   /* proc.name startswith */
};
BPF_ARRAY(kf_types, struct kf_type, 2 * NTYPES);

/* proc.name equality tests: (bank, type, name) -> bits, a hash lookup per judged name */
struct kf_namekey { u8 bank; u8 type; u8 pad[2]; char comm[16]; };
BPF_HASH(kf_names, struct kf_namekey, u64, KF_NAME_ENTRIES);

/* one row per (bank, type): a whole filter is read with one lookup */
struct kf_termrow { u64 pos[KF_TERMS]; u64 neg[KF_TERMS]; };
BPF_ARRAY(kf_terms, struct kf_termrow, 2 * NTYPES);

/* Every integer test is a range: ((operand & mask) ^ flip) - lo <= span (unsigned).  flip
 * (the sign bit, for signed operands) turns signed order into unsigned order; equality, "any
 * bit of the mask" and the four orders all fit, so the loop has no branch per kind.
 * operand: 0-5 a[i] (decoded per kf_introw.decode), 6 res, 7 fd number (res, or -1). */
struct kf_int { u8 operand; u8 bit; u8 pad[6]; u64 mask; u64 flip; u64 lo; u64 span; };
struct kf_introw { u8 decode[8]; struct kf_int t[KF_INTS]; };   /* decode: 0 s64, 1 s32, 2 u32 */
BPF_ARRAY(kf_ints, struct kf_introw, 2 * NTYPES);

/* Byte pairs, per (bank, type), that let a string skip a trie lookup: [B_FWD] the two bytes
 * after a leading '/' (else the first two) of every forward entry, [B_REV] the first two of
 * every reversed entry, [B_CONT] the first two of every needle.  A string whose pair is not
 * in the set cannot match an entry, so the lookup would find nothing (most paths of a
 * flood).  kf_type.nopre says when a type has an entry too short for a pair. */
struct kf_bigrams { u64 w[1024]; };
#define B_FWD 0
#define B_REV 1
#define B_CONT 2
BPF_ARRAY(kf_bigram_map, struct kf_bigrams, 2 * NTYPES * 3);

static __always_inline int kf_pair_in(u32 base, u32 which, u32 pair) {
    u32 idx = base * 3 + which;
    struct kf_bigrams *bg = kf_bigram_map.lookup(&idx);
    if (!bg)
        return 1;
    return (bg->w[(pair >> 6) & 1023] >> (pair & 63)) & 1;
}

struct kf_key { u32 prefixlen; u8 data[KF_KEY]; };
/* prefix: prefix tests of this entry and of every shorter entry it extends; exact: equality
 * tests of this entry; comp: tests of the longest "D/" (or reversed "B/") entry it extends,
 * which is comp_len bytes long */
struct kf_val { u64 prefix; u64 exact; u64 comp; u32 len; u32 comp_len; };
BPF_F_TABLE("lpm_trie", struct kf_key, struct kf_val, kf_strings, KF_STRING_ENTRIES, BPF_F_NO_PREALLOC);

/* Per CPU: lookup keys, and what one stage found for the next.  Values needed after a loop go
 * through this map value: the verifier does not track map memory, so reading one back gives
 * an unknown scalar, and the states that leave a loop at different iterations become equal
 * (and are verified once) instead of each carrying its own bounds through the program. */
struct kf_scratch {
    struct kf_key fwd;
    struct kf_key rev;
    u8 revpad[8];      /* reversed 8-byte chunks may spill past the key */
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
    u64 candidates;    /* terms that may pass once `contains` is known */
    u64 decided;       /* `contains` tests already known false */
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

/* 0x80 in every byte of w equal to the byte repeated in `pattern` (exact, no carries). */
static __always_inline u64 kf_bytes80(u64 w, u64 pattern) {
    u64 t = w ^ pattern;
    u64 m = ((t & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | t;
    return ~m & 0x8080808080808080ULL;
}

/* The same as one bit per byte (bit j = byte j). */
static __always_inline u64 kf_bytemask(u64 w, u64 pattern) {
    return ((kf_bytes80(w, pattern) >> 7) * 0x0102040810204080ULL) >> 56;
}

/* 1 + index of the highest set bit of an 8-bit mask, 0 for none; no branch. */
static __always_inline u64 kf_highest(u64 m) {
    m |= m >> 1;
    m |= m >> 2;
    m |= m >> 4;
    m &= 0xFF;
    m = m - ((m >> 1) & 0x55);
    m = (m & 0x33) + ((m >> 2) & 0x33);
    return (m + (m >> 4)) & 0x0F;
}

/* Bits from the entry the trie returned for a string of `len` bytes whose component (dirname
 * + '/' for the forward key, reversed basename + '/' for the reverse key) is `comp` long. */
static __always_inline u64 kf_lookup(struct kf_key *k, u32 kind, u32 len, u32 comp) {
    k->data[2] = kind;
    u32 bytes = len > KF_STR ? KF_STR : len;
    k->prefixlen = 8 * (3 + bytes);
    struct kf_val *v = kf_strings.lookup(k);
    if (!v)
        return 0;
    u64 bits = v->prefix;
    if (v->len == len)
        bits |= v->exact;
    if (comp && v->comp_len == comp)
        bits |= v->comp;
    return bits;
}

/* The eight integer operands of a record, decoded as user space decodes them. */
static __always_inline void kf_operands(struct evt *e, struct kf_introw *row, u64 *vals) {
    #pragma unroll
    for (int i = 0; i < 6; i++) {
        u64 v = e->a[i];
        if (row->decode[i] == 1)
            v = (u64)(s64)(s32)(u32)v;
        else if (row->decode[i] == 2)
            v = (u32)v;
        vals[i] = v;
    }
    vals[6] = (u64)e->res;
    vals[7] = e->res < 0 ? (u64)-1 : (u64)e->res;
}

/* One pass over the terms (unknown tests satisfy both polarities, `pending` tests are not
 * known yet): KF_PASS when a term without pending tests holds; else the terms that hold on
 * their known tests go to ks->candidates (map memory, where the verifier keeps no value: it
 * would otherwise follow every combination of them).  `only`: look at these terms only (all
 * ones for a first pass).  Unrolled with a constant trip count and an early exit:
 * straight-line code for the verifier, few steps at run time. */
static __always_inline int kf_check_terms(u32 base, u32 nterms, struct kf_scratch *ks, u64 pending, u64 only) {
    ks->candidates = 0;
    struct kf_termrow *row = kf_terms.lookup(&base);
    if (!row)
        return KF_PASS;
    u64 tu = ks->truth | ks->unknown | pending, tr = ks->truth & ~ks->unknown & ~pending;
    #pragma clang loop unroll(disable)
    for (int i = 0; i < KF_TERMS; i++) {
        if (i >= nterms || !(only >> i))
            break;
        if (!((only >> i) & 1))
            continue;
        u64 pos = row->pos[i], neg = row->neg[i];
        if ((pos & ~tu) == 0 && (neg & tr) == 0) {
            if (!((pos | neg) & pending))
                return KF_PASS;
            ks->candidates |= 1ULL << i;
        }
    }
    return KF_REJECT;
}

/* What the short entries of `kind` give a string starting with bytes c0 c1 (the lookup of a
 * string with a byte pair no entry has would find only them). */
static __always_inline u64 kf_shorts(struct kf_type *cfg, u32 kind, u8 c0, u8 c1, u32 len, u32 comp) {
    u64 bits = 0;
    u32 n = cfg->nshort;
    #pragma clang loop unroll(disable)
    for (int j = 0; j < 4; j++) {
        if (j >= n)
            break;
        struct kf_short *sh = &cfg->shorts[j];
        if (sh->kind != kind)
            continue;
        if ((sh->len >= 1 && sh->b[0] != c0) || (sh->len >= 2 && sh->b[1] != c1))
            continue;
        bits |= sh->prefix;
        if (sh->len == len)
            bits |= sh->exact;
        if (comp && sh->comp_len == comp)
            bits |= sh->comp;
    }
    return bits;
}

/* One string slot: one pass over its bytes finds whether it is whole, absolute, normal and
 * free of "//", where its last '/' is, and writes it reversed into the reverse key; then at
 * most two trie lookups.  Bits go to `ks`. */
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
    /* a payload is raw bytes (NULs included, no terminator): its prefix tests are known when
     * it holds at least as many bytes as the longest prefix (else, or unread: unknown) */
    u32 raw = (cfg->raw_slots >> i) & 1;
    u32 len = raw ? slen : (slen > 0 ? slen - 1 : 0);
    ks->len[i] = len;
    ks->whole = raw ? slen > 0 && slen >= cfg->paymin[i] : slen > 0 && slen < STR_SZ;
    if ((e->rflags >> (RF_UCOPY_SHIFT + i)) & 1)     /* only the caller's word for it (kcopy.c) */
        ks->whole = 0;
    if (!ks->whole) {
        ks->unknown |= used;
        ks->len[i] = 0;
        return;
    }
    const char *s = e->s[i];
    if (raw) {                               /* prefix tests only: one forward lookup */
        u32 pbase = ks->bank * NTYPES + type;
        u32 pn = len > KF_STR ? KF_STR : len;
        if (!(cfg->nopre & 1) && pn >= 3) {
            u32 at = s[0] == '/' ? 1 : 0;
            if (!kf_pair_in(pbase, B_FWD, ((u32)(u8)s[at] << 8) | (u8)s[at + 1])) {
                ks->truth |= kf_shorts(cfg, K_FWD + i, (u8)s[0], (u8)s[1], len, 0);
                return;
            }
        }
        ks->fwd.data[0] = ks->bank;
        ks->fwd.data[1] = type;
        bpf_probe_read_kernel(&ks->fwd.data[3], pn & 255, s);
        ks->truth |= kf_lookup(&ks->fwd, K_FWD + i, len, 0);
        return;
    }
    ks->abs = len > 0 && s[0] == '/';
    u32 lookups = cfg->lookups;
    u32 rev = lookups & (1 << (K_REV + i));
    /* 8 bytes per step: masks of '/' and '.' bytes, the last three bytes of the step before
     * (to find "//", "/./", "/../" across steps), the highest '/', and the chunk written
     * byte-swapped into the reverse key. */
    u64 bad = 0, dslash = 0, last = 0, hs = 0, hd = 0, dots = 0, slashdot = 0;
    #pragma clang loop unroll(disable)
    for (u32 c = 0; c < STR_SZ / 8; c++) {
        u32 at = c * 8;
        if (at >= len)
            break;
        OPAQUE(at);
        u64 w = 0;
        __builtin_memcpy(&w, &s[at & (STR_SZ - 8)], 8);
        u32 left = len - at;
        u64 valid = left >= 8 ? 0xFF : (1ULL << left) - 1;
        u64 sl = kf_bytemask(w, 0x2f2f2f2f2f2f2f2fULL) & valid;
        u64 dt = kf_bytemask(w, 0x2e2e2e2e2e2e2e2eULL) & valid;
        hs = (hs >> 8) | (sl << 3);           /* bit j: byte at - 3 + j */
        hd = (hd >> 8) | (dt << 3);
        dslash |= hs & (hs << 1) & 0x7F8;
        dots |= hd & (hd << 1) & 0x7F8;        /* ".." */
        slashdot |= hd & (hs << 1) & 0x7F8;    /* "/." */
        bad |= hs & (hd << 1) & ((hs << 2) | ((hd << 2) & (hs << 3))) & 0x7F8;
        u64 hi = kf_highest(sl);              /* index + 1 of the last '/' here, 0 if none */
        last += (at + hi - 1 - last) & (0 - (u64)(hi != 0));
        if (rev) {
            /* the chunk's bytes reversed start at reversed position len - at - 8 (negative
             * for the string's first bytes when it is short: they land on prefixlen, which is
             * set later; past KF_STR + 1 they are not needed) */
            s32 to = (s32)len - (s32)at - 8;
            if (to <= KF_STR) {
                u32 off = (u32)(to + 3 + 8);  /* bytes from 8 before the key data: 4 .. 264 */
                OPAQUE(off);
                if (off <= KF_KEY + 8) {
                    u64 r = __builtin_bswap64(w);
                    __builtin_memcpy(ks->rev.data - 8 + off, &r, 8);
                }
            }
        }
    }
    ks->rev.data[0] = ks->bank;              /* after: a short string's reversed chunk */
    ks->rev.data[1] = type;                  /* spills over the header bytes */
    u8 e1 = len >= 1 ? s[(len - 1) & (STR_SZ - 1)] : 0;
    u8 e2 = len >= 2 ? s[(len - 2) & (STR_SZ - 1)] : 0;
    u8 e3 = len >= 3 ? s[(len - 3) & (STR_SZ - 1)] : 0;
    bad |= EQ(e1, '/') & (len > 1);
    bad |= EQ(e1, '.') & (EQ(e2, '/') | (EQ(e2, '.') & EQ(e3, '/')));
    ks->nodslash = !dslash;
    /* a `contains` test whose every needle has ".." (or "/.") is false on a string without */
    if (!dots)
        ks->decided |= cfg->cont_dots[i];
    if (!slashdot)
        ks->decided |= cfg->cont_slashdot[i];
    ks->normal = ks->abs && !bad && !dslash;
    ks->last_slash = last & (STR_SZ - 1);
    if (!ks->abs)
        ks->unknown |= cfg->need[i * 4 + 1] | cfg->need[i * 4 + 2];
    else if (!ks->normal)
        ks->unknown |= cfg->need[i * 4 + 2];
    if (!ks->nodslash)
        ks->unknown |= cfg->need[i * 4 + 3];
    u32 slash_at = ks->last_slash;
    u32 whole_len = ks->len[i];
    u32 dir_comp = ks->normal ? (slash_at ? slash_at + 1 : 1) : 0;
    u32 base_comp = ks->normal ? whole_len - slash_at : 0;
    u32 base = ks->bank * NTYPES + type;
    u32 n = whole_len > KF_STR ? KF_STR : whole_len;
    if (lookups & (1 << (K_FWD + i))) {
        int skip = 0;
        if (!(cfg->nopre & 1) && n >= 3) {
            u32 at = s[0] == '/' ? 1 : 0;
            skip = !kf_pair_in(base, B_FWD, ((u32)(u8)s[at] << 8) | (u8)s[at + 1]);
        }
        if (!skip) {
            ks->fwd.data[0] = ks->bank;
            ks->fwd.data[1] = type;
            bpf_probe_read_kernel(&ks->fwd.data[3], n & 255, e->s[i]);
            ks->truth |= kf_lookup(&ks->fwd, K_FWD + i, whole_len, dir_comp);
        } else {
            ks->truth |= kf_shorts(cfg, K_FWD + i, (u8)s[0], (u8)s[1], whole_len, dir_comp);
        }
    }
    if (rev) {
        int skip = 0;
        if (!(cfg->nopre & 2) && n >= 2)
            skip = !kf_pair_in(base, B_REV, ((u32)(u8)s[(whole_len - 1) & (STR_SZ - 1)] << 8)
                                            | (u8)s[(whole_len - 2) & (STR_SZ - 1)]);
        if (!skip)
            ks->truth |= kf_lookup(&ks->rev, K_REV + i, whole_len, base_comp);
        else
            ks->truth |= kf_shorts(cfg, K_REV + i, (u8)s[(whole_len - 1) & (STR_SZ - 1)],
                                   (u8)s[(whole_len - 2) & (STR_SZ - 1)], whole_len, base_comp);
    }
}

/* The thread name, integer tests, then the terms.  KF_NEEDS_CONTAINS when only a term waiting
 * on a `contains` test could pass. */
/* The thread's exec-time name, as trie bits (or unknown). */
static __always_inline void kf_comm(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks) {
    u32 tid = e->tid;
    struct commrec *c = exec_comm.lookup(&tid);
    if (!c) {
        ks->unknown |= cfg->need[12];
        return;
    }
    struct kf_namekey key = {};
    key.bank = ks->bank;
    key.type = type;
    __builtin_memcpy(key.comm, c->comm, 16);
    u64 *bits = kf_names.lookup(&key);
    if (bits)
        ks->truth |= *bits;
    u32 n = cfg->nnameprefix;
    #pragma clang loop unroll(disable)
    for (int j = 0; j < 4; j++) {
        if (j >= n)
            break;
        struct kf_nameprefix *np = &cfg->nameprefix[j];
        int ok = 1;
        #pragma unroll
        for (int k = 0; k < 15; k++) {
            if (k < np->len && c->comm[k] != np->s[k])
                ok = 0;
        }
        if (ok)
            ks->truth |= np->bits;
    }
}

/* Integer tests, then the terms.  The thread name and `contains` are looked at only for
 * terms that hold on everything else (most events are decided without them):
 * KF_NEEDS_CONTAINS, with the terms still in play in ks->candidates. */
static __always_inline int kf_final(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks) {
    u32 base = ks->bank * NTYPES + type;
    u32 nints = cfg->nints;
    if (nints) {
        struct kf_introw *ints = kf_ints.lookup(&base);
        if (ints) {
            u64 vals[8];
            kf_operands(e, ints, vals);
            u64 truth = 0;
            #pragma clang loop unroll(disable)
            for (int i = 0; i < KF_INTS; i++) {
                if (i >= nints)
                    break;
                struct kf_int *t = &ints->t[i];
                u64 y = ((vals[t->operand & 7] & t->mask) ^ t->flip) - t->lo;
                if (y <= t->span)
                    truth |= 1ULL << (t->bit & 63);
            }
            ks->truth |= truth;
        }
    }
    u64 cont = (cfg->cont[0] | cfg->cont[1] | cfg->cont[2]) & ~ks->truth & ~ks->unknown & ~ks->decided;
    u64 names = cfg->need[12] & ~ks->truth & ~ks->unknown;
    if (kf_check_terms(base, cfg->nterms, ks, cont | names, ~0ULL) == KF_PASS)
        return KF_PASS;
    if (!ks->candidates)
        return KF_REJECT;
    if (names) {                       /* some candidate may depend on the thread's name */
        kf_comm(e, type, cfg, ks);
        if (kf_check_terms(base, cfg->nterms, ks, cont, ks->candidates) == KF_PASS)
            return KF_PASS;
        if (!ks->candidates)
            return KF_REJECT;
    }
    return KF_NEEDS_CONTAINS;
}

/* `contains`: the needles of slot `i` at every position of the string (a trie lookup of the
 * string from that position, where its first two bytes start some needle). */
static __always_inline u64 kf_contains_slot(struct evt *e, u32 type, struct kf_type *cfg,
                                            struct kf_scratch *ks, struct kf_bigrams *bg, int i) {
    u64 found = 0;
    u32 len = ks->len[i];
    ks->fwd.data[0] = ks->bank;
    ks->fwd.data[1] = type;
    #pragma clang loop unroll(disable)
    for (u32 p = 0; p < KF_STR; p++) {
        if (p >= len)
            break;
        OPAQUE(p);
        u32 pair = ((u32)(u8)e->s[i][p & (STR_SZ - 1)] << 8) | (u8)e->s[i][(p + 1) & (STR_SZ - 1)];
        if (!((bg->w[(pair >> 6) & 1023] >> (pair & 63)) & 1))
            continue;
        bpf_probe_read_kernel(&ks->fwd.data[3], KF_STR, &e->s[i][p & 255]);
        found |= kf_lookup(&ks->fwd, K_CONT + i, len - p, 0);
    }
    if (ks->len[i] > KF_STR)            /* positions past the key size were not searched */
        ks->unknown |= cfg->cont[i] & ~found;
    return found;
}

static __always_inline int kf_stage2(struct evt *e, u32 type, struct kf_type *cfg, struct kf_scratch *ks) {
    u64 truth = ks->truth;
    u32 base = ks->bank * NTYPES + type;
    u32 idx = base * 3 + B_CONT;
    struct kf_bigrams *bg = kf_bigram_map.lookup(&idx);
    if (!bg)
        return 1;
    #pragma unroll
    for (int i = 0; i < NSTR; i++) {
        if (cfg->cont[i] & ~truth)
            truth |= kf_contains_slot(e, type, cfg, ks, bg, i);
    }
    ks->truth = truth;
    return kf_check_terms(base, cfg->nterms, ks, 0, ks->candidates) == KF_PASS;
}
