/*
 * The plots' side in libflatparams (plot.h): what needs no cairo (which files
 * are plots, contour levels and their colours), and fp_plot_line and
 * fp_plot_contour, which load the drawing module, libflatparams_plot.so
 * beside this library, on first use, as backend_cpu.c loads the CUDA module:
 * commands that draw nothing map no cairo at all.
 */
#include "plot.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int fp_plot_wanted(const char *path)
{
    size_t len = path ? strlen(path) : 0;
    return len > 4 && (!strcasecmp(path + len - 4, ".png") || !strcasecmp(path + len - 4, ".svg"));
}

double fp_plot_level(double lo, double hi, size_t k, size_t levels)
{
    return lo + (double)(k + 1) * (hi - lo) / (double)(levels + 1);
}

unsigned fp_plot_ramp(double t)
{
    static const unsigned stops[] = { 0x440154, 0x3b528b, 0x21918c, 0x5ec962, 0xfde725 };
    t = fmax(0, fmin(1, t)) * 4;
    int i = t >= 4 ? 3 : (int)t;
    double f = t - i;
    unsigned colour = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
        double a = stops[i] >> shift & 255, b = stops[i + 1] >> shift & 255;
        colour |= (unsigned)lround(a + f * (b - a)) << shift;
    }
    return colour;
}

unsigned fp_plot_level_rgb(size_t k, size_t levels)
{
    return fp_plot_ramp(FP_PLOT_RAMP_SPAN * (double)(k + 1) / (double)(levels + 1));
}

/* The module's function `name`, or NULL with the reason in err. */
static void *module_function(const char *name, fp_error *err)
{
    static void *module;
    static char failed[512];
    if (!module && !failed[0]) {
        char path[PATH_MAX];
        Dl_info self;
        if (dladdr((void *)&fp_plot_wanted, &self) && self.dli_fname && strchr(self.dli_fname, '/'))
            snprintf(path, sizeof path, "%.*s/libflatparams_plot.so",
                     (int)(strrchr(self.dli_fname, '/') - self.dli_fname), self.dli_fname);
        else
            snprintf(path, sizeof path, "libflatparams_plot.so");
        if (!(module = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
            const char *dl = dlerror();
            snprintf(failed, sizeof failed, "plots need %s (cairo), which does not load: %s", path,
                     dl ? dl : "unknown reason");
        }
    }
    void *fn = module ? dlsym(module, name) : NULL;
    if (!fn)
        fp_fail(err, "%s", failed[0] ? failed : "the plot module lacks its functions");
    return fn;
}

int fp_plot_line(const char *path, const fp_plot *plot, const double *x, const double *y,
                 size_t n, fp_error *err)
{
    int (*draw)(const char *, const fp_plot *, const double *, const double *, size_t, fp_error *);
    *(void **)&draw = module_function("fp_plot_module_line", err);
    return draw ? draw(path, plot, x, y, n, err) : -1;
}

int fp_plot_contour(const char *path, const fp_plot *plot, const double *x, size_t nx,
                    const double *y, size_t ny, const double *z, size_t levels,
                    const char *z_label, fp_error *err)
{
    int (*draw)(const char *, const fp_plot *, const double *, size_t, const double *, size_t,
                const double *, size_t, const char *, fp_error *);
    *(void **)&draw = module_function("fp_plot_module_contour", err);
    return draw ? draw(path, plot, x, nx, y, ny, z, levels, z_label, err) : -1;
}
