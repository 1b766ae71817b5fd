/* Keras 3 .keras files (doc/contract.md §4): a zip of config.json, metadata.json and
 * model.weights.h5, whose layers are the groups layers/<snake_case class>[_n]
 * holding vars/0, vars/1, ... The tree is built from config.json, in its layer
 * order (keras3_tree.c); the weights file is extracted to a private temporary
 * file in $TMPDIR that is unlinked as soon as HDF5 has it open, so nothing is
 * left behind whatever happens next.
 *
 * Rebuild: rebuild's byte copy of the zip gets a patched copy of the weights
 * (the HDF5 format's in-place patch, through each array's origin) in place of
 * model.weights.h5; every other entry is copied by libzip unchanged. */
#include "hdf5_internal.h"
#include "keras_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#define WEIGHTS_ENTRY "model.weights.h5"
#define CONFIG_ENTRY "config.json"
#define MAX_CONFIG_BYTES ((zip_uint64_t)256 << 20)

static int probe(const unsigned char *head, size_t n_head)
{
    return n_head >= 4 && !memcmp(head, "PK\3\4", 4);
}

static zip_t *open_zip(const char *path, int flags, const char *name, fp_error *err)
{
    int code = 0;
    zip_t *zip = zip_open(path, flags, &code);
    if (!zip) {
        zip_error_t error;
        zip_error_init_with_code(&error, code);
        fp_fail(err, "%s: cannot open as a zip archive: %s", name, zip_error_strerror(&error));
        zip_error_fini(&error);
    }
    return zip;
}

/* What a zip that is no .keras file holds, for the message: PyTorch's
 * torch.save (.pt, .pth: a data.pkl inside) and NumPy's .npz are zips too. */
static const char *zip_kind(zip_t *zip)
{
    zip_int64_t n = zip_get_num_entries(zip, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *entry = zip_get_name(zip, (zip_uint64_t)i, 0);
        size_t len = entry ? strlen(entry) : 0;
        if (len >= 8 && !strcmp(entry + len - 8, "data.pkl"))
            return "a PyTorch torch.save checkpoint (pickled Python, not read: save the "
                   "state_dict with safetensors' save_file)";
        if (len >= 4 && !strcmp(entry + len - 4, ".npy"))
            return "a NumPy .npz archive (arrays without a model: np.save each, or write the "
                   "model as JSON or HDF5)";
    }
    return "not a Keras 3 .keras file";
}

/* A decompression bomb (a zip of a few MB whose weights inflate to gigabytes
 * in $TMPDIR) is refused before a byte is written: past INFLATION_FREE_BYTES,
 * an entry may inflate to at most MAX_INFLATION times its compressed size.
 * Keras stores its entries uncompressed, and deflate shrinks model weights far
 * less (HDF5's padding, at most about 20 times in small files). Extraction
 * stops at the declared size (libzip 1.7 would inflate on), so the declared
 * sizes bound what is written. The HDF5 end-of-file address could not bound
 * it: the bomb's own superblock declares it. */
#define MAX_INFLATION 100
#define INFLATION_FREE_BYTES ((zip_uint64_t)64 << 20)

/* The entry's index and stat, or -1 with the reason: missing, named twice
 * (libzip finds the first, Python's zipfile and so Keras the last), or a bomb. */
static zip_int64_t locate(zip_t *zip, const char *entry, const char *name, zip_stat_t *st,
                          fp_error *err)
{
    zip_int64_t index = zip_name_locate(zip, entry, 0), n_named = 0;
    if (index < 0) {
        fp_fail(err, "%s: no %s in the zip: %s", name, entry, zip_kind(zip));
        return -1;
    }
    zip_int64_t n = zip_get_num_entries(zip, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *other = zip_get_name(zip, (zip_uint64_t)i, 0);
        n_named += other && !strcmp(other, entry);
    }
    if (n_named > 1) {
        fp_fail(err, "%s: the zip holds %lld entries named %s (Keras reads the last, libzip "
                     "the first): refused", name, (long long)n_named, entry);
        return -1;
    }
    if (zip_stat_index(zip, (zip_uint64_t)index, 0, st) < 0 || !(st->valid & ZIP_STAT_SIZE)
        || !(st->valid & ZIP_STAT_COMP_SIZE)) {
        fp_fail(err, "%s: %s: cannot read: %s", name, entry, zip_strerror(zip));
        return -1;
    }
    if (st->size > INFLATION_FREE_BYTES && st->size / MAX_INFLATION > st->comp_size) {
        fp_fail(err, "%s: %s inflates %llu bytes of the zip to %llu, more than %d times: "
                     "refused as a decompression bomb (store it uncompressed, as Keras does)",
                name, entry, (unsigned long long)st->comp_size, (unsigned long long)st->size,
                MAX_INFLATION);
        return -1;
    }
    return index;
}

