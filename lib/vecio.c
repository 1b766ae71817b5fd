/* STUB: replaced by vecio work. */
#include "flatparams.h"
