/* The option parser shared by every subcommand, and the one error printer. */
#include "cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every option any command knows. Whether a command accepts one is its
 * `options` list, so an option that means nothing to a command is a usage error. */
typedef enum { ARG_NONE, ARG_STRING, ARG_LONG } arg_kind;
typedef struct option_def {
    const char *name;
    char short_name;
    arg_kind arg;
    size_t offset;
} option_def;

#define STR(field) ARG_STRING, offsetof(cmd_opts, field)
#define FLAG(field) ARG_NONE, offsetof(cmd_opts, field)
static const option_def option_defs[] = {
    { "output", 'o', STR(output) },
    { "index", 0, STR(index) },
    { "x", 'x', STR(x) },
    { "y", 'y', STR(y) },
    { "loss", 0, STR(loss) },
    { "hvp", 0, STR(hvp) },
    { "rows", 0, STR(rows) },
    { "which", 0, STR(which) },
    { "format", 0, STR(format) },
    { "in-format", 0, STR(in_format) },
    { "precision", 0, STR(precision) },
    { "device", 0, STR(device) },
    { "eigs", 0, ARG_LONG, offsetof(cmd_opts, eigs) },
    { "hutchinson", 0, ARG_LONG, offsetof(cmd_opts, hutchinson) },
    { "hutchpp", 0, ARG_LONG, offsetof(cmd_opts, hutchpp) },
    { "probes", 0, ARG_LONG, offsetof(cmd_opts, probes) },
    { "steps", 0, ARG_LONG, offsetof(cmd_opts, steps) },
    { "points", 0, ARG_LONG, offsetof(cmd_opts, points) },
    { "dims", 0, ARG_LONG, offsetof(cmd_opts, dims) },
    { "eigvecs", 0, STR(eigvecs) },
    { "seed", 0, STR(seed) },
    { "sigma", 0, STR(sigma) },
    { "directions", 0, STR(directions) },
    { "range", 0, STR(range) },
    { "density", 0, FLAG(density) },
    { "quiet", 'q', FLAG(quiet) },
    { "json", 0, FLAG(json) },
    { "nested", 0, FLAG(nested) },
    { "diag", 0, FLAG(diag) },
    { "trace", 0, FLAG(trace) },
    { "train-mode", 0, FLAG(train_mode) },
    { "progress", 0, FLAG(progress) },
    /* handled specially below */
    { "arch", 0, ARG_STRING, 0 },
    { "include", 0, ARG_STRING, 0 },
    { "exclude", 0, ARG_STRING, 0 },
    { "all", 0, ARG_NONE, 0 },
    { "dtype", 0, ARG_STRING, 0 },
    { "allow-external", 0, ARG_NONE, 0 },
};

/* -q of the command line, for the warnings of cmd_open_all_params. */
static int quiet;

static int accepts(const cmd *c, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = c->options; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && !strncmp(p, name, n))
            return 1;
        p = comma ? comma + 1 : p + n;
    }
    return 0;
}

static const option_def *find_option(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (arg[0] == '-' && arg[1] == '-') {
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        for (size_t i = 0; i < sizeof option_defs / sizeof option_defs[0]; i++) {
            if (strlen(option_defs[i].name) == len && !strncmp(option_defs[i].name, name, len)) {
                *inline_value = eq ? eq + 1 : NULL;
                return &option_defs[i];
            }
        }
        return NULL;
    }
    for (size_t i = 0; i < sizeof option_defs / sizeof option_defs[0]; i++) {
        if (option_defs[i].short_name && arg[1] == option_defs[i].short_name) {
            *inline_value = arg[2] ? arg + 2 : NULL;
            return &option_defs[i];
        }
    }
    return NULL;
}

int cmd_usage_error(const cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "flatparams: error: %s: ", c->name);   /* one line, as every error */
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'flatparams %s -h')\n", c->name);
    return EXIT_USAGE;
}