/* A small entry as a NUL-terminated string. */
static char *read_text_entry(zip_t *zip, const char *entry, const char *name, fp_error *err)
{
    zip_stat_t st;
    zip_int64_t index = locate(zip, entry, name, &st, err);
    if (index < 0)
        return NULL;
    if (st.size > MAX_CONFIG_BYTES) {
        fp_fail(err, "%s: %s: %llu bytes is too large for a Keras config", name, entry,
                (unsigned long long)st.size);
        return NULL;
    }
    char *text = malloc((size_t)st.size + 1);
    zip_file_t *f = text ? zip_fopen_index(zip, (zip_uint64_t)index, 0) : NULL;
    zip_int64_t got = f ? zip_fread(f, text, st.size) : -1;
    if (!text)
        fp_fail(err, "out of memory");
    else if (got < 0 || (zip_uint64_t)got != st.size)
        fp_fail(err, "%s: %s: cannot read: %s", name, entry,
                f ? zip_file_strerror(f) : zip_strerror(zip));
    if (f)
        zip_fclose(f);
    if (!text || got < 0 || (zip_uint64_t)got != st.size) {
        free(text);
        return NULL;
    }
    text[st.size] = 0;
    return text;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Removes the extracted weights of processes no longer running: a child
 * killed while extracting a huge (or bomb) weights file leaves its file. */
static void remove_orphans(void)
{
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    DIR *d = opendir(dir);
    if (!d)
        return;
    static const char prefix[] = "flatparams-keras-";
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end, path[4096];
        if (strncmp(e->d_name, prefix, sizeof prefix - 1))
            continue;
        long pid = strtol(e->d_name + sizeof prefix - 1, &end, 10);
        if (end == e->d_name + sizeof prefix - 1 || *end != '-' || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* Extracts model.weights.h5 to a new private file in $TMPDIR (or /tmp), named
 * with the pid (for remove_orphans); the caller unlinks *out_path. */
static int extract_weights(zip_t *zip, const char *name, char **out_path, fp_error *err)
{
    *out_path = NULL;
    zip_stat_t st;
    zip_int64_t index = locate(zip, WEIGHTS_ENTRY, name, &st, err);
    if (index < 0)
        return -1;
    const char *dir = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/flatparams-keras-%ld-XXXXXX.h5", dir && *dir ? dir : "/tmp",
                 (long)getpid()) < 0)
        return fp_fail(err, "out of memory");
    int fd = mkstemps(path, 3);
    if (fd < 0) {
        fp_fail(err, "%s: cannot create a temporary file %s: %s", name, path, strerror(errno));
        free(path);
        return -1;
    }
    fp_temporary_track(path);   /* removed on SIGINT or SIGTERM too */
    zip_file_t *f = zip_fopen_index(zip, (zip_uint64_t)index, 0);
    int rc = f ? 0 : fp_fail(err, "%s: %s: cannot extract: %s", name, WEIGHTS_ENTRY, zip_strerror(zip));
    char buf[1 << 15];
    zip_int64_t got;
    zip_uint64_t written = 0;
    while (rc == 0 && (got = zip_fread(f, buf, sizeof buf)) != 0) {
        if (got < 0)
            rc = fp_fail(err, "%s: %s: cannot extract: %s", name, WEIGHTS_ENTRY, zip_file_strerror(f));
        else if ((written += (zip_uint64_t)got) > st.size)   /* libzip 1.7 reads on */
            rc = fp_fail(err, "%s: %s inflates past its declared %llu bytes: refused", name,
                         WEIGHTS_ENTRY, (unsigned long long)st.size);
        else if (write_all(fd, buf, (size_t)got) < 0)
            rc = fp_fail(err, "%s: cannot write %s: %s", name, path, strerror(errno));
    }
    if (f)
        zip_fclose(f);
    if (close(fd) < 0 && rc == 0)
        rc = fp_fail(err, "%s: cannot write %s: %s", name, path, strerror(errno));
    if (rc < 0) {
        fp_temporary_untrack(path);
        unlink(path);
        free(path);
        return -1;
    }
    *out_path = path;
    return 0;
}

static int keras_read(fp_tree *tree, fp_error *err)
{
    zip_t *zip = open_zip(tree->path, ZIP_RDONLY, tree->path, err);
    if (!zip)
        return -1;
    char *config = read_text_entry(zip, CONFIG_ENTRY, tree->path, err), *h5_path = NULL;
    int rc = config ? extract_weights(zip, tree->path, &h5_path, err) : -1;
    zip_discard(zip);
    h5_state *state = NULL;
    if (rc == 0) {
        state = h5_state_open(h5_path, tree->path, err);
        fp_temporary_untrack(h5_path);
        unlink(h5_path);   /* HDF5 keeps it open; nothing to clean up later */
        free(h5_path);
        rc = state ? 0 : -1;
    }
    cJSON *model = NULL;
    if (rc == 0) {
        tree->state = state;
        tree->close_state = h5_state_close;
        rc = keras_config_load(config, tree->path, CONFIG_ENTRY, &model, err);
    }
    if (rc == 0 && !model)
        rc = fp_fail(err, "%s: %s is empty", tree->path, CONFIG_ENTRY);
    if (rc == 0 && !(tree->root = keras3_read_tree(state, model, err)))
        rc = -1;
    tree->keras = FP_KERAS_ZIP;
    cJSON_Delete(model);
    free(config);
    return rc;
}

/* ---- rebuild */

typedef struct zip_patch {
    zip_t *zip;             /* rebuild's byte copy, rewritten on commit */
    zip_uint64_t index;     /* of model.weights.h5 */
    char *h5_path;          /* the extracted weights being patched */
    void *h5_patch;         /* the HDF5 format's patch of h5_path */
    char *name;             /* the model, for messages */
} zip_patch;

static void patch_free(zip_patch *patch)
{
    if (patch->zip)
        zip_discard(patch->zip);
    if (patch->h5_path) {
        fp_temporary_untrack(patch->h5_path);
        unlink(patch->h5_path);
    }
    free(patch->h5_path);
    free(patch->name);
    free(patch);
}

static int patch_open(const char *path, const fp_tree *tree, void **out, fp_error *err)
{
    *out = NULL;
    zip_patch *patch = calloc(1, sizeof *patch);
    if (!patch || !(patch->name = strdup(tree->path))) {
        free(patch);
        return fp_fail(err, "out of memory");
    }
    zip_int64_t index = -1;
    zip_stat_t st;
    if (!(patch->zip = open_zip(path, 0, tree->path, err))
        || (index = locate(patch->zip, WEIGHTS_ENTRY, tree->path, &st, err)) < 0
        || extract_weights(patch->zip, tree->path, &patch->h5_path, err) < 0
        || fp_format_hdf5.patch_open(patch->h5_path, tree, &patch->h5_patch, err) < 0) {
        patch_free(patch);
        return -1;
    }
    patch->index = (zip_uint64_t)index;
    *out = patch;
    return 0;
}

static int patch_array(void *vpatch, const fp_node *arr, const void *data, fp_error *err)
{
    zip_patch *patch = vpatch;
    return fp_format_hdf5.patch_array(patch->h5_patch, arr, data, err);
}

/* Puts the patched weights in place of the old entry, with its compression
 * method and time, and lets libzip rewrite the copy (other entries verbatim;
 * the new entry's "version made by" and Unix mode bits are libzip's). */
static int replace_weights(zip_patch *patch, fp_error *err)
{
    zip_stat_t st;
    zip_source_t *src = NULL;
    if (zip_stat_index(patch->zip, patch->index, 0, &st) < 0
        || !(src = zip_source_file(patch->zip, patch->h5_path, 0, -1))
        || zip_file_replace(patch->zip, patch->index, src, 0) < 0) {
        if (src)
            zip_source_free(src);
        return fp_fail(err, "%s: cannot replace %s: %s", patch->name, WEIGHTS_ENTRY,
                       zip_strerror(patch->zip));
    }
    if (((st.valid & ZIP_STAT_COMP_METHOD)
         && zip_set_file_compression(patch->zip, patch->index, st.comp_method, 0) < 0)
        || ((st.valid & ZIP_STAT_MTIME) && zip_file_set_mtime(patch->zip, patch->index, st.mtime, 0) < 0))
        return fp_fail(err, "%s: cannot keep %s's compression and time: %s", patch->name,
                       WEIGHTS_ENTRY, zip_strerror(patch->zip));
    if (zip_close(patch->zip) < 0)
        return fp_fail(err, "%s: cannot write the new zip: %s", patch->name, zip_strerror(patch->zip));
    patch->zip = NULL;
    return 0;
}

static int patch_close(void *vpatch, int commit, fp_error *err)
{
    zip_patch *patch = vpatch;
    if (!patch)
        return 0;
    int rc = fp_format_hdf5.patch_close(patch->h5_patch, commit, err);
    if (rc == 0 && commit)
        rc = replace_weights(patch, err);
    patch_free(patch);
    return rc;
}

/* Writing a .keras from another format would need Keras' object graph. */
static int keras_write(const char *path, const fp_node *root, const fp_array_source *src,
                       fp_error *err)
{
    (void)root; (void)src;
    return fp_fail(err, "%s: a .keras file can only be written by rebuild from a .keras model "
                        "(write .h5 or .json instead)", path);
}

static const char *const extensions[] = { ".keras", NULL };

const fp_format fp_format_keras = {
    .name = "keras",
    .extensions = extensions,
    .probe = probe,
    .read = keras_read,
    .write = keras_write,
    .patch_open = patch_open,
    .patch_array = patch_array,
    .patch_close = patch_close,
    .isolate_read = 1,   /* libhdf5 reads the weights */
    .after_failed_child = remove_orphans,
};
