/* flatparams flatten: the model's parameters as one vector, streamed array by
 * array so memory stays at the largest array, whatever the model's size. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* An array stored in the file as it is in memory (raw_offset) is copied in
 * cache-sized pieces straight from the file: no format library, no array-sized
 * buffer (a 16 MiB buffer read then written costs two trips to memory; 256 KiB
 * pieces stay in cache between the read and the write). An array of another
 * type than the vector's (bfloat16 or float16 into float32, --dtype) is
 * converted a piece at a time on the way. */
enum { PIECE_BYTES = 256 << 10 };

static int copy_raw(int fd, const char *model, const fp_param *p, fp_dtype dtype,
                    fp_vec_writer *w, fp_error *err)
{
    static char piece[PIECE_BYTES], converted[PIECE_BYTES];
    size_t elem = fp_dtype_size(p->node->dtype), out = fp_dtype_size(dtype);
    size_t per_piece = PIECE_BYTES / (elem > out ? elem : out);
    uint64_t done = 0;
    while (done < p->n_elems) {
        size_t n = p->n_elems - done < per_piece ? (size_t)(p->n_elems - done) : per_piece;
        size_t got = 0, bad;
        while (got < n * elem) {
            ssize_t k = pread(fd, piece + got, n * elem - got,
                              (off_t)(p->node->raw_offset + (int64_t)(done * elem + got)));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return fp_fail(err, "%s: %s: cannot read data: %s", model, p->path,
                               k < 0 ? strerror(errno) : "the file ends early");
            got += (size_t)k;
        }
        const char *bytes = piece;
        if (dtype != p->node->dtype) {
            if (fp_convert(converted, dtype, piece, p->node->dtype, n, &bad) < 0)
                return fp_fail(err, "%s: %s: element %llu has a non-zero imaginary part", model,
                               p->path, (unsigned long long)(done + bad));
            bytes = converted;
        }
        if (fp_vec_writer_write(w, bytes, n, err) < 0)
            return -1;
        done += n;
    }
    return 0;
}

/* The params index (--index) into its temporary: JSON when the name ends in
 * .json, else the text table. Committed after the vector, so that a failure
 * anywhere leaves neither new file in place. */
