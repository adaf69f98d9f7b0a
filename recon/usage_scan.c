/* The compiled scanner behind recon/usage_scan.py: record tokenizers (CSV, JSON lines) and the group
 * table they fill. Built by recon/native.py with the system C compiler and loaded with ctypes, which
 * releases the GIL around every call, so several threads scan blocks at once.
 *
 * A scan call takes a block of whole records and returns a status: SCAN_DONE (every record that starts
 * in the block was taken; *next = where the next one starts), SCAN_MORE (the data ends inside the record
 * at *next; only when the caller said more data may follow) or SCAN_GIVE_UP | reason << 8 (*next = the
 * record). Giving up is never an error: the caller reads the file with DuckDB, which explains it.
 * Reasons are recon.usage_scan.REASONS. Nothing of a record is recorded before all of it is checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HOT static inline __attribute__((always_inline))

#define SCAN_DONE 0
#define SCAN_MORE 2
#define SCAN_GIVE_UP 3
#define GIVE(why) (SCAN_GIVE_UP | ((why) << 8))

#define R_RAGGED 1
#define R_BLANK 2
#define R_QUOTE 3
#define R_LONE_CR 4
#define R_UTF8 5
#define R_ESCAPED 6
#define R_AMOUNT 8
#define R_JSON 9
#define R_DUPLICATE 11
#define R_MEMORY 12
#define R_KEY_LONG 13

/* Slots: the ten group key fields (recon.usage_scan.KEYS, UsageDate in the day_key place), then
 * CustomerName and the three summed amounts. */
#define N_KEY 10
#define S_DAY 6
#define S_NAME 10
#define S_QTY 11
#define N_SLOT 14
#define KEY_MAX 4096

typedef struct {
    int64_t *index;      /* cap entries: group + 1, 0 = empty */
    int64_t cap;
    uint64_t *hashes;
    int32_t *key_len;    /* groups x N_KEY */
    int64_t *key_off;
    uint8_t *key_bytes;
    int64_t key_used, key_cap;
    int64_t *name_off, *name_len;
    uint8_t *name_bytes;
    int64_t name_used, name_cap;
    int64_t *sums;       /* groups x 6: (low, high) 64-bit halves of each 128-bit sum */
    int64_t *counts;
    int64_t groups, group_cap, records;
    int64_t max_groups;  /* beyond this the file goes to DuckDB, which spills to disk */
} table_t;

typedef struct {
    const uint8_t *s[N_SLOT];
    int64_t n[N_SLOT];
    uint8_t esc[N_SLOT];
    uint8_t unescaped[KEY_MAX];  /* needed values with "" inside quotes, with the quotes made single */
} spans_t;

static void *grow(void *p, int64_t count, size_t size) { return realloc(p, (size_t)count * size); }

table_t *recon_table_new(int64_t max_groups) {
    table_t *t = calloc(1, sizeof(table_t));
    if (!t) return NULL;
    t->max_groups = max_groups;
    t->group_cap = 1024;
    t->cap = 4096;
    t->index = calloc((size_t)t->cap, sizeof(int64_t));
    t->hashes = malloc(sizeof(uint64_t) * t->group_cap);
    t->key_len = malloc(sizeof(int32_t) * N_KEY * t->group_cap);
    t->key_off = malloc(sizeof(int64_t) * t->group_cap);
    t->name_off = malloc(sizeof(int64_t) * t->group_cap);
    t->name_len = malloc(sizeof(int64_t) * t->group_cap);
    t->sums = calloc((size_t)t->group_cap * 6, sizeof(int64_t));
    t->counts = calloc((size_t)t->group_cap, sizeof(int64_t));
    t->key_cap = 1 << 18;
    t->key_bytes = malloc((size_t)t->key_cap);
    t->name_cap = 1 << 16;
    t->name_bytes = malloc((size_t)t->name_cap);
    if (!t->index || !t->hashes || !t->key_len || !t->key_off || !t->name_off || !t->name_len || !t->sums ||
        !t->counts || !t->key_bytes || !t->name_bytes) {
        return NULL; /* the caller treats NULL as "no scanner"; a few KB leak at most, once */
    }
    return t;
}

void recon_table_free(table_t *t) {
    if (!t) return;
    free(t->index); free(t->hashes); free(t->key_len); free(t->key_off); free(t->key_bytes);
    free(t->name_off); free(t->name_len); free(t->name_bytes); free(t->sums); free(t->counts);
    free(t);
}

