/* Reading safetensors: the header is parsed (json_parse.c: what cJSON accepts,
 * in a compact form) and checked the way the reference (huggingface/safetensors,
 * Metadata::validate) checks it, then each tensor is placed at its dotted name
 * in offset order; arrays stay lazy, one pread each from the file the tree
 * keeps open. The mapping is in safetensors.c. */
#include "safetensors_internal.h"
#include "json_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAME_DEPTH 512               /* components in one name, like JSON nesting */
#define MAX_EXACT ((uint64_t)1 << 53)    /* integers a double holds exactly */

static void close_file(void *state)
{
    fp_st_file *file = state;
    if (!file)
        return;
    if (file->fd >= 0)
        close(file->fd);
    free(file->path);
    free(file);
}

int fp_st_load(const fp_node *node, void *dst, fp_error *err)
{
    const fp_st_ref *ref = node->load_ctx;
    size_t bytes = fp_array_bytes(node);
    int64_t got = fp_st_pread(ref->file->fd, dst, bytes, ref->file->data_start + ref->begin);
    if (got < 0)
        return fp_fail(err, "%s: tensor '%s': cannot read: %s", ref->file->path, node->origin,
                       strerror(errno));
    if ((uint64_t)got < bytes)
        return fp_fail(err, "%s: tensor '%s': the file ends early (truncated since it was opened?)",
                       ref->file->path, node->origin);
    fp_st_swap_le(dst, node->dtype, node->n_elems);
    return 0;
}

typedef struct entry {
    const char *name;            /* the header's key (in the header's text) */
    size_t index;                /* position in the header, to break ties */
    uint64_t begin, end;
    fp_node *node;               /* refs 0 until placed in the tree */
} entry;

/* Prefixes of names already placed ("layers", "layers.0") -> their node, so
 * placing n tensors costs O(total name length), not O(n^2). Keys point into
 * the names (no copies). */
typedef struct slot { const char *key; size_t len; fp_node *node; } slot;
typedef struct prefix_table { slot *slots; size_t n, cap; } prefix_table;

typedef struct reader {
    const char *file;
    fp_error *err;
    const unsigned char *plain;  /* per number token in document order: 1 if a plain integer */
    size_t n_numbers;
    prefix_table prefixes;
    fp_node **maps;              /* every map made, root first: list candidates */
    size_t n_maps, cap_maps;
    int listed_order;            /* placed in __metadata__'s flatparams.order */
} reader;

/* A name as messages show it: at most 200 bytes, control characters as '?'
 * (messages stay one line whatever a hostile header holds). */
static const char *shown_name(const char *name, char shown[208])
{
    size_t i = 0;
    for (; name[i] && i < 200; i++)
        shown[i] = (unsigned char)name[i] < 0x20 ? '?' : name[i];
    strcpy(shown + i, name[i] ? "..." : "");
    return shown;
}

static int fail_tensor(reader *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_tensor(reader *r, const char *name, const char *fmt, ...)
{
    char what[600], shown[208];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fp_fail(r->err, "%s: tensor '%s': %s", r->file, shown_name(name, shown), what);
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The slot for key (empty when absent); grows the table first. NULL on OOM. */
static slot *prefix_slot(prefix_table *t, const char *key, size_t len)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].key)
                continue;
            size_t h = hash_bytes(t->slots[i].key, t->slots[i].len) & (cap - 1);
            while (slots[h].key)
                h = (h + 1) & (cap - 1);
            slots[h] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t h = hash_bytes(key, len) & (t->cap - 1);
    while (t->slots[h].key && (t->slots[h].len != len || memcmp(t->slots[h].key, key, len)))
        h = (h + 1) & (t->cap - 1);
    return &t->slots[h];
}

