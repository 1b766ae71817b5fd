/*
 * The public calls on a built net: checking X and Y against the model,
 * planning the buffers of a batch, and running the per-precision passes.
 * No arithmetic on the data happens here; that is the kernels' job.
 */
#include "compute_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flux's names of the losses, in fp_loss's order: one list, made into the
 * table and into the text messages list them in. */
#define LOSSES(NAME) NAME("sumsq") NAME("mse") NAME("sse") NAME("mae") NAME("huber") \
    NAME("crossentropy") NAME("logitcrossentropy") NAME("binarycrossentropy")         \
    NAME("logitbinarycrossentropy")
#define LOSS_ENTRY(name) name,
#define LOSS_LISTED(name) ", " name
static const char *const loss_names[FP_LOSS_COUNT] = { LOSSES(LOSS_ENTRY) };
static const char loss_list[] = LOSSES(LOSS_LISTED);

int fp_loss_parse(const char *name, fp_loss *out)
{
    for (int i = 0; i < FP_LOSS_COUNT; i++) {
        if (!strcmp(name, loss_names[i])) {
            *out = (fp_loss)i;
            return 0;
        }
    }
    if (!strcmp(name, "huber_loss")) {   /* Flux's own name */
        *out = FP_LOSS_HUBER;
        return 0;
    }
    return -1;
}

const char *fp_loss_name(fp_loss loss) { return loss < FP_LOSS_COUNT ? loss_names[loss] : "?"; }
int fp_loss_needs_target(fp_loss loss) { return loss != FP_LOSS_SUMSQ; }

const char *fp_loss_names(void)
{
    return loss_list + 2;   /* (past the first ", ") */
}

int fp_device_usable(const char *device, fp_error *err)
{
    char why[256];
    if (fp_backend_find(device, why, sizeof why))
        return 1;
    fp_fail(err, "--device %s: %s", device, why);
    return 0;
}

fp_dtype fp_net_precision(const fp_net *net) { return net->precision; }
uint64_t fp_net_n_params(const fp_net *net) { return net->n_params; }
uint64_t fp_net_in_features(const fp_net *net) { return net->in_features; }
void *fp_net_params(fp_net *net) { return net->params; }
const void *fp_net_grads(const fp_net *net) { return net->grads; }

/* A sample's shape through the layers, from in to *out; into plan's shapes
 * when plan is non-NULL. -1 with the first layer that cannot take its input. */
static int sample_shapes(const fp_net *net, const sample_shape *in, layer_plan *plan,
                         sample_shape *out, fp_error *err)
{
    *out = *in;
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        sample_shape next = *out;
        char why[256];
        if (l->type->output_shape && l->type->output_shape(l, out, &next, why, sizeof why) < 0)
            return fp_fail(err, "does not fit the model: %s: %s", *l->path ? l->path : "/", why);
        if (plan) {
            plan[i].in_shape = *out;
            plan[i].out_shape = next;
            plan[i].in_elems = shape_elems(out);
            plan[i].out_elems = shape_elems(&next);
        }
        *out = next;
    }
    return 0;
}

uint64_t fp_net_out_features(const fp_net *net, uint64_t in_features)
{
    sample_shape in = shape_vector(in_features), out;
    return sample_shapes(net, &in, NULL, &out, NULL) == 0 ? shape_elems(&out) : 0;
}

/* X's samples: rank 1 is one sample (as in PyTorch), except for a model that
 * takes one feature, where a vector file is the natural batch of scalars;
 * rank 2 rows of cols; a higher rank its dimensions after the first. */
static void input_shape(const fp_net *net, const fp_matrix *x, uint64_t *rows,
                        sample_shape *sample)
{
    if (x->rank == 1 && net->in_features != 1) {
        *rows = 1;
        *sample = shape_vector(x->rows);
    } else if (x->rank <= 2) {
        *rows = x->rows;
        *sample = shape_vector(x->cols);
    } else {
        *rows = x->rows;
        sample->rank = x->rank - 1;
        for (int i = 1; i < x->rank; i++)
            sample->dim[i - 1] = x->shape[i];
    }
}

void fp_net_input_shape(const fp_net *net, const fp_matrix *x, uint64_t *rows,
                        sample_shape *sample)
{
    input_shape(net, x, rows, sample);
}

/* The output of the layers for X: rows samples of shape *out. */
static int output_shape(const fp_net *net, const fp_matrix *x, uint64_t *rows, sample_shape *out,
                        fp_error *err)
{
    sample_shape in;
    input_shape(net, x, rows, &in);
    return sample_shapes(net, &in, NULL, out, err);
}

