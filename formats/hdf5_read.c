/* Reading any HDF5 file as a model tree (doc/contract.md §3, §4): groups become maps (or
 * lists when their members are named 0..n-1), datasets become lazy arrays,
 * attributes become the scalar settings of their group.
 *
 * Only metadata is read here; a dataset's values are fetched by h5_load when
 * someone asks for them, so `modules` on a 10 GB file reads kilobytes. Hard
 * links (and soft links) to one object give one shared node, which is how tied
 * weights enter the flat vector once.
 *
 * Keras legacy files (layer_names, or model_config beside model_weights) are
 * handed to keras_h5.c, which builds the tree in Keras' order from the same
 * lazy arrays (h5_read_dataset_at). */
#include "hdf5_internal.h"
#include "keras_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STRING_DATASET_BYTES ((size_t)1 << 20)

/* ---- the walk's state */

typedef struct object_id {
    uint64_t fileno, addr;
} object_id;

typedef struct reader {
    h5_state *state;
    fp_error *err;
    hid_t lapl, gapl, dapl;     /* link, group, dataset access: vet external links */
    h5_addr_map objects;        /* object id -> node, for sharing */
    object_id stack[H5_MAX_DEPTH]; /* groups being read, for cycles */
    int depth;
    h5_path path;               /* model path of the node being read */
    char refused_link[H5_REFUSED_CAP]; /* an external link the access properties stopped */
} reader;

static const char *here(const reader *r)
{
    return h5_path_str(&r->path);
}

static int fail_here(reader *r, const char *what, int with_reason)
{
    char why[256] = "";
    if (with_reason)
        h5_reason(why, sizeof why);
    return fp_fail(r->err, "%s: %s: %s%s%s", r->state->name, here(r), what,
                   with_reason ? ": " : "", why);
}

static int path_push(reader *r, const char *name)
{
    return h5_path_push(&r->path, name) < 0 ? fp_fail(r->err, "out of memory") : 0;
}

static int refuse_external(reader *r, const char *target)
{
    return fp_fail(r->err, "%s: %s: external link to %s refused (use --allow-external)",
                   r->state->name, here(r), target);
}

/* ---- listing a group's links and attributes in file order */

typedef struct entry {
    char *name;
    int64_t corder;
    int corder_valid;
    H5L_type_t link_type;
    size_t link_size;           /* size of a soft or external link's value */
} entry;

typedef struct entry_list {
    entry *items;
    size_t n, cap;
} entry_list;

static int entry_add(entry_list *list, const char *name, int64_t corder, int valid)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 16;
        entry *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->cap = cap;
    }
    entry *e = &list->items[list->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return -1;
    e->corder = corder;
    e->corder_valid = valid;
    list->n++;
    return 0;
}

static void entries_free(entry_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].name);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static herr_t add_link(hid_t group, const char *name, const H5L_info_t *info, void *vlist)
{
    entry_list *list = vlist;
    (void)group;
    if (entry_add(list, name, info->corder, info->corder_valid) < 0)
        return -1;
    list->items[list->n - 1].link_type = info->type;
    list->items[list->n - 1].link_size = info->type == H5L_TYPE_HARD ? 0 : info->u.val_size;
    return 0;
}

static herr_t add_attribute(hid_t loc, const char *name, const H5A_info_t *info, void *vlist)
{
    (void)loc;
    return entry_add(vlist, name, info->corder, info->corder_valid);
}

