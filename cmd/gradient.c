/* flatparams gradient: the gradient of a loss with respect to the flat vector,
 * in flat order, or (--nested) as a tree shaped like the model. */
#include "compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The gradient, for compute_timed (FLATPARAMS_TIME: bench/gradient reads it). */
typedef struct gradient_job {
    compute_session *s;
    const fp_matrix *y;
    fp_loss loss;
    double *value;
} gradient_job;

static int gradient_once(void *ctx, fp_error *err)
{
    gradient_job *g = ctx;
    return fp_gradient(g->s->net, &g->s->x, g->y, g->loss, NULL, g->value, err);
}

/* fp_array_source for writing the gradient tree: its arrays hold their data. */
static int fill_from_node(void *ctx, const fp_node *arr, void *dst, fp_error *err)
{
    (void)ctx;
    (void)err;
    memcpy(dst, arr->data, fp_array_bytes(arr));
    return 0;
}

static int write_nested(const cmd_opts *opts, compute_session *s, const fp_format *fmt,
                        fp_error *err)
{
    fp_node *tree = fp_nested_tree(s->tree.root, &s->layout, fp_net_grads(s->net),
                                   fp_net_precision(s->net), compute_out_dtype(opts, s), err);
    if (!tree)
        return -1;
    fp_outfile out;
    fp_array_source src = { fill_from_node, NULL };
    int rc = fp_outfile_reserve(&out, opts->output, err);
    if (rc == 0) {
        rc = fmt->write(out.tmp_path, tree, &src, err);
        if (rc == 0)
            rc = fp_outfile_commit(&out, err);
        else {
            fp_outfile_name_target(&out, err);
            fp_outfile_abort(&out);
        }
    }
    fp_node_release(tree);
    return rc;
}

static int run(cmd_opts *opts)
{
    fp_loss loss;
    int usage = compute_parse_loss(&cmd_gradient, opts, &loss);
    if (usage)
        return usage;
    const fp_format *nested_fmt = NULL;
    if (opts->nested) {
        if (!opts->output || !strcmp(opts->output, "-")
            || !(nested_fmt = fp_format_for_output(opts->output, opts->format)))
            return cmd_usage_error(&cmd_gradient, "--nested writes a model file: give -o OUT.json "
                                                  "or -o OUT.h5 (--format json|hdf5 for another "
                                                  "name)");
    }
    compute_session s;
    int rc = compute_open(&cmd_gradient, opts, &s);
    if (rc)
        return rc;
    fp_error err;
    fp_matrix y = { 0 };
    if (opts->y) {
        rc = compute_read_batch(opts, &s, opts->y, &y, &err);
        if (rc == 0 && (rc = fp_net_check_target(s.net, &s.x, &y, loss, &err)) < 0)
            fp_fail_prefix(&err, opts->y);
    }
    double value = 0;
    if (rc == 0)
        rc = compute_timed(gradient_once,
                           &(gradient_job){ &s, opts->y ? &y : NULL, loss, &value }, &err);
    if (rc == 0 && nested_fmt)
        rc = write_nested(opts, &s, nested_fmt, &err);
    else if (rc == 0)
        rc = compute_write(opts, &s, opts->output ? opts->output : "-", 1, fp_net_n_params(s.net), 1,
                           fp_net_grads(s.net), &err);
    if (rc == 0 && !opts->quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "%s = %.17g\n", fp_loss_name(loss), value);
    free(y.data);
    compute_close(&s);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_gradient = {
    .name = "gradient",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,x,y,loss,nested,include,exclude,all,dtype,format,precision,device,quiet,"
               "train-mode,in-format,allow-external,arch",
    .usage =
        "gradient MODEL -x X [-y Y] [--loss L] [-o OUT] [--nested] [--precision f32|f64]\n"
        "\n"
        "Writes the exact gradient of the loss with respect to the flat parameter vector,\n"
        "in the order flatten writes it (shared parameters: the sum over every use).\n"
        "\n"
        "  -x X            inputs, one sample per row: .npy .txt .csv .bin .h5 .json, or -\n"
        "  -y Y            targets, shaped like the output; for (logit)crossentropy also a\n"
        "                  vector of integer class labels, 0-based\n"
        "  --loss L        Flux.Losses' definitions: sumsq (sum(abs2, m(x)), the default\n"
        "                  without -y), mse (the default with -y), sse, mae, huber,\n"
        "                  crossentropy, logitcrossentropy, binarycrossentropy,\n"
        "                  logitbinarycrossentropy\n"
        "  -o OUT          output file (default: standard output, as text)\n"
        "  --nested        write the gradient as a tree shaped like the model (-o .json or\n"
        "                  .h5): each selected parameter's slice, null everywhere else\n"
        "  --precision P   compute in f32 or f64 (default: the flat vector's type)\n"
        "  --train-mode    BatchNorm normalises with (and differentiates through) the\n"
        "                  batch's own statistics\n"
        "  --device D      cpu (default), cuda (one error line without a usable GPU),\n"
        "                  or auto (the GPU for large jobs when one is usable)\n"
        "  --dtype T       element type of the output (default: the compute precision)\n"
        "  --format F      force the output format (npy, txt, csv, bin, h5, json; with\n"
        "                  --nested: json, hdf5)\n"
        "  --in-format F   force the format of X and Y (npy, txt, csv, bin, h5, json;\n"
        "                  default: by content and extension)\n"
        "  --include GLOB  differentiate only with respect to parameters whose path\n"
        "                  matches (repeatable); the others stay constants\n"
        "  --exclude GLOB  hold parameters whose path matches constant (repeatable)\n"
        "  --all           non-trainable parameters too (BatchNorm statistics)\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     architecture (Keras model.to_json()) of a weights-only Keras file\n"
        "  -q, --quiet     no loss line on a terminal's stderr\n",
};