/* "rows x the sample's shape", for messages. */
static void batch_text(char *buf, size_t cap, uint64_t rows, const sample_shape *sample)
{
    char shape[96];
    shape_text(shape, sizeof shape, sample);
    snprintf(buf, cap, "%llu x %s", (unsigned long long)rows, shape);
}

int fp_net_check_input(const fp_net *net, const fp_matrix *x, fp_error *err)
{
    if (x->rank < 1 || x->rank > FP_MATRIX_MAX_RANK)
        return fp_fail(err, "has rank %d; the model takes 1 to %d", x->rank, FP_MATRIX_MAX_RANK);
    uint64_t rows, cols, elems = 1, given = 0;
    int overflow = __builtin_mul_overflow(x->rows, x->cols, &given);
    sample_shape sample, out;
    input_shape(net, x, &rows, &sample);
    cols = shape_elems(&sample);
    for (int i = 0; x->rank > 2 && i < x->rank; i++)
        overflow |= __builtin_mul_overflow(elems, x->shape[i], &elems);
    if (x->rank > 2 && (overflow || x->shape[0] != x->rows || elems != given))
        return fp_fail(err, "its shape does not match its %llu rows of %llu elements",
                       (unsigned long long)x->rows, (unsigned long long)x->cols);
    if (!fp_dtype_is_float(x->dtype) && (fp_dtype_is_complex(x->dtype) || x->dtype == FP_BOOL))
        return fp_fail(err, "holds %s; the model needs real numbers", fp_dtype_name(x->dtype));
    if (rows == 0)
        return fp_fail(err, "has no samples (rows)");
    if (net->in_features && cols != net->in_features && x->rank <= 2)
        return fp_fail(err, "has %llu feature%s per row, the model takes %llu (%s)",
                       (unsigned long long)cols, cols == 1 ? "" : "s",
                       (unsigned long long)net->in_features, net->in_why);
    if (cols == 0)
        return fp_fail(err, "has no features (columns)");
    if (rows > net->backend->max_dim || cols > net->backend->max_dim)
        return fp_fail(err, "%llu x %llu is more than the %s backend takes (%zu per dimension)",
                       (unsigned long long)rows, (unsigned long long)cols, net->backend->name,
                       net->backend->max_dim);
    return sample_shapes(net, &sample, NULL, &out, err);
}

/* A vector of integer class labels instead of one-hot rows. */
static int takes_labels(fp_loss loss, uint64_t rows, uint64_t classes, const fp_matrix *y)
{
    return (loss == FP_LOSS_CROSSENTROPY || loss == FP_LOSS_LOGITCROSSENTROPY) && classes > 1
           && (y->rank == 1 || (y->rank == 2 && y->cols == 1)) && y->rows == rows;
}

/* Reads element i of y as a double (y may hold any real dtype). */
static double element(const fp_matrix *y, uint64_t i)
{
    double v;
    size_t size = fp_dtype_size(y->dtype);
    fp_convert(&v, FP_F64, (const char *)y->data + i * size, y->dtype, 1, NULL);
    return v;
}

int fp_net_check_target(const fp_net *net, const fp_matrix *x, const fp_matrix *y,
                        fp_loss loss, fp_error *err)
{
    uint64_t rows;
    sample_shape out;
    if (output_shape(net, x, &rows, &out, err) < 0)
        return -1;
    uint64_t classes = shape_elems(&out);
    if (!fp_loss_needs_target(loss))
        return y ? fp_fail(err, "the loss %s takes no target", fp_loss_name(loss)) : 0;
    if (!y)
        return fp_fail(err, "the loss %s needs a target Y", fp_loss_name(loss));
    if (fp_dtype_is_complex(y->dtype))
        return fp_fail(err, "holds %s; targets must be real", fp_dtype_name(y->dtype));
    if (takes_labels(loss, rows, classes, y)) {
        for (uint64_t i = 0; i < y->rows; i++) {
            double label = element(y, i);
            if (!(label >= 0 && label < (double)classes && label == floor(label)))
                return fp_fail(err, "element %llu is %g, not a class label in 0..%llu "
                               "(labels are 0-based)", (unsigned long long)i, label,
                               (unsigned long long)classes - 1);
        }
        return 0;
    }
    int same = y->rank == 2 ? y->rows == rows && y->cols == classes
                            : y->rows == rows * classes && (rows == 1 || classes == 1);
    if (y->rank > 2) {   /* the output's own shape */
        same = y->rank == out.rank + 1 && y->shape[0] == rows;
        for (int i = 1; same && i < y->rank; i++)
            same = y->shape[i] == out.dim[i - 1];
    }
    if (!same) {
        char shape[128], output[128];
        if (y->rank == 2)
            snprintf(shape, sizeof shape, "shape %llu x %llu", (unsigned long long)y->rows,
                     (unsigned long long)y->cols);
        else if (y->rank > 2) {
            sample_shape y_sample = { y->rank - 1, { 0 } };
            for (int i = 1; i < y->rank; i++)
                y_sample.dim[i - 1] = y->shape[i];
            char text[112];
            batch_text(text, sizeof text, y->shape[0], &y_sample);
            snprintf(shape, sizeof shape, "shape %s", text);
        } else
            snprintf(shape, sizeof shape, "%llu elements", (unsigned long long)y->rows);
        batch_text(output, sizeof output, rows, &out);
        return fp_fail(err, "has %s, the model's output for X is %s%s", shape, output,
                       loss == FP_LOSS_CROSSENTROPY || loss == FP_LOSS_LOGITCROSSENTROPY
                           ? " (one-hot rows, or one 0-based label per sample)" : "");
    }
    return 0;
}