static int remember_map(reader *r, fp_node *map)
{
    if (r->n_maps == r->cap_maps) {
        size_t cap = r->cap_maps ? 2 * r->cap_maps : 16;
        fp_node **maps = realloc(r->maps, cap * sizeof *maps);
        if (!maps)
            return fp_fail(r->err, "out of memory");
        r->maps = maps;
        r->cap_maps = cap;
    }
    r->maps[r->n_maps++] = map;
    return 0;
}

/* Places a tensor at its dotted name, making the maps on the way. */
static int place(reader *r, fp_node *root, const entry *e)
{
    char *key = malloc(strlen(e->name) + 1);
    if (!key)
        return fp_fail(r->err, "out of memory");
    fp_node *parent = root;
    const char *start = e->name;
    int rc = 0;
    for (int depth = 1; rc == 0; depth++) {
        const char *dot = strchr(start, '.');
        size_t key_len = dot ? (size_t)(dot - start) : strlen(start);
        size_t prefix_len = (size_t)(start - e->name) + key_len;
        memcpy(key, start, key_len);
        key[key_len] = 0;
        slot *s = prefix_slot(&r->prefixes, e->name, prefix_len);
        if (!s) {
            rc = fp_fail(r->err, "out of memory");
        } else if (depth > MAX_NAME_DEPTH) {
            rc = fail_tensor(r, e->name, "name nests deeper than %d levels", MAX_NAME_DEPTH);
        } else if (!dot) {
            if (s->key)
                rc = fail_tensor(r, e->name, s->node->kind == FP_ARRAY ? "is named twice"
                                 : "is also the prefix of other tensors' names");
            else if ((rc = fp_node_append(parent, key, e->node, r->err)) == 0) {
                *s = (slot){ e->name, prefix_len, e->node };
                r->prefixes.n++;
                if (!strcmp(key, "running_mean") || !strcmp(key, "running_var"))
                    e->node->trainable = 0;
            }
            break;
        } else if (s->key && s->node->kind == FP_ARRAY) {
            rc = fail_tensor(r, e->name, "lies inside tensor '%.*s'", (int)prefix_len, e->name);
        } else if (s->key) {
            parent = s->node;
        } else {
            fp_node *map = fp_node_new(FP_MAP);
            if (!map || fp_node_append(parent, key, map, r->err) < 0) {
                free(map);
                rc = fp_fail(r->err, "out of memory");
            } else if ((rc = remember_map(r, map)) == 0) {
                *s = (slot){ e->name, prefix_len, map };
                r->prefixes.n++;
                parent = map;
            }
        }
        if (dot)
            start = dot + 1;
    }
    free(key);
    return rc;
}

/* Index of a canonical decimal key below n ("0", "17"; not "07" or "+1"), or -1. */
static long list_index(const char *key, size_t n)
{
    if (!*key || (key[0] == '0' && key[1]) || strlen(key) > 18)
        return -1;
    long value = 0;
    for (const char *c = key; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        value = 10 * value + (*c - '0');
    }
    return (size_t)value < n ? value : -1;
}

/* A map keyed exactly 0..n-1 (in any order) becomes a list in index order, as
 * HDF5 groups do. Keys are unique, so the indices are a permutation. */
static int maybe_list(fp_node *map, fp_error *err)
{
    size_t n = map->n_children;
    for (size_t i = 0; i < n; i++)
        if (list_index(map->keys[i], n) < 0)
            return 0;
    if (n == 0)
        return 0;
    fp_node **ordered = malloc(n * sizeof *ordered);
    if (!ordered)
        return fp_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        ordered[list_index(map->keys[i], n)] = map->children[i];
        free(map->keys[i]);
    }
    free(map->keys);
    free(map->children);
    map->keys = NULL;
    map->children = ordered;
    map->cap_children = n;
    map->kind = FP_LIST;
    return 0;
}

