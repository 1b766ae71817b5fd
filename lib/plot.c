/*
 * Line and contour plots through cairo (plot.h): the module
 * libflatparams_plot.so, which plot_load.c loads on the first plot. The axes:
 * a frame, ticks at 1-2-5 steps (decades on a log scale), tick labels, axis
 * labels, a title. Everything is drawn in canvas units, so the PNG's pixels
 * and the SVG's points put a value at the same place.
 */
#include "plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FONT "DejaVu Sans"

/* ---------------------------------------------------------------- scales */

/* An axis as drawn: its limits, and the canvas coordinates they map to. */
typedef struct scale {
    double lo, hi;
    int log;
    double at_lo, at_hi;   /* canvas coordinates of lo and hi */
    double step;           /* linear ticks' step; log: decades between ticks */
} scale;

/* A step of 1, 2 or 5 times a power of ten giving about `ticks` ticks over span. */
static double nice_step(double span, int ticks)
{
    double raw = span / ticks, power = pow(10, floor(log10(raw))), f = raw / power;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
}

/* The scale's limits: the axis's own, else the data's widened to ticks. */
static void scale_limits(scale *s, const fp_plot_axis *axis, const double *v, size_t n)
{
    double lo = INFINITY, hi = -INFINITY;
    s->log = axis->log;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && (!s->log || v[i] > 0)) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
    if (s->log) {
        if (axis->lo < axis->hi && axis->lo > 0) {
            lo = axis->lo;
            hi = axis->hi;
        } else {
            if (!(lo <= hi))
                lo = hi = 1;
            lo = pow(10, floor(log10(lo)));
            hi = pow(10, ceil(log10(hi)));
            hi = hi > lo ? hi : lo * 10;
            lo = fmax(lo, hi * 1e-8);   /* a density's empty stretches: no 300 decades */
        }
        double decades = log10(hi) - log10(lo);
        s->step = decades > 8 ? 2 : 1;
    } else if (axis->lo < axis->hi) {
        lo = axis->lo;
        hi = axis->hi;
        s->step = nice_step(hi - lo, 6);
    } else {
        if (!(lo <= hi))
            lo = hi = 0;
        if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {   /* one value: room around it */
            double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
            lo -= pad;
            hi += pad;
        }
        s->step = nice_step(hi - lo, 6);
        lo = floor(lo / s->step) * s->step;
        hi = ceil(hi / s->step) * s->step;
    }
    s->lo = lo;
    s->hi = hi;
}

/* Canvas coordinate of v (kept within a frame's width of the axis, so
 * clipping, not arithmetic, cuts what lies outside). */
static double scale_at(const scale *s, double v)
{
    double t;
    if (s->log)
        t = v > 0 ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo)) : 0;
    else
        t = (v - s->lo) / (s->hi - s->lo);
    t = s->log && t < 0 ? 0 : t;   /* below a log axis: at its bottom */
    t = fmax(-1, fmin(2, t));
    return s->at_lo + t * (s->at_hi - s->at_lo);
}

/* ---------------------------------------------------------------- text */

/* text with its anchor (ax, ay: 0 left/top, 0.5 centre, 1 right/bottom) at (x, y). */
static void text_at(cairo_t *cr, const char *text, double x, double y, double ax, double ay)
{
    cairo_text_extents_t ext;
    cairo_text_extents(cr, text, &ext);
    cairo_move_to(cr, x - ax * ext.x_advance, y - ay * ext.height - ext.y_bearing);
    cairo_show_text(cr, text);
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* A linear tick's label: as many decimals as the step needs. */
static void tick_label(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0;   /* not "-0" or "1e-17" */
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4) || decimals > 6)
        snprintf(buf, cap, "%.3g", v);
    else
        snprintf(buf, cap, "%.*f", decimals, v);
}

