/* What every subcommand shares: the option parser, the error printer and the
 * command table entry. A subcommand is one file and one line in main.c. */
#ifndef FP_CMD_H
#define FP_CMD_H

#include "flatparams.h"

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_BAD_INPUT = 1, EXIT_USAGE = 2 };

typedef struct cmd_opts {
    const char *args[8];        /* positional arguments */
    int n_args;
    const char *output;         /* -o */
    const char *index;          /* --index: flatten's params index */
    const char *x, *y, *loss, *hvp, *rows, *arch, *which;
    const char *format;         /* --format: output format */
    const char *in_format;      /* --in-format (hidden): force input vector format */
    const char *precision, *device;
    const char *include[64], *exclude[64];
    fp_select sel;
    fp_dtype dtype;             /* --dtype, FP_DT_NONE when absent */
    long eigs, hutchinson;
    /* the curvature estimators and landscapes (hessian, landscape) */
    const char *eigvecs, *seed, *sigma, *directions, *range;
    long hutchpp, probes, steps, points, dims;
    int density;
    int quiet, json, nested, diag, trace, train_mode;
    int progress;               /* --progress: progress lines also when stderr is no terminal */
} cmd_opts;

typedef struct cmd {
    const char *name;
    int (*run)(cmd_opts *opts);
    const char *usage;          /* the -h text: first line is the synopsis */
    const char *options;        /* comma-separated long options it accepts */
    int min_args, max_args;
} cmd;

/* Parses argv (after the command name) into opts; prints usage and returns
 * EXIT_USAGE on misuse, -1 when -h was handled (exit 0), else 0. */
int cmd_parse(const cmd *c, int argc, char **argv, cmd_opts *opts);

/* Prints "flatparams: error: MSG" once; returns EXIT_BAD_INPUT. */
int cmd_error(const fp_error *err);
int cmd_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error (EXIT_USAGE) when --format (or --in-format) names no vector
 * format: F is the option's value, NULL when not given (0). */
int cmd_check_vec_format(const cmd *c, const char *option, const char *format);
/* Prints "flatparams: error: COMMAND: ... (see 'flatparams COMMAND -h')", one
 * line as every error; returns EXIT_USAGE. */
int cmd_usage_error(const cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens a model with the options that govern reading (--allow-external, --arch:
 * cmd_parse sets them process-wide). Refuses, naming what it is and what to
 * do, a file whose vector would not be the model's (fp_keras_kind): a Keras 3
 * save_weights file without --arch, an architecture JSON without weights. */
int cmd_open_model(const char *path, fp_tree *tree, fp_error *err);
/* A warning line on stderr (not with -q) for each --include/--exclude glob
 * that matches no parameter path of the tree: a dotted PyTorch name, a missing
 * leading slash, would otherwise select nothing in silence. */
void cmd_warn_unmatched(const cmd_opts *opts, const fp_node *root);
/* Names the model and the array's path in err after reading the array failed,
 * unless the format's loader named the file itself (an HDF5 dataset's message
 * names it and the dataset); returns -1. */
int cmd_fail_reading_array(fp_error *err, const char *model, const char *path);
/* Opens a model and lists every parameter, trainable or not (modules, summary):
 * on success the caller frees both; on failure it has printed the error and
 * returns EXIT_BAD_INPUT with nothing to free. What cmd_open_model refuses is
 * shown as read, after a warning line (not with -q). */
int cmd_open_all_params(const char *path, fp_tree *tree, fp_layout *all);

/* Progress on stderr (progress.c): on a terminal one line rewritten in place;
 * with --progress on any other stderr a line every FLATPARAMS_PROGRESS_SECONDS
 * (default 5) and one at the end; nothing with -q. A line reads "COMMAND: WHAT
 * DONE/TOTAL (P%), R/s, S s left", the last "..., done in S s"; a count whose
 * total is not known in advance (0: Lanczos iterations) has no share and no
 * time left. */
typedef struct cmd_progress {
    int mode;
    const char *command, *what;
    double start, last_line, every;
    uint64_t done, total;
    int unfinished;             /* a count is under way: its last line is due */
} cmd_progress;
void cmd_progress_init(cmd_progress *p, const cmd_opts *opts, const char *command);
int cmd_progress_on(const cmd_progress *p);
/* Starts a count (what: "rows"), its clock from now. */
void cmd_progress_begin(cmd_progress *p, const char *what);
/* done of total (0: unknown) so far: an fp_progress_fn, ctx the cmd_progress.
 * Reaching total prints the last line. */
void cmd_progress_show(void *ctx, uint64_t done, uint64_t total);
/* Ends a count that did not reach a known total: the last line when finished,
 * else (an error follows) only the terminal's line closed. */
void cmd_progress_end(cmd_progress *p, int finished);

extern const cmd cmd_flatten, cmd_rebuild, cmd_modules, cmd_params, cmd_summary, cmd_convert;
extern const cmd cmd_predict, cmd_gradient, cmd_hessian, cmd_landscape;

#endif