int cmd_parse(const cmd *c, int argc, char **argv, cmd_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->sel.include = opts->include;
    opts->sel.exclude = opts->exclude;
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || !strcmp(arg, "-")) {
            if (opts->n_args >= c->max_args)
                return cmd_usage_error(c, "unexpected argument '%s'", arg);
            opts->args[opts->n_args++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(c->usage, stdout);
            return -1;
        }
        if (!strcmp(arg, "--version")) {   /* on every command, as on none */
            printf("flatparams %s\n", FP_VERSION);
            return -1;
        }
        const char *value;
        const option_def *def = find_option(arg, &value);
        if (!def || !accepts(c, def->name))
            return cmd_usage_error(c, "no option '%s'", arg);
        if (def->arg == ARG_NONE && value)
            return cmd_usage_error(c, "option '--%s' takes no value", def->name);
        if (def->arg != ARG_NONE && !value) {
            if (i + 1 >= argc)
                return cmd_usage_error(c, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (!strcmp(def->name, "include") || !strcmp(def->name, "exclude")) {
            int inc = def->name[0] == 'i';
            size_t *n = inc ? &opts->sel.n_include : &opts->sel.n_exclude;
            if (*n >= 64)
                return cmd_usage_error(c, "too many --%s options (at most 64)", def->name);
            (inc ? opts->include : opts->exclude)[(*n)++] = value;
        } else if (!strcmp(def->name, "all")) {
            opts->sel.all = 1;
        } else if (!strcmp(def->name, "allow-external")) {
            fp_allow_external = 1;
        } else if (!strcmp(def->name, "arch")) {
            opts->arch = fp_keras_arch = value;   /* read with a Keras model; checked here */
            if (access(value, R_OK) < 0)          /* for every model, so a typo never passes */
                return cmd_errorf("%s: cannot open: %s", value, strerror(errno));
        } else if (!strcmp(def->name, "dtype")) {
            opts->dtype = fp_dtype_parse(value);
            if (opts->dtype == FP_DT_NONE)
                return cmd_usage_error(c, "unknown --dtype '%s' (float16, bfloat16, float32, "
                                          "float64, complex64, complex128, ...)", value);
        } else if (def->arg == ARG_LONG) {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (errno || *end || end == value || v < 1)   /* counts: --eigs K, --probes N, ... */
                return cmd_usage_error(c, "option '--%s' needs a positive integer, got '%s'",
                                       def->name, value);
            *(long *)((char *)opts + def->offset) = v;
        } else if (def->arg == ARG_STRING) {
            *(const char **)((char *)opts + def->offset) = value;
        } else {
            *(int *)((char *)opts + def->offset) = 1;
        }
    }
    quiet = opts->quiet;
    /* the common options' values, checked on every command (doc/contract.md §2), used or not */
    if (opts->precision && fp_dtype_parse(opts->precision) != FP_F32
        && fp_dtype_parse(opts->precision) != FP_F64)
        return cmd_usage_error(c, "--precision takes f32 or f64, got '%s'", opts->precision);
    if (opts->device && strcmp(opts->device, "cpu") && strcmp(opts->device, "cuda")
        && strcmp(opts->device, "auto"))
        return cmd_usage_error(c, "--device takes cpu, cuda or auto, got '%s'", opts->device);
    if (opts->n_args < c->min_args) {   /* named as the synopsis names it: "MODEL VEC" */
        const char *p = c->usage + strlen(c->name);
        for (int k = 0; k < opts->n_args; k++)
            p += strspn(p, " "), p += strcspn(p, " \n");
        p += strspn(p, " ");
        return cmd_usage_error(c, "missing %.*s", (int)strcspn(p, " \n"), p);
    }
    return 0;
}

int cmd_check_vec_format(const cmd *c, const char *option, const char *format)
{
    if (!format || fp_vec_format_known(format))
        return 0;
    return cmd_usage_error(c, "unknown --%s '%s' (%s)", option, format, fp_vec_format_names());
}

int cmd_error(const fp_error *err)
{
    /* One line, whatever the message holds: line breaks become spaces, and other
     * control bytes (a name from a hostile file may hold escape sequences) \xNN. */
    fputs("flatparams: error: ", stderr);
    for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++) {
        if (*p == '\n' || *p == '\r')
            fputc(' ', stderr);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
    return EXIT_BAD_INPUT;
}

int cmd_errorf(const char *fmt, ...)
{
    fp_error err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    return cmd_error(&err);
}

/* Files that read without error but whose vector is not the model's: what
 * each is, and what to do instead. */
static const struct keras_mixup {
    fp_keras_kind kind;
    const char *what, *shown_as, *instead;
} keras_mixups[] = {
    { FP_KERAS3_WEIGHTS_RAW, "a Keras 3 save_weights file, whose layers only its architecture names",
      "plain HDF5", "give --arch model.json (model.to_json())" },
    { FP_KERAS_ARCH_ONLY, "a Keras architecture (model.to_json()) without weights", "plain JSON",
      "pass the weights file as MODEL and this file with --arch" },
};

static const struct keras_mixup *keras_mixup(const fp_tree *tree)
{
    for (size_t i = 0; i < sizeof keras_mixups / sizeof *keras_mixups; i++)
        if (keras_mixups[i].kind == tree->keras)
            return &keras_mixups[i];
    return NULL;
}

int cmd_open_model(const char *path, fp_tree *tree, fp_error *err)
{
    if (fp_tree_open(path, tree, err) < 0)
        return -1;
    const struct keras_mixup *m = keras_mixup(tree);
    if (!m)
        return 0;
    fp_fail(err, "%s: %s: %s", path, m->what, m->instead);
    fp_tree_free(tree);
    return -1;
}

void cmd_warn_unmatched(const cmd_opts *opts, const fp_node *root)
{
    if (opts->quiet || (!opts->sel.n_include && !opts->sel.n_exclude))
        return;
    fp_select every = { .all = 1 };
    fp_layout all;
    fp_error err;
    if (fp_layout_build(root, &every, &all, &err) < 0)
        return;   /* (the command's own build reports it) */
    for (size_t k = 0; k < opts->sel.n_include + opts->sel.n_exclude; k++) {
        int inc = k < opts->sel.n_include;
        const char *glob = inc ? opts->sel.include[k] : opts->sel.exclude[k - opts->sel.n_include];
        int matched = 0;
        for (size_t i = 0; i < all.n_params && !matched; i++)
            matched = fp_glob_match(glob, all.params[i].path);
        if (!matched)
            fprintf(stderr, "flatparams: warning: --%s %s: matches no parameter%s%s%s\n",
                    inc ? "include" : "exclude", glob, all.n_params ? " (paths look like " : "",
                    all.n_params ? all.params[0].path : "", all.n_params ? ")" : "");
    }
    fp_layout_free(&all);
}

int cmd_open_all_params(const char *path, fp_tree *tree, fp_layout *all)
{
    fp_error err;
    fp_select every = { .all = 1 };
    if (fp_tree_open(path, tree, &err) < 0)
        return cmd_error(&err);
    const struct keras_mixup *m = keras_mixup(tree);
    if (m && !quiet)
        fprintf(stderr, "flatparams: warning: %s: %s, shown as %s: %s\n", path, m->what,
                m->shown_as, m->instead);
    if (fp_layout_build(tree->root, &every, all, &err) < 0) {
        fp_tree_free(tree);
        return cmd_error(&err);
    }
    return 0;
}

int cmd_fail_reading_array(fp_error *err, const char *model, const char *path)
{
    if (!strncmp(err->msg, model, strlen(model)))
        return -1;
    char where[4096];
    snprintf(where, sizeof where, "%s: %s", model, path);
    return fp_fail_prefix(err, where);
}