/* "10" with the exponent raised, its anchor as text_at's. */
static void power_label(cairo_t *cr, int exponent, double x, double y, double ax, double ay)
{
    char expo[16];
    snprintf(expo, sizeof expo, "%d", exponent);
    cairo_text_extents_t base, up;
    double size = 13;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, "10", &base);
    cairo_set_font_size(cr, size * 0.72);
    cairo_text_extents(cr, expo, &up);
    double width = base.x_advance + up.x_advance, left = x - ax * width;
    double top = y - ay * (base.height + 4), baseline = top + base.height;
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, left, baseline + 4);
    cairo_show_text(cr, "10");
    cairo_set_font_size(cr, size * 0.72);
    cairo_move_to(cr, left + base.x_advance, baseline - 2);
    cairo_show_text(cr, expo);
    cairo_set_font_size(cr, size);
}

/* ---------------------------------------------------------------- axes */

typedef struct frame {
    double left, right, top, bottom;
} frame;

/* The tick values of a scale, at most cap of them; their count. */
static size_t ticks(const scale *s, double *values, size_t cap)
{
    size_t count = 0;
    if (s->log) {
        int first = (int)ceil(log10(s->lo) - 1e-9), last = (int)floor(log10(s->hi) + 1e-9);
        for (int e = first; e <= last && count < cap; e += (int)s->step)
            values[count++] = e;   /* exponents */
        return count;
    }
    for (double k = ceil(s->lo / s->step - 1e-9); k * s->step <= s->hi + 1e-9 * s->step && count < cap;
         k++)
        values[count++] = k * s->step;
    return count;
}

static void draw_axes(cairo_t *cr, const fp_plot *plot, const frame *f, const scale *sx,
                      const scale *sy)
{
    double values[64];
    cairo_set_line_width(cr, 1);
    font(cr, 13, 0);
    for (int axis = 0; axis < 2; axis++) {
        const scale *s = axis ? sy : sx;
        size_t count = ticks(s, values, 64);
        for (size_t i = 0; i < count; i++) {
            double v = s->log ? pow(10, values[i]) : values[i], at = scale_at(s, v);
            at = axis ? floor(at) + 0.5 : floor(at) + 0.5;   /* crisp 1-unit lines */
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);   /* a light grid line */
            if (axis) {
                cairo_move_to(cr, f->left, at);
                cairo_line_to(cr, f->right, at);
            } else {
                cairo_move_to(cr, at, f->top);
                cairo_line_to(cr, at, f->bottom);
            }
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            if (axis) {
                cairo_move_to(cr, f->left - 5, at);
                cairo_line_to(cr, f->left, at);
            } else {
                cairo_move_to(cr, at, f->bottom);
                cairo_line_to(cr, at, f->bottom + 5);
            }
            cairo_stroke(cr);
            char label[48];
            if (s->log)
                power_label(cr, (int)values[i], axis ? f->left - 8 : at, axis ? at : f->bottom + 8,
                            axis ? 1 : 0.5, axis ? 0.5 : 0);
            else {
                tick_label(label, sizeof label, values[i], s->step);
                text_at(cr, label, axis ? f->left - 8 : at, axis ? at : f->bottom + 8,
                        axis ? 1 : 0.5, axis ? 0.5 : 0);
            }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, f->left + 0.5, f->top + 0.5, f->right - f->left - 1, f->bottom - f->top - 1);
    cairo_stroke(cr);
    font(cr, 15, 0);
    if (plot->x.label)
        text_at(cr, plot->x.label, (f->left + f->right) / 2, FP_PLOT_HEIGHT - 12, 0.5, 1);
    if (plot->y.label) {
        cairo_save(cr);
        cairo_translate(cr, 18, (f->top + f->bottom) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, plot->y.label, 0, 0, 0.5, 0);
        cairo_restore(cr);
    }
    font(cr, 16, 1);
    if (plot->title)
        text_at(cr, plot->title, (f->left + f->right) / 2, f->top / 2, 0.5, 0.5);
}

/* ---------------------------------------------------------------- surfaces */

typedef struct canvas {
    fp_outfile out;
    cairo_surface_t *surface;
    cairo_t *cr;
    int png;
} canvas;