int fp_st_is_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* Numbers in a parsed value: as many as it has number tokens in the text. */
static size_t count_numbers(const fp_jvalue *item)
{
    if (item->type == FP_J_NUMBER || item->type == FP_J_NUMBERS)
        return item->type == FP_J_NUMBER ? 1 : item->n;
    size_t n = 0;
    for (size_t i = 0; item->type == FP_J_ARRAY || item->type == FP_J_OBJECT ? i < item->n : 0; i++)
        n += count_numbers(&item->u.items[i]);
    return n;
}

/* An array's elements in order, as numbers: *is_number tells which are. */
typedef struct element_reader {
    const fp_jvalue *array;
    fp_jnumbers numbers;
    size_t next;
} element_reader;

static void elements_start(element_reader *er, const fp_jvalue *array)
{
    *er = (element_reader){ .array = array };
    if (array->type == FP_J_NUMBERS)
        fp_jnumbers_start(&er->numbers, array);
}

static double element_next(element_reader *er, int *is_number)
{
    const fp_jvalue *array = er->array;
    size_t i = er->next++;
    *is_number = 1;
    if (array->type == FP_J_NUMBERS)
        return fp_jnumbers_next(&er->numbers, NULL, NULL);
    *is_number = array->u.items[i].type == FP_J_NUMBER;
    return *is_number ? array->u.items[i].u.number : 0;
}

static int exact_uint(double value, int is_number, uint64_t *out)
{
    if (!is_number || !(value >= 0 && value <= (double)MAX_EXACT)
        || signbit(value) || value != (double)(uint64_t)value)
        return -1;
    *out = (uint64_t)value;
    return 0;
}

/* The reference reads sizes and offsets as usize, which serde_json takes only
 * from a plain integer token: "24", not "24.0", "2.4e1" or "024". The parse
 * keeps the value alone, so the form comes from the header's scan (r->plain),
 * where first is the array's first number among the header's number tokens.
 * The array's values were checked: all numbers. */
static int check_plain(reader *r, const entry *e, const fp_jvalue *array, const char *field, size_t first)
{
    element_reader er;
    elements_start(&er, array);
    for (size_t k = 0; k < array->n; k++) {
        int is_number;
        double value = element_next(&er, &is_number);
        if (first + k >= r->n_numbers || !r->plain[first + k])
            return fail_tensor(r, e->name, "%s entry %zu, %.0f, is not written as a plain integer "
                               "(no fraction, exponent or leading zero)", field, k, value);
    }
    return 0;
}

/* An array's n elements as exact unsigned integers; -1 if one is not. */
static int exact_uints(const fp_jvalue *array, uint64_t *out, size_t n)
{
    element_reader er;
    elements_start(&er, array);
    for (size_t i = 0; i < n; i++) {
        int is_number;
        double value = element_next(&er, &is_number);
        if (exact_uint(value, is_number, &out[i]) < 0)
            return -1;
    }
    return 0;
}

/* dtype, shape and offsets of one header entry; makes its (unplaced) node.
 * first_number: the entry's first number among the header's number tokens. */