/* Element offsets of every buffer for rows samples of shape sample; grows
 * the workspace. Per layer: its output, its output before the activation (if
 * it has one), its kind's scratch; a reshaping layer takes none of its own.
 * Then two delta buffers and the target, rows x the widest layer each. */
static int plan_batch(fp_net *net, uint64_t rows, const sample_shape *sample, fp_error *err)
{
    if (net->work && net->rows == rows && shape_equal(&net->in_shape, sample))
        return 0;
    net->in_shape.rank = -1;   /* no plan, until this one is made */
    sample_shape out;
    if (sample_shapes(net, sample, net->plan, &out, err) < 0)
        return -1;
    uint64_t at = 0, max_width = shape_elems(sample);
    int overflow = 0;
#define TAKE(n) (overflow |= __builtin_add_overflow(at, (n), &at))
    for (size_t i = 0; i < net->n_layers; i++) {
        const layer *l = &net->layers[i];
        layer_plan *p = &net->plan[i];
        max_width = p->out_elems > max_width ? p->out_elems : max_width;
        if (l->type->flags & LAYER_RESHAPES) {   /* its input's buffer, reshaped */
            p->out_at = p->pre_at = i == 0 ? PLAN_AT_INPUT : net->plan[i - 1].out_at;
            p->scratch_at = 0;
            continue;
        }
        uint64_t block;
        overflow |= __builtin_mul_overflow(rows, p->out_elems, &block);
        p->out_at = at;
        TAKE(block);
        p->pre_at = p->out_at;
        if (l->act != ACT_IDENTITY && !(l->type->flags & LAYER_ONLY_ACTIVATION)) {
            p->pre_at = at;
            TAKE(block);
        }
        p->scratch_at = at;
        if (l->type->scratch && !overflow)
            TAKE(l->type->scratch(l, p, rows));
    }
    uint64_t delta;
    overflow |= __builtin_mul_overflow(rows, max_width, &delta);
    net->delta_at[0] = at;
    TAKE(delta);
    net->delta_at[1] = at;
    TAKE(delta);
    net->target_at = at;
    TAKE(delta);
#undef TAKE
    size_t elem = fp_dtype_size(net->precision);
    if (overflow || at > SIZE_MAX / elem)
        return fp_fail(err, "a batch of %llu rows needs more memory than can be addressed",
                       (unsigned long long)rows);
    if (at > net->work_elems) {
        void *grown = realloc(net->work, at * elem);
        if (!grown)
            return fp_fail(err, "out of memory for %llu bytes of activations",
                           (unsigned long long)(at * elem));
        net->work = grown;
        net->work_elems = at;
    }
    net->rows = rows;
    net->in_shape = *sample;
    net->in_elems = shape_elems(sample);
    net->planned_elems = at;
    return 0;
}

/* Checks X (and Y), plans the batch, and returns X in the compute dtype
 * (*owned is the converted copy to free, or NULL). */
/* X (and with with_target, Y) fit the net; messages say which. */
static int check_batch(const fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                       int with_target, fp_error *err)
{
    if (fp_net_check_input(net, x, err) < 0)
        return fp_fail_prefix(err, "X");
    if (with_target && fp_net_check_target(net, x, y, loss, err) < 0)
        return fp_fail_prefix(err, "Y");
    return 0;
}