static int canvas_open(canvas *c, const char *path, fp_error *err)
{
    memset(c, 0, sizeof *c);
    if (!fp_plot_wanted(path))
        return fp_fail(err, "%s: a plot is written as .png or .svg", path);
    if (fp_outfile_reserve(&c->out, path, err) < 0)
        return -1;
    size_t len = strlen(path);
    c->png = !strcasecmp(path + len - 4, ".png");
    c->surface = c->png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, FP_PLOT_WIDTH,
                                                     FP_PLOT_HEIGHT)
                        : cairo_svg_surface_create(c->out.tmp_path, FP_PLOT_WIDTH, FP_PLOT_HEIGHT);
    c->cr = cairo_create(c->surface);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
        fp_fail(err, "%s: cairo: %s", path, cairo_status_to_string(cairo_status(c->cr)));
        cairo_destroy(c->cr);
        cairo_surface_destroy(c->surface);
        fp_outfile_abort(&c->out);
        return -1;
    }
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    return 0;
}

/* Writes the picture (or, with rc < 0, drops it); the result. */
static int canvas_close(canvas *c, int rc, fp_error *err)
{
    cairo_status_t status = cairo_status(c->cr);
    cairo_destroy(c->cr);
    if (rc == 0 && status == CAIRO_STATUS_SUCCESS && c->png)
        status = cairo_surface_write_to_png(c->surface, c->out.tmp_path);
    cairo_surface_finish(c->surface);   /* an SVG is written out here */
    if (status == CAIRO_STATUS_SUCCESS)
        status = cairo_surface_status(c->surface);
    cairo_surface_destroy(c->surface);
    /* cairo's font caches and fontconfig's state go: kept, LeakSanitizer counts
     * what they lost track of as leaks (the next plot builds them again) */
    cairo_debug_reset_static_data();
    FcFini();
    if (rc == 0 && status != CAIRO_STATUS_SUCCESS)
        rc = fp_fail(err, "%s: cairo: %s", c->out.target, cairo_status_to_string(status));
    if (rc == 0)
        return fp_outfile_commit(&c->out, err);
    fp_outfile_abort(&c->out);
    return rc;
}

static void rgb(cairo_t *cr, unsigned colour)
{
    cairo_set_source_rgb(cr, (colour >> 16 & 255) / 255.0, (colour >> 8 & 255) / 255.0,
                         (colour & 255) / 255.0);
}

/* ---------------------------------------------------------------- line plots */

int fp_plot_module_line(const char *path, const fp_plot *plot, const double *x, const double *y,
                        size_t n, fp_error *err)
{
    canvas c;
    if (canvas_open(&c, path, err) < 0)
        return -1;
    frame f = { FP_PLOT_LEFT, FP_PLOT_WIDTH - FP_PLOT_RIGHT, FP_PLOT_TOP,
                FP_PLOT_HEIGHT - FP_PLOT_BOTTOM };
    scale sx = { .at_lo = f.left, .at_hi = f.right }, sy = { .at_lo = f.bottom, .at_hi = f.top };
    scale_limits(&sx, &plot->x, x, n);
    scale_limits(&sy, &plot->y, y, n);
    draw_axes(c.cr, plot, &f, &sx, &sy);
    cairo_save(c.cr);
    cairo_rectangle(c.cr, f.left + 1, f.top + 1, f.right - f.left - 2, f.bottom - f.top - 2);
    cairo_clip(c.cr);
    int drawing = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            drawing = 0;
            continue;
        }
        double px = scale_at(&sx, x[i]), py = scale_at(&sy, y[i]);
        if (drawing)
            cairo_line_to(c.cr, px, py);
        else
            cairo_move_to(c.cr, px, py);
        drawing = 1;
    }
    rgb(c.cr, FP_PLOT_LINE_RGB);
    cairo_set_line_width(c.cr, 2);
    cairo_set_line_join(c.cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke(c.cr);
    cairo_restore(c.cr);
    return canvas_close(&c, 0, err);
}

/* ---------------------------------------------------------------- contour plots */