int64_t recon_table_groups(const table_t *t) { return t->groups; }
int64_t recon_table_records(const table_t *t) { return t->records; }
const int32_t *recon_table_key_len(const table_t *t) { return t->key_len; }
const int64_t *recon_table_key_off(const table_t *t) { return t->key_off; }
const uint8_t *recon_table_key_bytes(const table_t *t) { return t->key_bytes; }
const int64_t *recon_table_name_off(const table_t *t) { return t->name_off; }
const int64_t *recon_table_name_len(const table_t *t) { return t->name_len; }
const uint8_t *recon_table_name_bytes(const table_t *t) { return t->name_bytes; }
const int64_t *recon_table_sums(const table_t *t) { return t->sums; }
const int64_t *recon_table_counts(const table_t *t) { return t->counts; }

static int ensure_bytes(uint8_t **p, int64_t *cap, int64_t need) {
    if (need <= *cap) return 1;
    int64_t c = *cap;
    while (c < need) c *= 2;
    uint8_t *q = realloc(*p, (size_t)c);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static int ensure_groups(table_t *t) {
    if (t->groups >= t->max_groups) return 0;
    if (t->groups + 1 < t->group_cap && (t->groups + 1) * 2 < t->cap) return 1;
    if (t->groups + 1 >= t->group_cap) {
        int64_t c = t->group_cap * 2;
        void *a = grow(t->hashes, c, sizeof(uint64_t)); if (!a) return 0; t->hashes = a;
        a = grow(t->key_len, c * N_KEY, sizeof(int32_t)); if (!a) return 0; t->key_len = a;
        a = grow(t->key_off, c, sizeof(int64_t)); if (!a) return 0; t->key_off = a;
        a = grow(t->name_off, c, sizeof(int64_t)); if (!a) return 0; t->name_off = a;
        a = grow(t->name_len, c, sizeof(int64_t)); if (!a) return 0; t->name_len = a;
        a = grow(t->sums, c * 6, sizeof(int64_t)); if (!a) return 0; t->sums = a;
        a = grow(t->counts, c, sizeof(int64_t)); if (!a) return 0; t->counts = a;
        memset(t->sums + t->group_cap * 6, 0, sizeof(int64_t) * 6 * (size_t)(c - t->group_cap));
        memset(t->counts + t->group_cap, 0, sizeof(int64_t) * (size_t)(c - t->group_cap));
        t->group_cap = c;
    }
    if ((t->groups + 1) * 2 >= t->cap) {
        int64_t cap = t->cap * 2;
        int64_t *index = calloc((size_t)cap, sizeof(int64_t));
        if (!index) return 0;
        for (int64_t g = 0; g < t->groups; g++) {
            int64_t at = (int64_t)(t->hashes[g] & (uint64_t)(cap - 1));
            while (index[at]) at = (at + 1) & (cap - 1);
            index[at] = g + 1;
        }
        free(t->index);
        t->index = index;
        t->cap = cap;
    }
    return 1;
}

/* a[0..n) == b[0..n) for short n, eight bytes at a time, inline (a memcmp call per JSON key and per key
 * field cost more than the comparing). Reads only inside both ranges. */
HOT int same_bytes(const uint8_t *a, const uint8_t *b, int64_t n) {
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8; b += 8; n -= 8;
    }
    while (n > 0) {
        if (*a++ != *b++) return 0;
        n--;
    }
    return 1;
}

/* ---- values ---------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (*p >= 0x80): 0 if invalid, -1 if cut off at end. */
static int utf8_length(const uint8_t *p, const uint8_t *end) {
    uint8_t b = p[0], lo = 0x80, hi = 0xBF;
    int need;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b == 0xE0) { need = 2; lo = 0xA0; }
    else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) need = 2;
    else if (b == 0xED) { need = 2; hi = 0x9F; }
    else if (b == 0xF0) { need = 3; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) need = 3;
    else if (b == 0xF4) { need = 3; hi = 0x8F; }
    else return 0;
    for (int k = 1; k <= need; k++) {
        if (p + k >= end) return -1;
        uint8_t c = p[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
    }
    return need + 1;
}

/* -?d{1,8}(.d{1,10})? -> *value in units of 1E-10. Anything else (an exponent, blanks, more digits,
 * a plus sign, an empty value) is left to DuckDB. */
