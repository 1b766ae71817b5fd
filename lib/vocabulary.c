/* The lists of names vocabulary.h declares. */
#include "vocabulary.h"

#include <stddef.h>

const char *const fp_running_mean_keys[] = { "mean", "μ", "running_mean", "moving_mean", NULL };
const char *const fp_running_var_keys[] = { "var", "σ²", "running_var", "moving_variance", NULL };