static int parse_tensor(reader *r, const fp_jvalue *info, size_t first_number, entry *e)
{
    if (info->type != FP_J_OBJECT)
        return fail_tensor(r, e->name, "needs an object with dtype, shape and data_offsets");
    /* Each field at most once, as the reference wants (other fields it ignores,
     * repeated or not); and where each field's numbers start. */
    const fp_jvalue *dtype = NULL, *shape = NULL, *offsets = NULL;
    size_t number_at = first_number, shape_at = 0, offsets_at = 0;
    for (size_t i = 0; i < info->n; number_at += count_numbers(&info->u.items[i]), i++) {
        const fp_jvalue *field = &info->u.items[i];
        const char *k = field->key;
        const fp_jvalue **known = !strcmp(k, "dtype") ? &dtype : !strcmp(k, "shape") ? &shape
                                : !strcmp(k, "data_offsets") ? &offsets : NULL;
        if (known && *known)
            return fail_tensor(r, e->name, "has field %s twice", k);
        if (known)
            *known = field;
        if (known == &shape)
            shape_at = number_at;
        else if (known == &offsets)
            offsets_at = number_at;
    }
    if (!dtype || dtype->type != FP_J_STRING || !fp_json_is_array(shape) || !offsets)
        return fail_tensor(r, e->name, "needs an object with dtype, shape and data_offsets");
    fp_dtype dt = fp_st_dtype_parse(dtype->u.string);
    if (dt == FP_DT_NONE)
        return fail_tensor(r, e->name, "unsupported dtype %.40s", dtype->u.string);
    if (shape->n > FP_MAX_RANK)
        return fail_tensor(r, e->name, "rank %zu is beyond the supported %d", shape->n, FP_MAX_RANK);
    int rank = (int)shape->n;
    uint64_t dims[FP_MAX_RANK], range[2];
    if (exact_uints(shape, dims, shape->n) < 0)
        return fail_tensor(r, e->name, "shape must be a list of integers from 0 to 2^53");
    if (!fp_json_is_array(offsets) || offsets->n != 2 || exact_uints(offsets, range, 2) < 0)
        return fail_tensor(r, e->name, "data_offsets must be [begin, end], integers from 0 to 2^53");
    e->begin = range[0];
    e->end = range[1];
    if (check_plain(r, e, shape, "shape", shape_at) < 0
        || check_plain(r, e, offsets, "data_offsets", offsets_at) < 0)
        return -1;
    fp_error why;
    if (!(e->node = fp_node_new_array(dt, rank, dims, &why)))
        return fail_tensor(r, e->name, "%s", why.msg);
    if (!(e->node->origin = strdup(e->name)))
        return fp_fail(r->err, "out of memory");
    return 0;
}

static int by_offsets(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void shape_text(const fp_node *arr, char *buf, size_t cap)
{
    size_t len = snprintf(buf, cap, "[");
    for (int d = 0; d < arr->rank && len < cap; d++)
        len += snprintf(buf + len, cap - len, "%s%" PRIu64, d ? ", " : "", arr->shape[d]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* The reference's rule: sorted by offsets, the ranges tile [0, buffer_len). */
static int check_offsets(reader *r, const entry *entries, size_t n, uint64_t buffer_len)
{
    uint64_t expected = 0;
    for (size_t i = 0; i < n; i++) {
        const entry *e = &entries[i];
        size_t need = fp_array_bytes(e->node);
        char shape[256], previous[208];
        if (e->end < e->begin)
            return fail_tensor(r, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                               e->begin, e->end);
        if (e->begin < expected)
            return fail_tensor(r, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] overlap tensor '%s'",
                               e->begin, e->end, shown_name(entries[i - 1].name, previous));
        if (e->begin > expected)
            return fail_tensor(r, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] leave a hole: bytes "
                               "%" PRIu64 " to %" PRIu64 " belong to no tensor (offsets must be contiguous)",
                               e->begin, e->end, expected, e->begin);
        if (e->end > buffer_len)
            return fail_tensor(r, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] are out of bounds: "
                               "the data buffer holds %" PRIu64 " bytes", e->begin, e->end, buffer_len);
        if (e->end - e->begin != need) {
            shape_text(e->node, shape, sizeof shape);
            return fail_tensor(r, e->name, "data_offsets [%" PRIu64 ", %" PRIu64 "] do not match dtype %s "
                               "and shape %s (%zu bytes)", e->begin, e->end,
                               fp_st_dtype_name(e->node->dtype), shape, need);
        }
        expected = e->end;
    }
    if (expected != buffer_len)
        return fp_fail(r->err, "%s: the data buffer has %" PRIu64 " trailing bytes that belong to no "
                       "tensor (offsets must cover it exactly)", r->file, buffer_len - expected);
    return 0;
}