HOT int parse_amount(const uint8_t *s, int64_t n, int64_t *value) {
    const uint8_t *p = s, *end = s + n;
    int neg = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    int64_t v = 0;
    const uint8_t *digits = p;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    int64_t whole = p - digits;
    if (whole == 0 || whole > 8) return 0;
    int64_t places = 0;
    if (p < end && *p == '.') {
        p++;
        const uint8_t *f = p;
        while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
        places = p - f;
        if (places == 0 || places > 10) return 0;
    }
    if (p != end) return 0;
    static const int64_t pow10[11] = {1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
                                      100000000LL, 1000000000LL, 10000000000LL};
    v *= pow10[10 - places];
    *value = neg ? -v : v;
    return 1;
}

HOT uint64_t hash_bytes(const uint8_t *p, int64_t n, uint64_t h) {
    /* Up to 16 bytes: all of them. Longer (ids, dates with times): the first and the last 8 and the
     * length, which tell real keys apart; a collision costs one more comparison, never a wrong group. */
    uint64_t a = 0, b = 0;
    if (n > 16) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    } else if (n > 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, (size_t)(n - 8));
    } else {
        memcpy(&a, p, (size_t)n);
    }
    h = (h ^ a) * 0x9E3779B97F4A7C15ULL;
    h = (h ^ (h >> 29) ^ b ^ ((uint64_t)n << 56)) * 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

HOT void add_exact(int64_t *pair, int64_t v) {
    unsigned __int128 lo = (uint64_t)pair[0];
    __int128 total = (__int128)(((unsigned __int128)(uint64_t)pair[1] << 64) | lo) + v;
    pair[0] = (int64_t)(uint64_t)total;
    pair[1] = (int64_t)(total >> 64);
}

/* One record's spans into the table: 0, or a GIVE() code. */
static int add_record(table_t *t, spans_t *sp) {
    int64_t used = 0;
    for (int s = 0; s < N_SLOT; s++) {
        if (sp->esc[s]) {
            /* CSV's only escape: "" inside a quoted field is one quote. */
            const uint8_t *src = sp->s[s];
            int64_t n = sp->n[s], out = 0;
            if (used + n > KEY_MAX) return GIVE(R_KEY_LONG);
            for (int64_t i = 0; i < n; i++) {
                sp->unescaped[used + out++] = src[i];
                if (src[i] == '"') i++;
            }
            sp->s[s] = sp->unescaped + used;
            sp->n[s] = out;
            sp->esc[s] = 0;
            used += out;
        }
    }
    /* Blanks around a value are kept, as DuckDB's readers keep them (the groups are trimmed later). */
    int64_t amount[3];
    for (int j = 0; j < 3; j++)
        if (!parse_amount(sp->s[S_QTY + j], sp->n[S_QTY + j], &amount[j])) return GIVE(R_AMOUNT);
    /* ISO UsageDate: its month is the key; anything else is kept whole and parsed per group. */
    if (sp->n[S_DAY] >= 7 && sp->s[S_DAY][4] == '-') sp->n[S_DAY] = 7;
    uint64_t h = 0x243F6A8885A308D3ULL;
    int64_t total = 0;
    for (int s = 0; s < N_KEY; s++) {
        h = hash_bytes(sp->s[s], sp->n[s], h + (uint64_t)s);
        total += sp->n[s];
    }
    if (total > KEY_MAX) return GIVE(R_KEY_LONG);
    int64_t mask = t->cap - 1, at = (int64_t)(h & (uint64_t)mask), g = -1;
    while (t->index[at]) {
        int64_t c = t->index[at] - 1;
        if (t->hashes[c] == h) {
            const int32_t *lens = t->key_len + c * N_KEY;
            const uint8_t *k = t->key_bytes + t->key_off[c];
            int same = 1;
            for (int s = 0; s < N_KEY && same; s++) {
                if (lens[s] != sp->n[s] || !same_bytes(k, sp->s[s], sp->n[s])) same = 0;
                k += lens[s];
            }
            if (same) { g = c; break; }
        }
        at = (at + 1) & mask;
    }
    const uint8_t *name = sp->s[S_NAME];
    int64_t name_n = sp->n[S_NAME];
    if (g < 0) {
        if (!ensure_groups(t) || !ensure_bytes(&t->key_bytes, &t->key_cap, t->key_used + total) ||
            !ensure_bytes(&t->name_bytes, &t->name_cap, t->name_used + name_n + 1))
            return GIVE(R_MEMORY);
        mask = t->cap - 1;
        at = (int64_t)(h & (uint64_t)mask);
        while (t->index[at]) at = (at + 1) & mask;
        g = t->groups++;
        t->index[at] = g + 1;
        t->hashes[g] = h;
        t->key_off[g] = t->key_used;
        for (int s = 0; s < N_KEY; s++) {
            t->key_len[g * N_KEY + s] = (int32_t)sp->n[s];
            memcpy(t->key_bytes + t->key_used, sp->s[s], (size_t)sp->n[s]);
            t->key_used += sp->n[s];
        }
        t->name_off[g] = t->name_used;
        t->name_len[g] = name_n;
        memcpy(t->name_bytes + t->name_used, name, (size_t)name_n);
        t->name_used += name_n;
    } else {
        /* max(CustomerName) by bytes, which for UTF-8 is the order of the text. */
        int64_t old_n = t->name_len[g];
        int64_t common = old_n < name_n ? old_n : name_n;
        const uint8_t *old = t->name_bytes + t->name_off[g];
        int64_t i = 0;
        while (i < common && name[i] == old[i]) i++;  /* names are short and usually equal */
        if (i < common ? name[i] > old[i] : name_n > old_n) {
            if (!ensure_bytes(&t->name_bytes, &t->name_cap, t->name_used + name_n + 1)) return GIVE(R_MEMORY);
            t->name_off[g] = t->name_used;
            t->name_len[g] = name_n;
            memcpy(t->name_bytes + t->name_used, name, (size_t)name_n);
            t->name_used += name_n;
        }
    }
    for (int j = 0; j < 3; j++) add_exact(t->sums + g * 6 + 2 * j, amount[j]);
    t->counts[g]++;
    t->records++;
    return 0;
}