/* The point where the level crosses the edge from (x0, y0, z0) to (x1, y1, z1). */
static void crossing(double level, double x0, double y0, double z0, double x1, double y1,
                     double z1, double *px, double *py)
{
    double t = z1 != z0 ? (level - z0) / (z1 - z0) : 0.5;
    *px = x0 + t * (x1 - x0);
    *py = y0 + t * (y1 - y0);
}

/* Marching squares: the level's segments in each cell, in canvas coordinates. */
static void contour_level(cairo_t *cr, const scale *sx, const scale *sy, const double *x, size_t nx,
                          const double *y, size_t ny, const double *z, double level)
{
    for (size_t i = 0; i + 1 < nx; i++)
        for (size_t j = 0; j + 1 < ny; j++) {
            /* corners counter-clockwise from (x_i, y_j); edge e joins corner e and e+1 */
            double cx[4] = { x[i], x[i + 1], x[i + 1], x[i] }, cy[4] = { y[j], y[j], y[j + 1], y[j + 1] };
            double cz[4] = { z[i * ny + j], z[(i + 1) * ny + j], z[(i + 1) * ny + j + 1],
                             z[i * ny + j + 1] };
            if (!isfinite(cz[0]) || !isfinite(cz[1]) || !isfinite(cz[2]) || !isfinite(cz[3]))
                continue;
            double px[4], py[4];
            int crossed[4], count = 0;
            for (int e = 0; e < 4; e++) {
                int a = e, b = (e + 1) % 4;
                crossed[e] = (cz[a] > level) != (cz[b] > level);
                if (crossed[e]) {
                    crossing(level, cx[a], cy[a], cz[a], cx[b], cy[b], cz[b], &px[e], &py[e]);
                    count++;
                }
            }
            int pairs[2][2] = { { 0, 0 }, { 0, 0 } }, n_pairs = 0;
            if (count == 2) {
                int first = -1;
                for (int e = 0; e < 4; e++)
                    if (crossed[e]) {
                        if (first < 0)
                            first = e;
                        else {
                            pairs[0][0] = first;
                            pairs[0][1] = e;
                        }
                    }
                n_pairs = 1;
            } else if (count == 4) {   /* a saddle: the centre decides which corners join */
                double centre = (cz[0] + cz[1] + cz[2] + cz[3]) / 4;
                int joined = (centre > level) == (cz[0] > level);
                /* corner 0 joined to 2 through the centre: cut off corners 1 and 3 */
                pairs[0][0] = joined ? 0 : 3, pairs[0][1] = joined ? 1 : 0;
                pairs[1][0] = joined ? 2 : 1, pairs[1][1] = joined ? 3 : 2;
                n_pairs = 2;
            }
            for (int p = 0; p < n_pairs; p++) {
                cairo_move_to(cr, scale_at(sx, px[pairs[p][0]]), scale_at(sy, py[pairs[p][0]]));
                cairo_line_to(cr, scale_at(sx, px[pairs[p][1]]), scale_at(sy, py[pairs[p][1]]));
            }
        }
}