/* Header entries -> validated, offset-ordered entries with nodes. */
static int parse_header(reader *r, const fp_jvalue *doc, entry *entries, size_t *n_entries)
{
    size_t n = 0, number_at = 0;
    int has_metadata = 0;
    /* Kept current: on any failure the caller frees the nodes made so far. */
    *n_entries = 0;
    for (size_t index = 0; index < doc->n; number_at += count_numbers(&doc->u.items[index]), index++) {
        const fp_jvalue *item = &doc->u.items[index];
        if (!strcmp(item->key, "__metadata__")) {
            if (has_metadata++)
                return fp_fail(r->err, "%s: __metadata__ is given twice", r->file);
            if (item->type != FP_J_OBJECT)
                return fp_fail(r->err, "%s: __metadata__ must be an object of strings", r->file);
            for (size_t m = 0; m < item->n; m++)
                if (item->u.items[m].type != FP_J_STRING)
                    return fp_fail(r->err, "%s: __metadata__ value '%.200s' is not a string",
                                   r->file, item->u.items[m].key);
            continue;
        }
        entries[n] = (entry){ .name = item->key, .index = index };
        int rc = parse_tensor(r, item, number_at, &entries[n]);
        *n_entries = ++n;
        if (rc < 0)
            return -1;
    }
    qsort(entries, n, sizeof *entries, by_offsets);
    return 0;
}

/* Opens the file into tree->state and reads the header length: 8 + header
 * length <= the file's size, header length within the reference's limit. */
static int open_file(fp_tree *tree, uint64_t *file_size, fp_error *err)
{
    fp_st_file *file = calloc(1, sizeof *file);
    if (!file || !(file->path = strdup(tree->path))) {
        free(file);
        return fp_fail(err, "out of memory");
    }
    file->fd = -1;
    tree->state = file;
    tree->close_state = close_file;
    const char *path = tree->path;
    struct stat st;
    unsigned char len_bytes[8];
    if ((file->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(file->fd, &st) < 0)
        return fp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    *file_size = (uint64_t)st.st_size;
    if (fp_st_pread(file->fd, len_bytes, 8, 0) != 8)
        return fp_fail(err, "%s: file is shorter than the 8-byte header length", path);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | len_bytes[i];
    if (header_len > FP_ST_MAX_HEADER)
        return fp_fail(err, "%s: header length %" PRIu64 " exceeds the 100 MB limit", path, header_len);
    if (header_len > *file_size - 8)
        return fp_fail(err, "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64
                       " bytes): file is shorter than its header", path, header_len, *file_size);
    file->data_start = 8 + header_len;
    return 0;
}

/* The number token text[start, end) by JSON's grammar, which cJSON (strtod)
 * stretches ("07", "1."): -1 outside it, 1 a plain non-negative integer, 0 any
 * other JSON number. text[end] is no number character (the run ends there). */
static int number_form(const char *text, size_t start, size_t end)
{
    static const char digits[] = "0123456789";
    const char *p = text + start + (text[start] == '-'), *stop = text + end;
    size_t n = strspn(p, digits);
    if (n == 0 || (*p == '0' && n > 1))
        return -1;
    int plain = text[start] != '-' && p + n == stop;
    p += n;
    if (*p == '.' && (n = strspn(p + 1, digits)) > 0)
        p += 1 + n;
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '+' || p[1] == '-');
        if ((n = strspn(p, digits)) == 0)
            return -1;
        p += n;
    }
    return p == stop ? plain : -1;
}

/* Checks each number token of a parsed header against JSON's grammar and notes
 * in plain, in document order (the order a depth-first walk of the parsed
 * document meets them), whether it is a plain non-negative integer. Returns how many
 * tokens it noted (at most cap), or -1 with the offending token's offset: one
 * outside the grammar or beyond a double's range, as serde refuses them. */
