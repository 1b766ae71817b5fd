/* lib/plot.c: the pictures read back with cairo. A curve is drawn where its
 * data says (its colour at the data's places, on linear and log axes) and
 * nowhere else; a contour line where its level lies; the canvas' size; SVG
 * through cairo's SVG surface; and the error lines. */
#include "test_curvature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { CURVE_POINTS = 201, TOL = 40 };

/* Every pixel of the curve's colour lies within 3 units of the curve (x, y),
 * given in canvas coordinates; returns how many such pixels there are. */
static int curve_pixels_on_the_curve(const t_image *image, const double *cx, const double *cy,
                                     size_t n)
{
    int count = 0;
    for (int py = 0; py < image->height; py++)
        for (int px = 0; px < image->width; px++) {
            if (!t_colour_close(t_pixel(image, px, py), FP_PLOT_LINE_RGB, TOL))
                continue;
            count++;
            double best = INFINITY;
            for (size_t i = 0; i + 1 < n; i++) {   /* distance to the polyline's segment */
                double dx = cx[i + 1] - cx[i], dy = cy[i + 1] - cy[i];
                double t = ((px + 0.5 - cx[i]) * dx + (py + 0.5 - cy[i]) * dy) / (dx * dx + dy * dy);
                t = fmax(0, fmin(1, t));
                best = fmin(best, hypot(px + 0.5 - cx[i] - t * dx, py + 0.5 - cy[i] - t * dy));
            }
            ck_assert_msg(best < 3, "a curve-coloured pixel at (%d, %d), %.1f from the curve", px,
                          py, best);
        }
    return count;
}

START_TEST(a_line_is_drawn_where_its_data_says)
{
    double x[CURVE_POINTS], y[CURVE_POINTS], cx[CURVE_POINTS], cy[CURVE_POINTS];
    for (int i = 0; i < CURVE_POINTS; i++) {
        x[i] = 10.0 * i / (CURVE_POINTS - 1);
        y[i] = sin(x[i]);
        cx[i] = t_frame_x(x[i] / 10);
        cy[i] = t_frame_y((y[i] + 1.5) / 3);
    }
    fp_plot plot = { "sin", { "x", 0, 10, 0 }, { "y", -1.5, 1.5, 0 }, 0, 0, 0 };
    fp_error err;
    const char *path = tmpfile_in("sin.png");
    ck_assert_msg(fp_plot_line(path, &plot, x, y, CURVE_POINTS, &err) == 0, "%s", err.msg);
    t_image image = t_png_read(path);
    ck_assert_int_eq(image.width, FP_PLOT_WIDTH);
    ck_assert_int_eq(image.height, FP_PLOT_HEIGHT);
    for (double at = 0.5; at < 10; at += 0.5) {   /* on the curve, and not 0.5 above or below it */
        double s = sin(at);
        ck_assert_msg(t_colour_near(&image, t_frame_x(at / 10), t_frame_y((s + 1.5) / 3), 1,
                                    FP_PLOT_LINE_RGB, TOL) > 0, "no curve at x = %g", at);
        for (int side = -1; side <= 1; side += 2)
            ck_assert_int_eq(t_colour_near(&image, t_frame_x(at / 10),
                                           t_frame_y((s + side * 0.5 + 1.5) / 3), 2,
                                           FP_PLOT_LINE_RGB, TOL), 0);
    }
    ck_assert_int_gt(curve_pixels_on_the_curve(&image, cx, cy, CURVE_POINTS), 500);
    /* the frame and the tick labels are black, the background white */
    ck_assert_uint_eq(t_pixel(&image, 5, 5), 0xffffff);
    ck_assert_int_gt(t_colour_near(&image, FP_PLOT_LEFT, FP_PLOT_HEIGHT / 2, 1, 0, 60), 0);
    t_png_free(&image);
}
END_TEST

/* A density on a log axis from the data: the curve at log-scaled heights;
 * the zeros at the axis' bottom. */
START_TEST(a_log_axis_places_decades)
{
    double x[CURVE_POINTS], y[CURVE_POINTS], cx[CURVE_POINTS], cy[CURVE_POINTS];
    for (int i = 0; i < CURVE_POINTS; i++) {
        x[i] = -2 + 4.0 * i / (CURVE_POINTS - 1);
        y[i] = pow(10, -3 + 4 * (1 - x[i] * x[i] / 4));   /* from 1e-3 up to 10 */
        cx[i] = t_frame_x((x[i] + 2) / 4);
        cy[i] = t_frame_y((log10(y[i]) + 4) / 6);   /* the axis: 1e-4 to 1e2 */
    }
    fp_plot plot = { "log", { "eigenvalue", -2, 2, 0 }, { "density", 1e-4, 1e2, 1 }, 0, 0, 0 };
    fp_error err;
    const char *path = tmpfile_in("log.png");
    ck_assert_msg(fp_plot_line(path, &plot, x, y, CURVE_POINTS, &err) == 0, "%s", err.msg);
    t_image image = t_png_read(path);
    ck_assert_int_gt(curve_pixels_on_the_curve(&image, cx, cy, CURVE_POINTS), 300);
    ck_assert_int_gt(t_colour_near(&image, t_frame_x(0.5), t_frame_y(5.0 / 6), 1, FP_PLOT_LINE_RGB,
                                   TOL), 0);   /* the peak, 10, at 5/6 of the height */
    t_png_free(&image);
    /* automatic limits: whole decades around the data */
    plot.y.lo = plot.y.hi = 0;
    ck_assert_msg(fp_plot_line(path, &plot, x, y, CURVE_POINTS, &err) == 0, "%s", err.msg);
    image = t_png_read(path);
    for (int i = 0; i < CURVE_POINTS; i++)
        cy[i] = t_frame_y((log10(y[i]) + 3) / 4);   /* 1e-3 to 1e1 */
    ck_assert_int_gt(curve_pixels_on_the_curve(&image, cx, cy, CURVE_POINTS), 300);
    t_png_free(&image);
}
END_TEST