static int prepare(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                   int with_target, const void **x_data, void **owned, fp_error *err)
{
    *owned = NULL;
    uint64_t rows;
    sample_shape sample;
    input_shape(net, x, &rows, &sample);
    uint64_t cols = shape_elems(&sample);
    if (check_batch(net, x, y, loss, with_target, err) < 0)
        return -1;
    if (plan_batch(net, rows, &sample, err) < 0)
        return -1;
    size_t elem = fp_dtype_size(net->precision);
    if (with_target && y) {
        void *target = (char *)net->work + net->target_at * elem;
        uint64_t classes = net->plan[net->n_layers - 1].out_elems;
        if (takes_labels(loss, rows, classes, y)) {   /* one-hot rows */
            memset(target, 0, rows * classes * elem);
            double one = 1;
            for (uint64_t r = 0; r < rows; r++)
                fp_convert((char *)target + (r * classes + (uint64_t)element(y, r)) * elem,
                           net->precision, &one, FP_F64, 1, NULL);
        } else {
            fp_convert(target, net->precision, y->data, y->dtype, rows * classes, NULL);
        }
    }
    *x_data = x->data;
    if (x->dtype != net->precision) {
        if (!(*owned = malloc(rows * cols * elem)))
            return fp_fail(err, "out of memory for X in %s", fp_dtype_name(net->precision));
        fp_convert(*owned, net->precision, x->data, x->dtype, rows * cols, NULL);
        *x_data = *owned;
    }
    return 0;
}

int fp_net_device_failed(fp_net *net, fp_error *err)
{
    char why[256];
    if (net->backend->failed && net->backend->failed(why, sizeof why))
        return fp_fail(err, "%s", why);
    return 0;
}

/* Rows [at, at + k) of a batch matrix (X, or Y: a target row or label per sample). */
static fp_matrix rows_of(const fp_matrix *m, uint64_t at, uint64_t k)
{
    fp_matrix part = *m;
    part.rows = k;
    part.shape[0] = m->rank > 2 ? k : m->shape[0];
    part.data = (char *)m->data + at * m->cols * fp_dtype_size(m->dtype);
    return part;
}

/* A batch's activations grow with its rows (for an MLP 64-128-96-8 in f32, 17
 * times X's bytes), so predict and gradient take a big X this many bytes of
 * activations at a time (knob, FLATPARAMS_PREDICT_ROWS or _GRADIENT_ROWS: tests,
 * rows at a time). Not in train mode, where BatchNorm normalises with the whole
 * batch's statistics. */
#define PREDICT_WORK_BYTES ((uint64_t)64 << 20)

static uint64_t block_rows(fp_net *net, const fp_matrix *x, uint64_t rows,
                           const sample_shape *sample, const char *knob, fp_error *err)
{
    const char *forced = getenv(knob);
    char *end;
    if (net->train_mode || rows < 2 || (x->rank == 1 && net->in_features != 1))
        return rows;   /* (a vector: one sample, or a batch of scalars) */
    unsigned long long asked = forced ? strtoull(forced, &end, 10) : 0;
    if (forced && end != forced && !*end && asked > 0 && forced[0] != '-')
        return (uint64_t)asked;   /* (anything else: not a row count, ignored) */
    if (plan_batch(net, 1, sample, err) < 0)   /* one row's plan: the bytes a row takes */
        return 0;
    uint64_t per_row = net->planned_elems * fp_dtype_size(net->precision);
    uint64_t k = per_row ? PREDICT_WORK_BYTES / per_row : rows;
    return k < 1 ? 1 : k;
}

int fp_predict(fp_net *net, const fp_matrix *x, fp_matrix *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    uint64_t rows;
    sample_shape sample, out_shape;
    input_shape(net, x, &rows, &sample);
    if (check_batch(net, x, NULL, FP_LOSS_SUMSQ, 0, err) < 0)
        return -1;
    if (sample_shapes(net, &sample, NULL, &out_shape, err) < 0)
        return -1;
    uint64_t step = block_rows(net, x, rows, &sample, "FLATPARAMS_PREDICT_ROWS", err);
    if (step == 0 && rows > 0)
        return -1;
    step = step ? step : 1;   /* (no rows: one empty pass, as before) */
    size_t elem = fp_dtype_size(net->precision);
    uint64_t out_cols = shape_elems(&out_shape), bytes = rows * out_cols * elem;
    if (!(out->data = malloc(bytes > 0 ? bytes : 1)))
        return fp_fail(err, "out of memory for the output");
    for (uint64_t at = 0; at < rows || at == 0; at += step) {
        uint64_t k = rows - at < step ? rows - at : step;
        fp_matrix part = step < rows ? rows_of(x, at, k) : *x;
        const void *x_data = NULL;
        void *owned = NULL;
        if (prepare(net, &part, NULL, FP_LOSS_SUMSQ, 0, &x_data, &owned, err) < 0)
            goto fail;
        net->ops->forward(net, x_data);
        free(owned);
        if (fp_net_device_failed(net, err) < 0)
            goto fail;
        const layer_plan *last = &net->plan[net->n_layers - 1];
        memcpy((char *)out->data + at * out_cols * elem,
               (char *)net->work + last->out_at * elem, net->rows * last->out_elems * elem);
        if (rows == 0)
            break;
    }
    out->rank = out_shape.rank > 1 ? out_shape.rank + 1 : 2;
    out->rows = rows;
    out->cols = out_cols;
    out->shape[0] = rows;
    for (int i = 0; out->rank > 2 && i < out_shape.rank; i++)
        out->shape[i + 1] = out_shape.dim[i];
    out->dtype = net->precision;
    return 0;
fail:
    free(out->data);
    out->data = NULL;
    return -1;
}