/* ---- CSV ------------------------------------------------------------------------------------- */

static uint8_t PLAIN_STOP[256], QUOTED_STOP[256], JSON_STOP[256];

static void init_tables(void) {
    static int done = 0;
    if (done) return;
    for (int c = 0; c < 256; c++) {
        PLAIN_STOP[c] = c == ',' || c == '\n' || c == '"' || c == '\r' || c >= 0x80;
        QUOTED_STOP[c] = c == '"' || c >= 0x80;
        JSON_STOP[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
    }
    done = 1;
}

/* First byte at or after p that ends a run of plain field bytes: , \n " \r or a non-ASCII byte. */
HOT const uint8_t *plain_run(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    const __m128i comma = _mm_set1_epi8(','), nl = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"'),
                  cr = _mm_set1_epi8('\r');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, nl)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, cr)));
        int bits = _mm_movemask_epi8(_mm_or_si128(m, v)); /* v's high bit: non-ASCII */
        if (bits) return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < end && !PLAIN_STOP[*p]) p++;
    return p;
}

HOT const uint8_t *quoted_run(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int bits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), v));
        if (bits) return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < end && !QUOTED_STOP[*p]) p++;
    return p;
}

int64_t recon_scan_csv(table_t *t, const uint8_t *buf, int64_t start, int64_t n, int32_t final, int64_t ncols,
                      const int64_t *slots, int64_t *next) {
    init_tables();
    const uint8_t *end = buf + n;
    const uint8_t *rec = buf + start;
    spans_t sp;
    memset(&sp, 0, sizeof sp);
    static const uint8_t empty = 0;
    for (int s = 0; s < N_SLOT; s++) sp.s[s] = &empty;
    while (rec < end) {
        *next = rec - buf;
        const uint8_t *p = rec;
        int64_t field = 0;
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) return GIVE(R_BLANK);
        for (;;) {
            const uint8_t *fs, *fe;
            uint8_t escaped = 0;
            if (p < end && *p == '"') {
                const uint8_t *q = p + 1;
                for (;;) {
                    q = quoted_run(q, end);
                    if (q >= end) return final ? GIVE(R_QUOTE) : SCAN_MORE;
                    if (*q != '"') {
                        int w = utf8_length(q, end);
                        if (w < 0 && !final) return SCAN_MORE;
                        if (w <= 0) return GIVE(R_UTF8);
                        q += w;
                        continue;
                    }
                    if (q + 1 < end && q[1] == '"') { escaped = 1; q += 2; continue; }
                    if (q + 1 >= end && !final) return SCAN_MORE;
                    break;
                }
                fs = p + 1;
                fe = q;
                p = q + 1;
            } else {
                const uint8_t *q = p;
                for (;;) {
                    q = plain_run(q, end);
                    if (q < end && *q >= 0x80) {
                        int w = utf8_length(q, end);
                        if (w < 0 && !final) return SCAN_MORE;
                        if (w <= 0) return GIVE(R_UTF8);
                        q += w;
                        continue;
                    }
                    break;
                }
                fs = p;
                fe = q;
                p = q;
            }
            /* p: the byte after the field. */
            int last_field;
            if (p >= end) {
                if (!final) return SCAN_MORE;
                last_field = 1;
            } else if (*p == ',') {
                last_field = 0;
                p++;
            } else if (*p == '\n') {
                last_field = 1;
                p++;
            } else if (*p == '\r') {
                if (p + 1 >= end && !final) return SCAN_MORE;
                if (p + 1 < end && p[1] == '\n') { last_field = 1; p += 2; }
                else return GIVE(R_LONE_CR);
            } else {
                return GIVE(R_QUOTE);
            }
            if (field < ncols) {
                int64_t slot = slots[field];
                if (slot >= 0) { sp.s[slot] = fs; sp.n[slot] = fe - fs; sp.esc[slot] = escaped; }
            }
            field++;
            if (last_field) break;
        }
        if (field != ncols) return GIVE(R_RAGGED);
        int code = add_record(t, &sp);
        if (code) return code;
        rec = p;
    }
    *next = rec - buf;
    return SCAN_DONE;
}