static int write_index(fp_outfile *out, const char *name, const fp_layout *layout,
                       fp_dtype dtype, fp_error *err)
{
    size_t len = strlen(name);
    int json = len >= 5 && !strcasecmp(name + len - 5, ".json");
    int fd = out->fd == STDOUT_FILENO ? STDOUT_FILENO : dup(out->fd);
    FILE *f = fd < 0 ? NULL : fd == STDOUT_FILENO ? stdout : fdopen(fd, "w");
    if (!f) {
        if (fd >= 0)
            close(fd);
        return fp_fail(err, "%s: cannot write: %s", name, strerror(errno));
    }
    fp_layout_write_index(f, layout, dtype, json);
    int failed = fflush(f) != 0 || ferror(f);
    int saved = errno;
    if (f != stdout && fclose(f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    return failed ? fp_fail(err, "%s: cannot write: %s", name, strerror(saved)) : 0;
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static int run(cmd_opts *opts)
{
    const char *model = opts->args[0], *out_path = opts->output ? opts->output : "-";
    int usage = cmd_check_vec_format(&cmd_flatten, "format", opts->format);
    if (usage)
        return usage;
    if (opts->index && !strcmp(opts->index, out_path))
        return cmd_usage_error(&cmd_flatten, "--index %s: the vector is written there", opts->index);
    fp_error err;
    fp_tree tree;
    if (cmd_open_model(model, &tree, &err) < 0)
        return cmd_error(&err);
    fp_layout layout;
    cmd_warn_unmatched(opts, tree.root);
    if (fp_layout_build(tree.root, &opts->sel, &layout, &err) < 0) {
        fp_tree_free(&tree);
        return cmd_error(&err);
    }
    fp_dtype dtype = opts->dtype ? opts->dtype : layout.dtype;
    uint64_t shape[1] = { layout.n_elems };
    fp_vec_writer *w = NULL;
    fp_outfile index = { .fd = -1 };
    int rc = opts->index ? fp_outfile_open(&index, opts->index, &err) : 0;
    if (rc == 0 && opts->index)
        rc = write_index(&index, opts->index, &layout, dtype, &err);
    if (rc == 0)
        rc = fp_vec_writer_open(&w, out_path, opts->format, dtype, 1, shape, &err);
    void *buf = NULL;
    size_t cap = 0;
    int raw_fd = -1;
    for (size_t i = 0; rc == 0 && i < layout.n_params; i++) {
        const fp_param *p = &layout.params[i];
        if (p->node->raw_offset >= 0 && !p->node->data && host_little_endian()) {
            if (raw_fd < 0 && (raw_fd = open(tree.path, O_RDONLY | O_CLOEXEC)) < 0) {
                rc = fp_fail(&err, "%s: cannot open: %s", model, strerror(errno));
                break;
            }
            rc = copy_raw(raw_fd, model, p, dtype, w, &err);
            continue;
        }
        /* fp_array_read converts in place when the target is wider, so size for both */
        size_t src = fp_array_bytes(p->node), dst = (size_t)p->n_elems * fp_dtype_size(dtype);
        size_t need = src > dst ? src : dst;
        if (need > cap) {
            free(buf);
            cap = need;
            if (!(buf = malloc(cap))) {
                rc = fp_fail(&err, "%s: %s: out of memory for %zu bytes (this array is read "
                             "whole)", model, p->path, cap);
                break;
            }
        }
        if (fp_array_read(p->node, buf, dtype, &err) < 0) {
            rc = cmd_fail_reading_array(&err, model, p->path);
        } else {
            rc = fp_vec_writer_write(w, buf, p->n_elems, &err);
        }
    }
    free(buf);
    if (raw_fd >= 0)
        close(raw_fd);
    if (rc == 0)
        rc = fp_vec_writer_commit(w, &err);
    else if (w)
        fp_vec_writer_abort(w);
    if (rc == 0 && opts->index)
        rc = fp_outfile_commit(&index, &err);
    else if (opts->index)
        fp_outfile_abort(&index);
    fp_layout_free(&layout);
    fp_tree_free(&tree);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_flatten = {
    .name = "flatten",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,index,include,exclude,all,dtype,format,precision,device,quiet,allow-external,arch",
    .usage =
        "flatten MODEL [-o VEC] [--index FILE] [--include GLOB] [--exclude GLOB] [--all] [--dtype T]\n"
        "        [--format F]\n"
        "\n"
        "Writes the model's trainable parameters as one flat vector, depth-first in file\n"
        "order, each array's elements in row-major order (Flux's destructure).\n"
        "\n"
        "  -o VEC          output file (default: standard output, as text); the format\n"
        "                  follows the extension: .npy .txt .csv .bin .h5 .json\n"
        "  --index FILE    also write where each array lies in the vector (what\n"
        "                  'flatparams params' prints): JSON when FILE ends in .json,\n"
        "                  else the text table; written and renamed into place with VEC\n"
        "  --include GLOB  only parameters whose path matches (repeatable)\n"
        "  --exclude GLOB  drop parameters whose path matches (repeatable)\n"
        "  --all           non-trainable parameters too (BatchNorm statistics, ...)\n"
        "  --dtype T       element type of the vector (default: the promotion of all\n"
        "                  parameters, at least float32)\n"
        "  --format F      force the output format (npy, txt, csv, bin, h5, json)\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     Keras architecture (model.to_json()) for a weights-only .h5:\n"
        "                  layer types and settings\n"
        "  --precision, --device   checked, as on every command; nothing is computed here\n"
        "  -q, --quiet     quiet\n",
};