static int64_t scan_numbers(const char *text, size_t len, unsigned char *plain, size_t cap,
                            size_t *bad_at)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                i += text[i] == '\\';
            continue;
        }
        if (text[i] != '-' && (text[i] < '0' || text[i] > '9'))
            continue;
        /* The parse took the whole run of number characters (strtod consumed it). */
        size_t start = i;
        while (i < len && text[i] && strchr("0123456789+-.eE", text[i]))
            i++;
        int form = number_form(text, start, i);
        if (form < 0 || n == cap || isinf(strtod(text + start, NULL))) {
            *bad_at = start;
            return -1;
        }
        plain[n++] = (unsigned char)form;
        i--;
    }
    return (int64_t)n;
}

/* The header: UTF-8, one JSON object, nothing after it but whitespace (the
 * reference pads with spaces). On success *text holds it, with its strings
 * unescaped in place (doc's keys and strings point there), and *plain
 * scan_numbers' notes, *n_numbers of them; the caller frees text, doc and
 * plain. -1 with err filled otherwise. */
static int parse_header_text(const fp_st_file *file, char **text_out, fp_jvalue *doc,
                             unsigned char **plain, size_t *n_numbers, fp_error *err)
{
    size_t len = (size_t)(file->data_start - 8);
    char *text = malloc(len + 1);
    *doc = (fp_jvalue){ .type = FP_J_NULL };
    *plain = NULL;
    if (!text)
        return fp_fail(err, "out of memory for the %zu-byte header", len);
    text[len] = 0;
    size_t end = 0, bad_at = len;
    int parsed = -1, out_of_memory = 0;
    if (fp_st_pread(file->fd, text, len, 8) != (int64_t)len)
        fp_fail(err, "%s: cannot read the header: %s", file->path, strerror(errno ? errno : EIO));
    else if (!fp_st_is_utf8((const unsigned char *)text, len))
        fp_fail(err, "%s: header is not valid UTF-8", file->path);
    else if ((parsed = fp_json_parse(text, len, 0, doc, &end, &out_of_memory)) < 0 && out_of_memory)
        fp_fail(err, "%s: out of memory parsing the %zu-byte header", file->path, len);
    else if (parsed < 0)
        fp_fail(err, "%s: header is not valid JSON (at byte %zu)", file->path, end);
    else if (end + strspn(text + end, " \t\r\n") != len)
        fp_fail(err, "%s: header is not valid JSON (text after the object at byte %zu)",
                file->path, end);
    else if (doc->type != FP_J_OBJECT)
        fp_fail(err, "%s: header is not a JSON object", file->path);
    else if (!(*plain = malloc((*n_numbers = count_numbers(doc)) + 1)))
        fp_fail(err, "out of memory for the header's %zu numbers", *n_numbers);
    else if (scan_numbers(text, len, *plain, *n_numbers, &bad_at) != (int64_t)*n_numbers)
        fp_fail(err, "%s: header is not valid JSON (number at byte %zu)", file->path, bad_at);
    else {
        fp_json_unescape(doc);   /* after scan_numbers, which reads the text as written */
        *text_out = text;
        return 0;
    }
    free(*plain);
    *plain = NULL;
    fp_json_free(doc);
    free(text);
    return -1;
}

/* ---- the order a writer recorded (safetensors_order.c reads the list) */

static int keys_in_index_order(const fp_node *map)
{
    for (size_t i = 0; i < map->n_children; i++)
        if (list_index(map->keys[i], map->n_children) != (long)i)
            return 0;
    return 1;
}

/* __metadata__'s "flatparams.order" list (its text, which lives in the
 * header's text), or NULL when the file gives none. */
static int find_listed_order(reader *r, const fp_jvalue *doc, const char **list)
{
    const fp_jvalue *metadata = fp_json_member(doc, "__metadata__");
    *list = NULL;
    for (size_t i = 0; metadata && i < metadata->n; i++) {
        const fp_jvalue *m = &metadata->u.items[i];
        if (strcmp(m->key, FP_ST_ORDER_KEY))
            continue;
        if (*list)   /* JSON readers disagree on which one counts */
            return fp_fail(r->err, "%s: __metadata__ has \"" FP_ST_ORDER_KEY "\" twice", r->file);
        *list = m->u.string;
    }
    return 0;
}