/* The colour bar: the ramp from lo (bottom) to hi (top), its ticks and label. */
static void colour_bar(cairo_t *cr, const frame *f, double lo, double hi, const char *label)
{
    double left = f->right + 28, width = 18;
    cairo_pattern_t *gradient = cairo_pattern_create_linear(0, f->bottom, 0, f->top);
    for (int i = 0; i <= 16; i++) {
        unsigned colour = fp_plot_ramp(FP_PLOT_RAMP_SPAN * i / 16.0);
        cairo_pattern_add_color_stop_rgb(gradient, i / 16.0, (colour >> 16 & 255) / 255.0,
                                         (colour >> 8 & 255) / 255.0, (colour & 255) / 255.0);
    }
    cairo_rectangle(cr, left, f->top, width, f->bottom - f->top);
    cairo_set_source(cr, gradient);
    cairo_fill(cr);
    cairo_pattern_destroy(gradient);
    scale s = { .lo = lo, .hi = hi, .at_lo = f->bottom, .at_hi = f->top };
    fp_plot_axis axis = { 0 };
    double range[2] = { lo, hi }, values[64];
    scale_limits(&s, &axis, range, 2);   /* its step; the limits stay the data's */
    s.lo = lo;
    s.hi = hi > lo ? hi : lo + 1;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left + 0.5, f->top + 0.5, width - 1, f->bottom - f->top - 1);
    cairo_stroke(cr);
    font(cr, 12, 0);
    size_t count = ticks(&s, values, 64);
    for (size_t i = 0; i < count; i++) {
        double at = floor(scale_at(&s, values[i])) + 0.5;
        char text[48];
        cairo_move_to(cr, left + width, at);
        cairo_line_to(cr, left + width + 4, at);
        cairo_stroke(cr);
        tick_label(text, sizeof text, values[i], s.step);
        text_at(cr, text, left + width + 7, at, 0, 0.5);
    }
    if (label) {
        font(cr, 15, 0);
        cairo_save(cr);
        cairo_translate(cr, FP_PLOT_WIDTH - 14, (f->top + f->bottom) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, label, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
}

int fp_plot_module_contour(const char *path, const fp_plot *plot, const double *x, size_t nx,
                           const double *y, size_t ny, const double *z, size_t levels,
                           const char *z_label, fp_error *err)
{
    canvas c;
    if (canvas_open(&c, path, err) < 0)
        return -1;
    frame f = { FP_PLOT_LEFT, FP_PLOT_WIDTH - FP_PLOT_RIGHT_BAR, FP_PLOT_TOP,
                FP_PLOT_HEIGHT - FP_PLOT_BOTTOM };
    scale sx = { .at_lo = f.left, .at_hi = f.right }, sy = { .at_lo = f.bottom, .at_hi = f.top };
    fp_plot_axis x_axis = plot->x, y_axis = plot->y;
    if (!(x_axis.lo < x_axis.hi) && nx > 1)   /* a grid fills its frame */
        x_axis.lo = x[0], x_axis.hi = x[nx - 1];
    if (!(y_axis.lo < y_axis.hi) && ny > 1)
        y_axis.lo = y[0], y_axis.hi = y[ny - 1];
    x_axis.log = y_axis.log = 0;
    scale_limits(&sx, &x_axis, x, nx);
    scale_limits(&sy, &y_axis, y, ny);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < nx * ny; i++)
        if (isfinite(z[i])) {
            lo = fmin(lo, z[i]);
            hi = fmax(hi, z[i]);
        }
    if (!(lo < hi))   /* flat, or nothing finite: no lines */
        levels = 0, lo = isfinite(lo) ? lo : 0, hi = lo + 1;
    draw_axes(c.cr, plot, &f, &sx, &sy);
    cairo_save(c.cr);
    cairo_rectangle(c.cr, f.left + 1, f.top + 1, f.right - f.left - 2, f.bottom - f.top - 2);
    cairo_clip(c.cr);
    cairo_set_line_width(c.cr, 1.6);
    cairo_set_line_cap(c.cr, CAIRO_LINE_CAP_ROUND);
    for (size_t k = 0; k < levels; k++) {
        contour_level(c.cr, &sx, &sy, x, nx, y, ny, z, fp_plot_level(lo, hi, k, levels));
        rgb(c.cr, fp_plot_level_rgb(k, levels));
        cairo_stroke(c.cr);
    }
    if (plot->mark) {
        double mx = scale_at(&sx, plot->mark_x), my = scale_at(&sy, plot->mark_y);
        cairo_set_source_rgb(c.cr, 0, 0, 0);
        cairo_set_line_width(c.cr, 2);
        cairo_move_to(c.cr, mx - 6, my - 6);
        cairo_line_to(c.cr, mx + 6, my + 6);
        cairo_move_to(c.cr, mx - 6, my + 6);
        cairo_line_to(c.cr, mx + 6, my - 6);
        cairo_stroke(c.cr);
    }
    cairo_restore(c.cr);
    colour_bar(c.cr, &f, lo, hi, z_label);
    return canvas_close(&c, 0, err);
}