/* ---- JSON lines ------------------------------------------------------------------------------ */

HOT const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    return p;
}

/* First byte at or after p that a JSON string cannot pass over: " \ a control byte or non-ASCII. */
HOT const uint8_t *json_run(const uint8_t *p, const uint8_t *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* Signed compare: bytes >= 0x80 are negative, so one test catches them and the control bytes. */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                 _mm_cmplt_epi8(v, space));
        int bits = _mm_movemask_epi8(m);
        if (bits) return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < end && !JSON_STOP[*p]) p++;
    return p;
}

HOT int hex4(const uint8_t *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* *pp at an opening quote: past the closing quote on success (0), else a GIVE() code. The content is
 * [*s, *s + *n); *escaped when it holds a backslash escape (validated here). */
HOT int json_string(const uint8_t **pp, const uint8_t *end, const uint8_t **s, int64_t *n, int *escaped) {
    const uint8_t *q = *pp + 1;
    *escaped = 0;
    for (;;) {
        q = json_run(q, end);
        if (q >= end) return GIVE(R_JSON);
        if (*q == '"') break;
        if (*q == '\\') {
            *escaped = 1;
            if (q + 1 >= end) return GIVE(R_JSON);
            uint8_t c = q[1];
            if (c == 'u') {
                uint32_t v;
                if (end - q < 6 || !hex4(q + 2, &v)) return GIVE(R_JSON);
                q += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                q += 2;
            } else {
                return GIVE(R_JSON);
            }
            continue;
        }
        if (*q < 0x20) return GIVE(R_JSON);
        int w = utf8_length(q, end);
        if (w <= 0) return GIVE(R_UTF8);
        q += w;
    }
    *s = *pp + 1;
    *n = q - (*pp + 1);
    *pp = q + 1;
    return 0;
}

/* A validated JSON string's escapes decoded to UTF-8 into out: its length, or -1 (a lone surrogate,
 * a NUL, or no room). */
static int64_t json_unescape(const uint8_t *s, int64_t n, uint8_t *out, int64_t room) {
    int64_t o = 0;
    for (int64_t i = 0; i < n;) {
        if (o + 4 > room) return -1;
        if (s[i] != '\\') { out[o++] = s[i++]; continue; }
        uint8_t c = s[i + 1];
        if (c != 'u') {
            out[o++] = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
            i += 2;
            continue;
        }
        uint32_t cp = 0;
        hex4(s + i + 2, &cp);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            return -1;
        }
        if (cp < 0x80) out[o++] = (uint8_t)cp;
        else if (cp < 0x800) { out[o++] = (uint8_t)(0xC0 | (cp >> 6)); out[o++] = (uint8_t)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            out[o++] = (uint8_t)(0xE0 | (cp >> 12)); out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (uint8_t)(0xF0 | (cp >> 18)); out[o++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); out[o++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

/* *pp at a number: past it on success (0). Validates JSON's grammar. */
HOT int json_number(const uint8_t **pp, const uint8_t *end, int *exponent) {
    const uint8_t *p = *pp;
    if (p < end && *p == '-') p++;
    if (p >= end) return GIVE(R_JSON);
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < end && *p >= '0' && *p <= '9') p++;
    else return GIVE(R_JSON);
    if (p < end && *p == '.') {
        p++;
        const uint8_t *f = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == f) return GIVE(R_JSON);
    }
    *exponent = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        *exponent = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const uint8_t *e = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == e) return GIVE(R_JSON);
    }
    *pp = p;
    return 0;
}