static int is_decimal(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int by_corder(const void *a, const void *b)
{
    int64_t x = ((const entry *)a)->corder, y = ((const entry *)b)->corder;
    return x < y ? -1 : x > y ? 1 : by_name(a, b);
}

/* Decimal names by value ("9" before "10"), however many digits. */
static int by_number(const void *a, const void *b)
{
    const char *x = ((const entry *)a)->name, *y = ((const entry *)b)->name;
    const char *sx = x, *sy = y;
    while (*sx == '0' && sx[1]) sx++;
    while (*sy == '0' && sy[1]) sy++;
    size_t lx = strlen(sx), ly = strlen(sy);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    int c = strcmp(sx, sy);
    return c ? c : strcmp(x, y);
}

/* doc/contract.md §3: creation order where tracked, else numeric when every name is a
 * number, else byte order of names. (HDF5 reports a creation order of 0 for
 * every member of a group that does not track it, hence the group's flag.)
 * Returns whether the order is the creation order. */
static int order_entries(entry_list *list, int tracked)
{
    int numeric = list->n > 0;
    for (size_t i = 0; i < list->n; i++) {
        tracked &= list->items[i].corder_valid;
        numeric &= is_decimal(list->items[i].name);
    }
    if (list->n > 1)   /* qsort's pointer must not be NULL, even for 0 items */
        qsort(list->items, list->n, sizeof *list->items,
              tracked ? by_corder : numeric ? by_number : by_name);
    return tracked;
}

/* ---- datasets */

/* Where a dataset's bytes lie in the file when they are stored exactly as the
 * node's dtype in little-endian order, contiguous and unfiltered (and vetted:
 * inside the file); -1 otherwise. */
static int64_t raw_offset(hid_t dset, hid_t ftype, const fp_node *node)
{
    hid_t want = node->dtype == FP_F32 ? H5T_IEEE_F32LE : node->dtype == FP_F64 ? H5T_IEEE_F64LE
               : H5I_INVALID_HID;
    if (want == H5I_INVALID_HID || H5Tequal(ftype, want) <= 0)
        return -1;
    haddr_t addr = H5Dget_offset(dset);
    if (addr == HADDR_UNDEF || H5Dget_storage_size(dset) != fp_array_bytes(node) || addr > INT64_MAX)
        return -1;
    return (int64_t)addr;
}

/* Fails for a vetting that refused (1) or could not be done (-1). */
static int vetting_failed(reader *r, int vetted, const char *why)
{
    if (vetted < 0)
        return fail_here(r, "cannot read dataset storage", 1);
    return fp_fail(r->err, "%s: %s: %s", r->state->name, here(r), why);
}

/* Vets an array's storage (h5_vet_dataset). Where its data lies in the model
 * file, with its header, goes into the file's list of extents, once per
 * dataset (Keras readers may visit one twice); elsewhere, in another file,
 * it does not. */
static int vet_array(reader *r, hid_t dset, uint64_t n_elems, int elsewhere, h5_storage *storage)
{
    h5_state *state = r->state;
    char why[2048];
    H5O_info_t info;
    if (H5Oget_info2(dset, &info, H5O_INFO_BASIC) < 0)
        return vetting_failed(r, -1, NULL);
    int first = !elsewhere && !h5_map_get(&state->vetted, info.fileno, info.addr);
    h5_extents *extents = first ? &state->extents : NULL;
    if (first && (h5_extents_owner(extents, here(r)) < 0
                  || h5_map_put(&state->vetted, info.fileno, info.addr, state) < 0))
        return fp_fail(r->err, "out of memory");
    if (first && h5_extents_add_header(extents, dset) < 0)
        return vetting_failed(r, -1, NULL);
    int vetted = h5_vet_dataset(dset, n_elems, storage, extents, why, sizeof why);
    return vetted ? vetting_failed(r, vetted, why) : 0;
}

/* A dataset of the model file, or of another one an external link reaches
 * (elsewhere: its bytes are not at its offset in the model file). */
static fp_node *read_dataset(reader *r, hid_t dset, int elsewhere)
{
    hid_t ftype = H5Dget_type(dset), space = H5Dget_space(dset);
    fp_node *node = NULL;
    hsize_t dims[H5S_MAX_RANK];
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5S_class_t space_class = space >= 0 ? H5Sget_simple_extent_type(space) : H5S_NO_CLASS;
    fp_dtype dtype = ftype >= 0 ? h5_dtype_of(ftype) : FP_DT_NONE;
    h5_storage storage;
    char why[2048];
    int vetted;
    if (ftype < 0 || rank < 0 || space_class == H5S_NO_CLASS
        || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        fail_here(r, "cannot read dataset type or shape", 1);
    } else if (dtype == FP_DT_NONE || space_class == H5S_NULL) {
        /* Kept so paths stay meaningful, never flattened. Small strings are
         * settings (read here: in the child first, see fp_tree_open). */
        hid_t dcpl = H5Dget_create_plist(dset);
        memset(&storage, 0, sizeof storage);
        if ((vetted = dcpl < 0 ? -1 : h5_vet_outside(dset, dcpl, &storage, why, sizeof why)) != 0)
            vetting_failed(r, vetted, why);
        else if (H5Tget_class(ftype) == H5T_STRING && space_class != H5S_NULL)
            node = h5_read_value(dset, 0, MAX_STRING_DATASET_BYTES, r->state->name, here(r), r->err);
        else if (!(node = fp_node_new(FP_NULL)))
            fp_fail(r->err, "out of memory");
        if (dcpl >= 0)
            H5Pclose(dcpl);
    } else {
        uint64_t shape[FP_MAX_RANK];
        for (int i = 0; i < rank && i < FP_MAX_RANK; i++)
            shape[i] = dims[i];
        if (!(node = fp_node_new_array(dtype, rank, shape, r->err))) {
            fp_fail_prefix(r->err, here(r));
            fp_fail_prefix(r->err, r->state->name);
        } else if (vet_array(r, dset, node->n_elems, elsewhere, &storage) < 0) {
            fp_node_release(node);
            node = NULL;
        } else if (!(node->origin = strdup(here(r)))) {
            fp_node_release(node);
            node = NULL;
            fp_fail(r->err, "out of memory");
        } else {
            node->load = storage.isolated ? h5_load_isolated : h5_load;
            node->load_ctx = r->state;
            node->raw_offset = elsewhere || storage.isolated ? -1 : raw_offset(dset, ftype, node);
        }
    }
    if (node && node->kind == FP_ARRAY) {
        htri_t has = H5Aexists(dset, "trainable");
        hid_t attr = has > 0 ? H5Aopen(dset, "trainable", H5P_DEFAULT) : H5I_INVALID_HID;
        fp_node *mark = attr >= 0 ? h5_read_value(attr, 1, H5_MAX_ATTRIBUTE_BYTES, r->state->name, here(r), r->err) : NULL;
        if (has < 0 || (has > 0 && !mark)) {
            if (has < 0 || attr < 0)
                fail_here(r, "cannot read attribute trainable", 1);
            fp_node_release(node);
            node = NULL;
        } else if (mark && h5_is_false(mark)) {
            node->trainable = 0;
        }
        fp_node_release(mark);
        if (attr >= 0)
            H5Aclose(attr);
    }
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    return node;
}

/* ---- groups and links */

static fp_node *read_group(reader *r, hid_t group);

/* Notes where a group of the model file keeps its header: no data may lie there. */
static int note_group(reader *r, hid_t group)
{
    if (h5_extents_owner(&r->state->extents, here(r)) < 0)
        return fp_fail(r->err, "out of memory");
    if (h5_extents_add_header(&r->state->extents, group) < 0)
        return fail_here(r, "cannot inspect group", 1);
    return 0;
}

/* Index of a list member: "0" or a decimal without leading zeros, below n. */
static int list_index(const char *name, size_t n, size_t *index)
{
    if (!is_decimal(name) || (name[0] == '0' && name[1]) || strlen(name) > 18)
        return 0;
    *index = (size_t)strtoull(name, NULL, 10);
    return *index < n;
}

static int is_setting_of_list(const char *name)
{
    return !strcmp(name, "type") || !strcmp(name, "trainable");
}

/* Whether members named as list indices come in ascending order of index
 * (settings of a list aside): a group whose tracked creation order is another
 * order is a map, so that order, the file's, is the flat vector's. */
static int ascending_indices(const entry_list *list, int attributes)
{
    size_t last = 0, index;
    int first = 1;
    for (size_t i = 0; i < list->n; i++) {
        if (attributes && is_setting_of_list(list->items[i].name))
            continue;
        if (!list_index(list->items[i].name, SIZE_MAX, &index) || (!first && index < last))
            return 0;
        last = index;
        first = 0;
    }
    return 1;
}

/* A group is a list when its members (links, and attributes other than type
 * and trainable) are named exactly 0..n-1, n >= 1, and come in that order where
 * creation order is tracked: returns n, else 0 (a map). */
static size_t list_length(const entry_list *attrs, const entry_list *links, int attrs_tracked,
                          int links_tracked)
{
    if ((attrs_tracked && !ascending_indices(attrs, 1))
        || (links_tracked && !ascending_indices(links, 0)))
        return 0;
    size_t n = links->n;
    for (size_t i = 0; i < attrs->n; i++)
        n += !is_setting_of_list(attrs->items[i].name);
    if (n == 0)
        return 0;
    unsigned char *seen = calloc(n, 1);
    int ok = seen != NULL;
    for (size_t i = 0; ok && i < attrs->n + links->n; i++) {
        const char *name = i < attrs->n ? attrs->items[i].name : links->items[i - attrs->n].name;
        size_t index;
        if (i < attrs->n && is_setting_of_list(name))
            continue;
        ok = list_index(name, n, &index) && !seen[index];
        if (ok)
            seen[index] = 1;
    }
    free(seen);
    return ok ? n : 0;
}

/* Follows one link to its object: 0 with *out set, 1 to skip it (a named
 * datatype), -1 on error. */
static int read_link(reader *r, hid_t group, const entry *link, fp_node **out)
{
    *out = NULL;
    if (link->link_type == H5L_TYPE_EXTERNAL) {
        /* Name the target even when the callback would also catch it. */
        char *value = malloc(link->link_size + 1), target[512] = "?";
        const char *file = NULL, *object = NULL;
        unsigned flags;
        if (value && H5Lget_val(group, link->name, value, link->link_size, r->lapl) >= 0
            && H5Lunpack_elink_val(value, link->link_size, &flags, &file, &object) >= 0)
            snprintf(target, sizeof target, "%s:%s", file, object);
        free(value);
        if (!fp_allow_external)
            return refuse_external(r, target);
    }
    r->refused_link[0] = 0;
    htri_t exists = H5Oexists_by_name(group, link->name, r->lapl);
    if (r->refused_link[0])
        return refuse_external(r, r->refused_link);
    if (exists <= 0) {
        if (link->link_type == H5L_TYPE_HARD)
            return fail_here(r, "cannot open object", 1);
        if (link->link_type == H5L_TYPE_EXTERNAL)
            return fail_here(r, "dangling external link", 1);
        H5Eclear2(H5E_DEFAULT);   /* a dangling soft or user link: a null setting */
        if (!(*out = fp_node_new(FP_NULL)))
            return fp_fail(r->err, "out of memory");
        return 0;
    }
    H5O_info_t info;
    if (H5Oget_info_by_name2(group, link->name, &info, H5O_INFO_BASIC, r->lapl) < 0)
        return fail_here(r, "cannot inspect object", 1);
    for (int i = 0; i < r->depth; i++)
        if (r->stack[i].fileno == info.fileno && r->stack[i].addr == info.addr)
            return fail_here(r, "link makes a cycle (a group inside itself)", 0);
    if ((*out = h5_map_get(&r->objects, info.fileno, info.addr)))
        return 0;
    if (info.type == H5O_TYPE_GROUP) {
        if (r->depth >= H5_MAX_DEPTH)
            return fail_here(r, "groups nested too deeply", 0);
        hid_t child = H5Gopen2(group, link->name, r->gapl);
        if (child < 0)
            return fail_here(r, "cannot open group", 1);
        if (info.fileno != r->stack[0].fileno || note_group(r, child) == 0) {
            r->stack[r->depth++] = (object_id){ info.fileno, info.addr };
            *out = read_group(r, child);
            r->depth--;
        }
        H5Gclose(child);
    } else if (info.type == H5O_TYPE_DATASET) {
        hid_t dset = H5Dopen2(group, link->name, r->dapl);
        if (dset < 0)
            return fail_here(r, "cannot open dataset", 1);
        *out = read_dataset(r, dset, info.fileno != r->stack[0].fileno);
        H5Dclose(dset);
    } else {
        return 1;
    }
    if (!*out)
        return -1;
    if (h5_map_put(&r->objects, info.fileno, info.addr, *out) < 0) {
        fp_node_release(*out);
        *out = NULL;
        return fp_fail(r->err, "out of memory");
    }
    return 0;
}

/* Puts a member into its place: appended to a map, or into slot `index` of a
 * list being assembled (holding a reference until the list takes it). */
static int place(reader *r, fp_node *node, const char *name, fp_node *child, fp_node **slots,
                 size_t n_slots)
{
    if (node->kind == FP_MAP)
        return fp_node_append(node, name, child, r->err);
    size_t index;
    if (!list_index(name, n_slots, &index))   /* cannot happen: list_length checked */
        return fp_fail(r->err, "%s: %s: %s is not a list index", r->state->name, here(r), name);
    child->refs++;
    slots[index] = child;
    return 0;
}

static fp_node *read_group(reader *r, hid_t group)
{
    entry_list attrs = { 0 }, links = { 0 };
    hsize_t at = 0;
    if (H5Aiterate2(group, H5_INDEX_NAME, H5_ITER_INC, &at, add_attribute, &attrs) < 0) {
        fail_here(r, "cannot list attributes", 1);
        entries_free(&attrs);
        return NULL;
    }
    at = 0;
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &at, add_link, &links) < 0) {
        fail_here(r, "cannot list group", 1);
        entries_free(&attrs);
        entries_free(&links);
        return NULL;
    }
    unsigned link_order = 0, attr_order = 0;
    hid_t gcpl = H5Gget_create_plist(group);
    if (gcpl < 0 || H5Pget_link_creation_order(gcpl, &link_order) < 0
        || H5Pget_attr_creation_order(gcpl, &attr_order) < 0) {
        fail_here(r, "cannot read group properties", 1);
        if (gcpl >= 0)
            H5Pclose(gcpl);
        entries_free(&attrs);
        entries_free(&links);
        return NULL;
    }
    H5Pclose(gcpl);
    int attrs_tracked = order_entries(&attrs, (attr_order & H5P_CRT_ORDER_TRACKED) != 0);
    int links_tracked = order_entries(&links, (link_order & H5P_CRT_ORDER_TRACKED) != 0);
    size_t n_slots = list_length(&attrs, &links, attrs_tracked, links_tracked);
    int list = n_slots > 0;
    fp_node *node = fp_node_new(list ? FP_LIST : FP_MAP);
    fp_node **slots = calloc(n_slots + 1, sizeof *slots);
    int rc = node && slots ? 0 : fp_fail(r->err, "out of memory");
    for (size_t i = 0; rc == 0 && i < attrs.n; i++) {
        const char *name = attrs.items[i].name;
        size_t saved = r->path.len;
        hid_t attr = H5Aopen(group, name, H5P_DEFAULT);
        fp_node *value = NULL;
        if (path_push(r, name) < 0)
            rc = -1;
        else if (attr < 0)
            rc = fail_here(r, "cannot open attribute", 1);
        else if (!(value = h5_read_value(attr, 1, H5_MAX_ATTRIBUTE_BYTES, r->state->name, here(r), r->err)))
            rc = -1;
        if (attr >= 0)
            H5Aclose(attr);
        h5_path_pop(&r->path, saved);
        if (!value)
            continue;
        if (!strcmp(name, "type") && value->kind == FP_STRING && !(node->type = strdup(value->str)))
            rc = fp_fail(r->err, "out of memory");
        if (!strcmp(name, "trainable") && h5_is_false(value))
            node->trainable = 0;
        if (rc == 0 && (!list || !is_setting_of_list(name)))
            rc = place(r, node, name, value, slots, n_slots);
        if (!value->refs)
            fp_node_release(value);
    }
    for (size_t i = 0; rc == 0 && i < links.n; i++) {
        size_t saved = r->path.len;
        fp_node *child = NULL;
        if (path_push(r, links.items[i].name) < 0)
            rc = -1;
        else if ((rc = read_link(r, group, &links.items[i], &child)) == 1)
            rc = 0;   /* named datatypes are not part of a model */
        h5_path_pop(&r->path, saved);
        if (rc == 0 && child)
            rc = place(r, node, links.items[i].name, child, slots, n_slots);
        if (rc < 0 && child && !child->refs)
            fp_node_release(child);
    }
    /* A list has every slot filled (list_length checked the names). */
    for (size_t i = 0; i < n_slots; i++) {
        if (rc == 0 && slots[i] && fp_node_append(node, NULL, slots[i], r->err) < 0)
            rc = -1;
        if (slots[i])
            fp_node_release(slots[i]);
    }
    if (rc == 0 && list && node->n_children != n_slots)
        rc = fail_here(r, "list members could not all be read", 0);
    free(slots);
    entries_free(&attrs);
    entries_free(&links);
    if (rc < 0) {
        fp_node_release(node);
        return NULL;
    }
    return node;
}

