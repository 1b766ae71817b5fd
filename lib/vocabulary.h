/* Names that several parts of the library read: each list once. A tool's
 * spelling added here is understood everywhere that reads the list. */
#ifndef FP_VOCABULARY_H
#define FP_VOCABULARY_H

/* BatchNorm's running statistics, in every tool's spelling (Flux's μ and σ²,
 * Keras' moving_*, PyTorch's running_*): state a model keeps, not
 * parameters (layout.c's trainable rule), and what the compute core
 * normalises with in inference mode (compute/layers/normalise.h).
 * NULL-terminated. */
extern const char *const fp_running_mean_keys[];
extern const char *const fp_running_var_keys[];

#endif