START_TEST(a_contour_line_lies_on_its_level)
{
    enum { GRID = 41 };
    double g[GRID], z[GRID * GRID];
    for (int i = 0; i < GRID; i++)
        g[i] = -1 + 2.0 * i / (GRID - 1);
    for (int i = 0; i < GRID; i++)
        for (int j = 0; j < GRID; j++)
            z[i * GRID + j] = g[i] * g[i] + 0.25 * g[j] * g[j];   /* level 1: an ellipse */
    fp_plot plot = { "bowl", { "alpha", 0, 0, 0 }, { "beta", 0, 0, 0 }, 1, 0, 0 };
    fp_error err;
    const char *path = tmpfile_in("bowl.png");
    /* levels: 1 of (0, 1.25) sits at 0.625 */
    ck_assert_double_eq_tol(fp_plot_level(0, 1.25, 0, 1), 0.625, 1e-15);
    ck_assert_msg(fp_plot_contour(path, &plot, g, GRID, g, GRID, z, 1, "loss", &err) == 0, "%s",
                  err.msg);
    t_image image = t_png_read(path);
    ck_assert_int_eq(image.width, FP_PLOT_WIDTH);
    unsigned colour = fp_plot_level_rgb(0, 1);
    double a = sqrt(0.625), b = sqrt(0.625 / 0.25);   /* the ellipse's half-axes */
    int on = 0, tried = 0;
    for (int k = 0; k < 36; k++) {
        double t = k * M_PI / 18, px = a * cos(t), py = b * sin(t);
        if (fabs(py) > 0.95)
            continue;   /* (cut by the frame) */
        tried++;
        on += t_colour_near(&image, t_contour_frame_x((px + 1) / 2), t_frame_y((py + 1) / 2), 2,
                            colour, TOL) > 0;
        /* none well inside or outside it */
        ck_assert_int_eq(t_colour_near(&image, t_contour_frame_x((0.75 * px + 1) / 2),
                                       t_frame_y((0.75 * py + 1) / 2), 2, colour, TOL), 0);
        if (fabs(1.25 * px) < 0.95 && fabs(1.25 * py) < 0.95)
            ck_assert_int_eq(t_colour_near(&image, t_contour_frame_x((1.25 * px + 1) / 2),
                                           t_frame_y((1.25 * py + 1) / 2), 2, colour, TOL), 0);
    }
    ck_assert_int_ge(tried, 12);
    ck_assert_int_eq(on, tried);
    /* the mark at the origin: black */
    ck_assert_int_gt(t_colour_near(&image, t_contour_frame_x(0.5), t_frame_y(0.5), 1, 0, 40), 0);
    t_png_free(&image);
}
END_TEST

START_TEST(svg_through_cairos_svg_surface)
{
    double x[3] = { 0, 1, 2 }, y[3] = { 1, 3, 2 };
    fp_plot plot = { "svg", { "x", 0, 0, 0 }, { "y", 0, 0, 0 }, 0, 0, 0 };
    fp_error err;
    const char *path = tmpfile_in("line.SVG");
    ck_assert_msg(fp_plot_line(path, &plot, x, y, 3, &err) == 0, "%s", err.msg);
    size_t len;
    char *text = read_file(path, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "<svg") && strstr(text, "width=\"800pt\"")
                  && strstr(text, "height=\"560pt\""), "%.300s", text);
    ck_assert_ptr_nonnull(strstr(text, "rgb(12.156863%,46.666667%,70.588235%)"));   /* #1f77b4 */
    free(text);
}
END_TEST

START_TEST(errors_name_the_file)
{
    double x[2] = { 0, 1 }, y[2] = { 0, 1 };
    fp_plot plot = { "t", { "x", 0, 0, 0 }, { "y", 0, 0, 0 }, 0, 0, 0 };
    fp_error err;
    ck_assert_int_eq(fp_plot_line("/nonexistent-fp/p.png", &plot, x, y, 2, &err), -1);
    ck_assert_msg(strstr(err.msg, "/nonexistent-fp/p.png"), "%s", err.msg);
    ck_assert_int_eq(fp_plot_line(tmpfile_in("p.txt"), &plot, x, y, 2, &err), -1);
    ck_assert_str_eq(strstr(err.msg, "p.txt"), "p.txt: a plot is written as .png or .svg");
    ck_assert(fp_plot_wanted("a.PNG") && fp_plot_wanted("b.svg") && !fp_plot_wanted("c.npy")
              && !fp_plot_wanted(".png") && !fp_plot_wanted(NULL));
}
END_TEST

TCase *plot_tcase(void)
{
    TCase *tc = tcase_create("plot");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_line_is_drawn_where_its_data_says);
    tcase_add_test(tc, a_log_axis_places_decades);
    tcase_add_test(tc, a_contour_line_lies_on_its_level);
    tcase_add_test(tc, svg_through_cairos_svg_surface);
    tcase_add_test(tc, errors_name_the_file);
    return tc;
}
