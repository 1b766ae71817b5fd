/*
 * Plots a person would put in a paper, drawn by cairo: a line plot (a
 * spectral density, a 1-D loss landscape) and a contour plot (a 2-D loss
 * landscape), with a frame, ticks, tick labels, axis labels and a title.
 * A PNG goes through cairo's image surface, an SVG through its SVG surface;
 * the file's extension chooses. Files are written through a temporary file
 * and a rename, as every output (fp_outfile).
 *
 * The drawing (plot.c) is a module of its own, libflatparams_plot.so beside
 * libflatparams, loaded on the first plot (plot_load.c): cairo and what it
 * pulls in (X11, fontconfig, freetype: megabytes of address space, which
 * count under `ulimit -v`) are mapped only by a command that draws.
 *
 * The canvas and the frame of the axes inside it are fixed (below), so a
 * test can find where a value was drawn.
 */
#ifndef FP_PLOT_H
#define FP_PLOT_H

#include "flatparams.h"

/* The canvas, in pixels (PNG) or points (SVG), and the margins around the
 * frame of the axes: the frame spans [LEFT, WIDTH - RIGHT] x [TOP, HEIGHT - BOTTOM].
 * A contour plot keeps FP_PLOT_RIGHT_BAR on the right for its colour bar. */
enum {
    FP_PLOT_WIDTH = 800,
    FP_PLOT_HEIGHT = 560,
    FP_PLOT_LEFT = 96,
    FP_PLOT_RIGHT = 32,
    FP_PLOT_RIGHT_BAR = 128,
    FP_PLOT_TOP = 48,
    FP_PLOT_BOTTOM = 72,
};

/* A line plot's curve: matplotlib's first colour, #1f77b4. */
#define FP_PLOT_LINE_RGB 0x1f77b4u

typedef struct fp_plot_axis {
    const char *label;
    double lo, hi;     /* the limits; lo >= hi: from the data, out to the ticks around it */
    int log;           /* log10 scale: values <= 0 (and below the limit) drawn at the bottom */
} fp_plot_axis;

typedef struct fp_plot {
    const char *title;
    fp_plot_axis x, y;
    int mark;          /* a contour plot: a black cross at (mark_x, mark_y) */
    double mark_x, mark_y;
} fp_plot;

/* 1 when path ends in .png or .svg (in any case): the output is a plot. */
int fp_plot_wanted(const char *path);

/* y against x (n points, x increasing), one line. Non-finite points break it. */
int fp_plot_line(const char *path, const fp_plot *plot, const double *x, const double *y,
                 size_t n, fp_error *err);

/* z over the grid x (nx values) by y (ny values), z[i * ny + j] at (x[i], y[j]),
 * as contour lines at `levels` values evenly spaced strictly inside
 * (min z, max z) (fp_plot_level), coloured from dark (low) to light (high),
 * with a colour bar labelled z_label. Non-finite z leave their cells empty. */
int fp_plot_contour(const char *path, const fp_plot *plot, const double *x, size_t nx,
                    const double *y, size_t ny, const double *z, size_t levels,
                    const char *z_label, fp_error *err);

/* Level k of `levels` between lo and hi: lo + (k + 1) (hi - lo) / (levels + 1). */
double fp_plot_level(double lo, double hi, size_t k, size_t levels);
/* The colour of level k of `levels`, as 0xRRGGBB: the ramp at
 * FP_PLOT_RAMP_SPAN (k + 1) / (levels + 1). */
unsigned fp_plot_level_rgb(size_t k, size_t levels);
/* viridis at t in [0, 1] (from five of its colours), as 0xRRGGBB; lines use
 * its first FP_PLOT_RAMP_SPAN, its top being too light on white. */
unsigned fp_plot_ramp(double t);
#define FP_PLOT_RAMP_SPAN 0.85

/* The module's drawing functions, which fp_plot_line and fp_plot_contour call. */
int fp_plot_module_line(const char *path, const fp_plot *plot, const double *x, const double *y,
                        size_t n, fp_error *err);
int fp_plot_module_contour(const char *path, const fp_plot *plot, const double *x, size_t nx,
                           const double *y, size_t ny, const double *z, size_t levels,
                           const char *z_label, fp_error *err);

#endif