int fp_net_prepare(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                   int with_target, const void **x_data, void **owned, fp_error *err)
{
    return prepare(net, x, y, loss, with_target, x_data, owned, err);
}

/* The forward pass, the loss, and with with_grad the backward pass. */
static int run_passes(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                      int with_grad, double *value, fp_error *err)
{
    const void *x_data = NULL;
    void *owned = NULL;
    if (prepare(net, x, y, loss, 1, &x_data, &owned, err) < 0)
        return -1;
    net->ops->forward(net, x_data);
    *value = net->ops->loss(net, loss, with_grad);
    if (with_grad)
        net->ops->backward(net, x_data);
    free(owned);
    return fp_net_device_failed(net, err);
}

int fp_loss_value(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                  double *value, fp_error *err)
{
    return run_passes(net, x, y, loss, 0, value, err);
}

/* The gradient of a big batch, a block of rows at a time like predict (a
 * loss is a sum over rows, or a mean, which is the blocks' means weighted by
 * their share of the rows), summed in double. Not in train mode (BatchNorm's
 * statistics are the whole batch's). */
static int gradient_in_blocks(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                              uint64_t rows, uint64_t step, void *grad_out, double *value,
                              fp_error *err)
{
    uint64_t n = net->n_params;
    double *sum = calloc(n ? n : 1, sizeof *sum), part[1024];
    double total = 0;
    int rc = sum ? 0 : fp_fail(err, "out of memory for the gradient's sum");
    int mean = loss != FP_LOSS_SUMSQ && loss != FP_LOSS_SSE;
    for (uint64_t at = 0; rc == 0 && at < rows; at += step) {
        uint64_t k = rows - at < step ? rows - at : step;
        fp_matrix xs = rows_of(x, at, k), ys = y ? rows_of(y, at, k) : xs;
        double v, w = mean ? (double)k / (double)rows : 1;
        if ((rc = run_passes(net, &xs, y ? &ys : NULL, loss, 1, &v, err)) < 0)
            break;
        total += w * v;
        size_t elem = fp_dtype_size(net->precision);
        for (uint64_t i0 = 0; i0 < n; i0 += 1024) {   /* in double, 1024 at a time */
            size_t m = n - i0 < 1024 ? (size_t)(n - i0) : 1024;
            fp_convert(part, FP_F64, (char *)net->grads + i0 * elem, net->precision, m, NULL);
            for (size_t i = 0; i < m; i++)
                sum[i0 + i] += w * part[i];
        }
    }
    if (rc == 0 && value)
        *value = total;
    if (rc == 0)   /* (fp_net_grads: the whole batch's, as after one pass) */
        fp_convert(net->grads, net->precision, sum, FP_F64, n, NULL);
    if (rc == 0 && grad_out)
        memcpy(grad_out, net->grads, n * fp_dtype_size(net->precision));
    free(sum);
    return rc;
}

int fp_gradient(fp_net *net, const fp_matrix *x, const fp_matrix *y, fp_loss loss,
                void *grad_out, double *value, fp_error *err)
{
    uint64_t rows;
    sample_shape sample;
    input_shape(net, x, &rows, &sample);
    if (check_batch(net, x, y, loss, 1, err) < 0)   /* (the whole batch, before blocks) */
        return -1;
    uint64_t step = block_rows(net, x, rows, &sample, "FLATPARAMS_GRADIENT_ROWS", err);
    if (step == 0 && rows > 0)
        return -1;
    if (step > 0 && step < rows && (!y || y->rows == rows))
        return gradient_in_blocks(net, x, y, loss, rows, step, grad_out, value, err);
    double v;
    if (run_passes(net, x, y, loss, 1, &v, err) < 0)
        return -1;
    if (value)
        *value = v;
    if (grad_out)
        memcpy(grad_out, net->grads, net->n_params * fp_dtype_size(net->precision));
    return 0;
}