/* A JSON number as DuckDB's reader turns it into text (the shortest form of its double; an integer
 * as written, "-0" as "0"), into out: its length, or -1 where that text is not simply derived (an
 * exponent, more than 15 significant digits, a magnitude DuckDB prints with an exponent). */
static int64_t json_number_text(const uint8_t *s, int64_t n, uint8_t *out, int64_t room) {
    if (n > room) return -1;
    const uint8_t *dot = memchr(s, '.', (size_t)n);
    int neg = s[0] == '-';
    const uint8_t *digits = s + neg;
    int64_t sig = 0, lead = 1;
    for (const uint8_t *p = digits; p < s + n; p++) {
        if (*p == '.') continue;
        if (*p == 'e' || *p == 'E') return -1;
        if (lead && *p == '0') continue;
        lead = 0;
        sig++;
    }
    if (!dot) {
        if (sig > 15) return -1;
        if (sig == 0) { out[0] = '0'; return 1; }  /* -0 */
        memcpy(out, s, (size_t)n);
        return n;
    }
    int64_t end = n;
    while (end > (dot - s) + 2 && s[end - 1] == '0') end--;  /* keep one digit after the point */
    int64_t whole = (dot - s) - neg;
    if (sig > 15 || whole > 16) return -1;
    if (sig > 0 && whole == 1 && digits[0] == '0') {
        /* 0.000ddd: below 1E-4 DuckDB writes an exponent. */
        int64_t zeros = 0;
        for (const uint8_t *p = dot + 1; p < s + end && *p == '0'; p++) zeros++;
        if (zeros >= 4) return -1;
    }
    memcpy(out, s, (size_t)end);
    return end;
}

static int json_skip_value(const uint8_t **pp, const uint8_t *end, int depth);

static int json_skip_container(const uint8_t **pp, const uint8_t *end, int depth) {
    const uint8_t *p = *pp;
    uint8_t close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    if (depth > 64) return GIVE(R_JSON);
    p = skip_ws(p + 1, end);
    if (p < end && *p == close) { *pp = p + 1; return 0; }
    for (;;) {
        if (object) {
            if (p >= end || *p != '"') return GIVE(R_JSON);
            const uint8_t *s; int64_t n; int esc;
            int code = json_string(&p, end, &s, &n, &esc);
            if (code) return code;
            p = skip_ws(p, end);
            if (p >= end || *p != ':') return GIVE(R_JSON);
            p = skip_ws(p + 1, end);
        }
        int code = json_skip_value(&p, end, depth + 1);
        if (code) return code;
        p = skip_ws(p, end);
        if (p < end && *p == ',') { p = skip_ws(p + 1, end); continue; }
        if (p < end && *p == close) { *pp = p + 1; return 0; }
        return GIVE(R_JSON);
    }
}

static int json_skip_value(const uint8_t **pp, const uint8_t *end, int depth) {
    const uint8_t *p = *pp;
    if (p >= end) return GIVE(R_JSON);
    if (*p == '"') {
        const uint8_t *s; int64_t n; int esc;
        return json_string(pp, end, &s, &n, &esc);
    }
    if (*p == '{' || *p == '[') return json_skip_container(pp, end, depth);
    if (*p == '-' || (*p >= '0' && *p <= '9')) { int e; return json_number(pp, end, &e); }
    if (end - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4))) { *pp = p + 4; return 0; }
    if (end - p >= 5 && !memcmp(p, "false", 5)) { *pp = p + 5; return 0; }
    return GIVE(R_JSON);
}