/* The hook for __metadata__ "flatparams.order": after check_offsets (which
 * needs the offsets' order), before build_tree, which then places the entries
 * in the list's order and makes lists only of maps listed in index order. */
static int apply_listed_order(reader *r, const char *list, entry *entries, size_t n)
{
    const char **names = malloc((n + 1) * sizeof *names);
    size_t *order = malloc((n + 1) * sizeof *order);
    entry *placed = malloc((n + 1) * sizeof *placed);
    int rc = names && order && placed ? 0 : fp_fail(r->err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        names[i] = entries[i].name;
    if (rc == 0)
        rc = fp_st_listed_order(r->file, list, names, n, order, r->err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            placed[i] = entries[order[i]];
        memcpy(entries, placed, n * sizeof *entries);
        r->listed_order = 1;
    }
    free(names);
    free(order);
    free(placed);
    return rc;
}

/* Validated entries -> the tree: lazy arrays at their names, lists made. */
static int build_tree(reader *r, const fp_st_file *file, entry *entries, size_t n, fp_node *root)
{
    for (size_t i = 0; i < n; i++) {
        fp_st_ref *ref = malloc(sizeof *ref);
        if (!ref)
            return fp_fail(r->err, "out of memory");
        *ref = (fp_st_ref){ file, entries[i].begin };
        fp_node *node = entries[i].node;
        node->load = fp_st_load;
        node->load_ctx = ref;
        node->free_load_ctx = free;
        node->raw_offset = (int64_t)(ref->file->data_start + ref->begin);
        if (place(r, root, &entries[i]) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_maps; i++)
        if ((!r->listed_order || keys_in_index_order(r->maps[i]))
            && maybe_list(r->maps[i], r->err) < 0)
            return -1;
    return 0;
}

int fp_st_read(fp_tree *tree, fp_error *err)
{
    uint64_t file_size = 0;
    if (open_file(tree, &file_size, err) < 0)
        return -1;
    const fp_st_file *file = tree->state;
    char *text = NULL;
    fp_jvalue doc;
    const char *listed = NULL;
    unsigned char *plain = NULL;
    size_t n_numbers = 0;
    if (parse_header_text(file, &text, &doc, &plain, &n_numbers, err) < 0)
        return -1;
    reader r = { .file = tree->path, .err = err, .plain = plain, .n_numbers = n_numbers };
    size_t n_entries = 0;
    entry *entries = calloc(doc.n + 1, sizeof *entries);
    fp_node *root = fp_node_new(FP_MAP);
    int rc = -1;
    if (!entries || !root || remember_map(&r, root) < 0) {
        fp_fail(err, "out of memory");
    } else if (parse_header(&r, &doc, entries, &n_entries) == 0
               && find_listed_order(&r, &doc, &listed) == 0) {
        /* The entries hold what the tree needs (names, and the order's list,
         * point into the text): the parsed document goes before the tree grows. */
        fp_json_free(&doc);
        if (check_offsets(&r, entries, n_entries, file_size - file->data_start) == 0
            && (!listed || apply_listed_order(&r, listed, entries, n_entries) == 0))
            rc = build_tree(&r, file, entries, n_entries, root);
    }
    /* Nodes never placed in the tree (refs 0) are the entries' to free. */
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].node && entries[i].node->refs == 0)
            fp_node_release(entries[i].node);
    if (root)
        root->refs = 1;
    if (rc == 0)
        tree->root = root;
    else
        fp_node_release(root);
    free(r.prefixes.slots);
    free(r.maps);
    free(entries);
    free(plain);
    fp_json_free(&doc);
    free(text);
    return rc;
}
