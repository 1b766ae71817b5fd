/* flatparams predict: m(X), one output row per input row. */
#include "compute.h"

#include <stdlib.h>

static int run(cmd_opts *opts)
{
    compute_session s;
    int rc = compute_open(&cmd_predict, opts, &s);
    if (rc)
        return rc;
    fp_error err;
    fp_matrix y;
    rc = fp_predict(s.net, &s.x, &y, &err);
    if (rc == 0 && y.rank > 2) {   /* (the writers take vectors and matrices) */
        rc = fp_fail(&err, "%s: the model's output for X has rank %d; predict writes only a "
                     "vector or a matrix (end the model with a Flatten)", opts->x, y.rank);
        free(y.data);
    } else if (rc == 0) {
        /* A single sample given as a vector answers with a vector, as PyTorch does. */
        int rank = s.x.rank == 1 && y.rows == 1 ? 1 : 2;
        rc = compute_write(opts, &s, opts->output ? opts->output : "-", rank,
                           rank == 1 ? y.cols : y.rows, y.cols, y.data, &err);
        free(y.data);
    }
    compute_close(&s);
    return rc < 0 ? cmd_error(&err) : EXIT_OK;
}

const cmd cmd_predict = {
    .name = "predict",
    .run = run,
    .min_args = 1, .max_args = 1,
    .options = "output,x,include,exclude,all,dtype,format,precision,device,quiet,train-mode,"
               "in-format,allow-external,arch",
    .usage =
        "predict MODEL -x X [-o Y] [--precision f32|f64] [--train-mode] [--dtype T] [--format F]\n"
        "\n"
        "Runs the model on X (one sample per row, batch x features, like PyTorch) and\n"
        "writes m(X), one output row per sample. Layers: Chain, Dense, BatchNorm,\n"
        "LayerNorm, Dropout and Flatten (identities), Activation.\n"
        "\n"
        "  -x X            input matrix: .npy .txt .csv .bin .h5 .json, or - (stdin); a\n"
        "                  vector is one sample (a batch of scalars when the model takes\n"
        "                  one feature)\n"
        "  -o Y            output file (default: standard output, as text)\n"
        "  --precision P   compute in f32 or f64 (default: the flat vector's type)\n"
        "  --train-mode    BatchNorm normalises with the batch's own statistics\n"
        "  --device D      cpu (default), cuda (one error line without a usable GPU),\n"
        "                  or auto (the GPU for large jobs when one is usable)\n"
        "  --dtype T       element type of the output (and of raw .bin inputs)\n"
        "  --format F      force the output format (npy, txt, csv, bin, h5, json)\n"
        "  --in-format F   force the format of X (the same names; default: by content\n"
        "                  and extension)\n"
        "  --include/--exclude/--all   the selection that makes the flat vector (the\n"
        "                  model computes the same either way)\n"
        "  --allow-external  let HDF5 external links and storage read other files\n"
        "  --arch JSON     architecture (Keras model.to_json()) of a weights-only Keras file\n"
        "  -q, --quiet     quiet\n",
};