#define NAME_BUCKETS 256
#define MEMBERS_PREDICTED 96
#define PREDICTED_KEY_MAX 48

HOT unsigned name_bucket(const uint8_t *s, int64_t n) {
    unsigned h = (unsigned)n * 31u;
    if (n > 0) h += (unsigned)s[0] * 7u + (unsigned)s[n - 1] * 131u + (unsigned)s[n / 2] * 17u;
    return h & (NAME_BUCKETS - 1);
}

/* JSON lines: each line one object. `names` holds the wanted keys back to back (name_off[i] ..
 * name_off[i + 1]); key i fills slot name_slot[i]. A missing key reads as empty, as null does. */
int64_t recon_scan_jsonl(table_t *t, const uint8_t *buf, int64_t start, int64_t n, int32_t final,
                         const uint8_t *names, const int64_t *name_off, const int64_t *name_slot, int64_t nnames,
                         int64_t *next) {
    init_tables();
    int16_t bucket[NAME_BUCKETS];
    for (int i = 0; i < NAME_BUCKETS; i++) bucket[i] = -1;
    int16_t chain[64];
    if (nnames > 64) return GIVE(R_KEY_LONG);
    for (int64_t i = 0; i < nnames; i++) {
        unsigned b = name_bucket(names + name_off[i], name_off[i + 1] - name_off[i]);
        chain[i] = bucket[b];
        bucket[b] = (int16_t)i;
    }
    const uint8_t *end = buf + n;
    const uint8_t *rec = buf + start;
    spans_t local;
    uint8_t pred_key[MEMBERS_PREDICTED][PREDICTED_KEY_MAX];
    int64_t pred_len[MEMBERS_PREDICTED] = {0};
    int64_t pred_slot[MEMBERS_PREDICTED];
    static const uint8_t empty = 0;
    while (rec < end) {
        *next = rec - buf;
        for (int s = 0; s < N_SLOT; s++) { local.s[s] = &empty; local.n[s] = 0; local.esc[s] = 0; }
        uint32_t seen = 0;
        int64_t used = 0, member = 0;
        const uint8_t *p = skip_ws(rec, end);
        if (p >= end) return final ? GIVE(R_BLANK) : SCAN_MORE;
        if (*p == '\n') return GIVE(R_BLANK);
        if (*p != '{') return GIVE(R_JSON);
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}') {
            p++;
        } else {
            for (;;) {
                if (p >= end) return final ? GIVE(R_JSON) : SCAN_MORE;
                if (*p != '"') return GIVE(R_JSON);
                int64_t slot = -1;
                int code;
                /* An exporter writes its keys in the same order on every line: the key at this position
                 * on the line before, quotes included, is compared first (it was validated then). */
                int64_t plen = member < MEMBERS_PREDICTED ? pred_len[member] : 0;
                if (plen && end - p >= plen && same_bytes(p, pred_key[member], plen)) {
                    slot = pred_slot[member];
                    p += plen;
                } else {
                    const uint8_t *kstart = p;
                    const uint8_t *ks; int64_t kn; int kesc;
                    code = json_string(&p, end, &ks, &kn, &kesc);
                    if (code) return code;
                    for (int16_t i = bucket[name_bucket(ks, kn)]; i >= 0; i = chain[i]) {
                        if (name_off[i + 1] - name_off[i] == kn && same_bytes(names + name_off[i], ks, kn)) {
                            slot = name_slot[i];
                            break;
                        }
                    }
                    if (kesc && slot < 0) {
                        /* An escaped key could spell a wanted name: leave such files to DuckDB. */
                        return GIVE(R_ESCAPED);
                    }
                    if (member < MEMBERS_PREDICTED) {
                        int64_t len = p - kstart;
                        pred_len[member] = (!kesc && len <= PREDICTED_KEY_MAX) ? len : 0;
                        if (pred_len[member]) memcpy(pred_key[member], kstart, (size_t)len);
                        pred_slot[member] = slot;
                    }
                }
                member++;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return GIVE(R_JSON);
                p = skip_ws(p + 1, end);
                if (p >= end) return GIVE(R_JSON);
                if (slot >= 0) {
                    if (seen & (1u << slot)) return GIVE(R_DUPLICATE);
                    seen |= 1u << slot;
                    if (*p == '"') {
                        const uint8_t *vs; int64_t vn; int vesc;
                        code = json_string(&p, end, &vs, &vn, &vesc);
                        if (code) return code;
                        if (vesc) {
                            int64_t got = json_unescape(vs, vn, local.unescaped + used, KEY_MAX - used);
                            if (got < 0) return GIVE(R_ESCAPED);
                            vs = local.unescaped + used;
                            vn = got;
                            used += got;
                        }
                        local.s[slot] = vs;
                        local.n[slot] = vn;
                    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
                        const uint8_t *vs = p;
                        int exponent;
                        code = json_number(&p, end, &exponent);
                        if (code) return code;
                        int64_t got = json_number_text(vs, p - vs, local.unescaped + used, KEY_MAX - used);
                        if (got < 0) return GIVE(R_AMOUNT);
                        local.s[slot] = local.unescaped + used;
                        local.n[slot] = got;
                        used += got;
                    } else if (end - p >= 4 && !memcmp(p, "null", 4)) {
                        if (slot >= S_QTY) return GIVE(R_AMOUNT);  /* DuckDB: a NULL amount, a bad row */
                        p += 4;
                    } else if (end - p >= 4 && !memcmp(p, "true", 4)) {
                        local.s[slot] = p; local.n[slot] = 4; p += 4;
                    } else if (end - p >= 5 && !memcmp(p, "false", 5)) {
                        local.s[slot] = p; local.n[slot] = 5; p += 5;
                    } else {
                        return GIVE(R_JSON);  /* an object or array where a value is wanted */
                    }
                } else {
                    code = json_skip_value(&p, end, 1);
                    if (code) return code;
                }
                p = skip_ws(p, end);
                if (p < end && *p == ',') { p = skip_ws(p + 1, end); continue; }
                if (p < end && *p == '}') { p++; break; }
                return p >= end && !final ? SCAN_MORE : GIVE(R_JSON);
            }
        }
        p = skip_ws(p, end);
        if (p < end) {
            if (*p != '\n') return GIVE(R_JSON);
            p++;
        } else if (!final) {
            return SCAN_MORE;
        }
        int code = add_record(t, &local);
        if (code) return code;
        rec = p;
    }
    *next = rec - buf;
    return SCAN_DONE;
}