/* Link, group and dataset access properties that vet external links. */
static int reader_open(reader *r, h5_state *state, fp_error *err)
{
    const hid_t access_class[3] = { H5P_LINK_ACCESS, H5P_GROUP_ACCESS, H5P_DATASET_ACCESS };
    hid_t *access[3] = { &r->lapl, &r->gapl, &r->dapl };
    memset(r, 0, sizeof *r);
    r->state = state;
    r->err = err;
    int ok = 1;
    for (int i = 0; i < 3; i++)   /* (all three note a refused link in the same place) */
        ok &= (*access[i] = h5_vetting_access(access_class[i], r->refused_link)) >= 0;
    if (!ok) {
        char why[256];
        h5_reason(why, sizeof why);
        return fp_fail(err, "%s: cannot set up HDF5 access: %s", state->name, why);
    }
    return 0;
}

static void reader_close(reader *r)
{
    hid_t access[3] = { r->lapl, r->gapl, r->dapl };
    for (int i = 0; i < 3; i++)
        if (access[i] > 0)
            H5Pclose(access[i]);
    h5_map_free(&r->objects, NULL);
    free(r->path.buf);
}

fp_node *h5_read_dataset_at(h5_state *state, const char *origin, const char *model_path,
                            fp_error *err)
{
    reader r;
    fp_node *node = NULL;
    if (reader_open(&r, state, err) < 0) {
        reader_close(&r);
        return NULL;
    }
    if (h5_path_push(&r.path, model_path + (model_path[0] == '/')) < 0) {
        fp_fail(err, "out of memory");
        reader_close(&r);
        return NULL;
    }
    char what[600];
    snprintf(what, sizeof what, "no dataset %s in the file", origin);
    htri_t exists = H5Oexists_by_name(state->file, origin, r.lapl);
    H5O_info_t info, root;
    hid_t dset = H5I_INVALID_HID;
    if (r.refused_link[0])
        refuse_external(&r, r.refused_link);
    else if (exists <= 0 || H5Oget_info_by_name2(state->file, origin, &info, H5O_INFO_BASIC, r.lapl) < 0
             || info.type != H5O_TYPE_DATASET)
        fail_here(&r, what, 0);
    else if (H5Oget_info_by_name2(state->file, "/", &root, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        fail_here(&r, "cannot inspect the root group", 1);
    else if ((dset = H5Dopen2(state->file, origin, r.dapl)) < 0)
        fail_here(&r, "cannot open dataset", 1);
    else
        node = read_dataset(&r, dset, info.fileno != root.fileno);
    if (node && node->kind == FP_ARRAY) {
        /* The file's path, not the model's: patching opens it there. */
        char *copy = strdup(origin);
        if (!copy) {
            fp_node_release(node);
            node = NULL;
            fp_fail(err, "out of memory");
        } else {
            free(node->origin);
            node->origin = copy;
        }
    }
    H5Eclear2(H5E_DEFAULT);
    if (dset >= 0)
        H5Dclose(dset);
    reader_close(&r);
    return node;
}

int h5_read(fp_tree *tree, fp_error *err)
{
    h5_state *state = h5_state_open(tree->path, tree->path, err);
    if (!state)
        return -1;
    tree->state = state;
    tree->close_state = h5_state_close;

    reader r;
    hid_t root = H5I_INVALID_HID;
    H5O_info_t info;
    int rc = -1, keras = 0;
    char why[256];
    if (reader_open(&r, state, err) < 0) {
        /* message set */
    } else if ((root = H5Gopen2(state->file, "/", H5P_DEFAULT)) < 0
               || H5Oget_info2(root, &info, H5O_INFO_BASIC) < 0
               || (keras = keras_h5_detect(root)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: /: cannot open the root group: %s", tree->path, why);
    } else if (note_group(&r, root) < 0) {
        /* message set */
    } else if (keras) {
        /* Keras' own order and names (layer_names x weight_names), doc/contract.md §4. */
        tree->keras = FP_KERAS_H5;
        if ((tree->root = keras_h5_read(state, root, err)))
            rc = 0;
    } else if ((keras = keras3_weights_detect(root)) < 0) {
        h5_reason(why, sizeof why);
        fp_fail(err, "%s: /: cannot inspect the root group: %s", tree->path, why);
    } else if (keras && fp_keras_arch) {
        /* a Keras 3 save_weights file and its architecture: as in a .keras zip */
        cJSON *model = NULL;
        tree->keras = FP_KERAS3_WEIGHTS;
        if (keras_config_load(NULL, tree->path, NULL, &model, err) == 0
            && (tree->root = keras3_read_tree(state, model, err)))
            rc = 0;
        cJSON_Delete(model);
    } else {
        /* (without --arch a Keras 3 weights file reads as plain HDF5, marked) */
        tree->keras = keras ? FP_KERAS3_WEIGHTS_RAW : FP_KERAS_NONE;
        r.stack[r.depth++] = (object_id){ info.fileno, info.addr };
        if ((tree->root = read_group(&r, root)))
            rc = 0;
    }
    if (rc == 0)   /* data over metadata: rebuild would destroy the copy it patches */
        rc = h5_state_check_overlap(state, err);
    if (root >= 0)
        H5Gclose(root);
    reader_close(&r);
    return rc;
}