/* ---- gzip, inflated by ISA-L here so that no Python thread holds the GIL while it runs ---------- */

#ifdef RECON_WITH_ISAL
#include <isa-l/igzip_lib.h>

typedef struct {
    struct inflate_state st;
} inflater_t;

inflater_t *recon_inflater_new(void) {
    inflater_t *f = calloc(1, sizeof(inflater_t));
    if (!f) return NULL;
    isal_inflate_init(&f->st);
    f->st.crc_flag = ISAL_GZIP;  /* parse each member's header, check its trailer's CRC and size */
    return f;
}

void recon_inflater_free(inflater_t *f) { free(f); }

/* Inflate from in[0, in_len) into out[0, out_cap): *consumed and *produced say how much. Returns 1 when
 * it stopped at the end of a gzip member (the file may hold another), 0 when it needs more input or
 * the output is full, or ISA-L's negative error (a corrupt file). */
int64_t recon_inflate(inflater_t *f, const uint8_t *in, int64_t in_len, uint8_t *out, int64_t out_cap,
                      int64_t *consumed, int64_t *produced) {
    f->st.next_in = (uint8_t *)in;
    f->st.avail_in = (uint32_t)in_len;
    f->st.next_out = out;
    f->st.avail_out = (uint32_t)out_cap;
    for (;;) {
        if (f->st.block_state == ISAL_BLOCK_FINISH) {
            if (f->st.avail_in == 0) break;
            isal_inflate_reset(&f->st);  /* the next member */
            f->st.crc_flag = ISAL_GZIP;
        }
        if (f->st.avail_out == 0) break;
        int r = isal_inflate(&f->st);
        if (r < 0) return r;
        if (f->st.block_state == ISAL_BLOCK_FINISH) continue;
        if (f->st.avail_in == 0 || f->st.avail_out == 0) break;
    }
    *consumed = in_len - (int64_t)f->st.avail_in;
    *produced = out_cap - (int64_t)f->st.avail_out;
    return f->st.block_state == ISAL_BLOCK_FINISH ? 1 : 0;
}
#endif
