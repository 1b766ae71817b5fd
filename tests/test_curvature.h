/* What the curvature suite's files share (plots, spectral densities, trace
 * estimators, eigenvectors, loss landscapes): PNGs read back with cairo, and
 * each file's test case. */
#ifndef FP_TEST_CURVATURE_H
#define FP_TEST_CURVATURE_H

#include <cairo.h>

#include "plot.h"
#include "test_hessian.h"

/* A PNG read back through cairo's image surface (ARGB32, opaque here). */
typedef struct t_image {
    cairo_surface_t *surface;
    int width, height;
} t_image;

t_image t_png_read(const char *path);   /* asserts that it reads */
void t_png_free(t_image *image);
/* The pixel at (x, y) as 0xRRGGBB; white outside the image. */
unsigned t_pixel(const t_image *image, int x, int y);
/* Whether two colours differ by at most tol in each channel. */
int t_colour_close(unsigned a, unsigned b, int tol);
/* How many pixels within radius (a square) of (x, y) are close to rgb. */
int t_colour_near(const t_image *image, double x, double y, int radius, unsigned rgb, int tol);

/* The frame of a plot's axes in canvas units (plot.h's fixed margins). */
double t_frame_x(double t);          /* t = 0: the left edge, 1: the right */
double t_frame_y(double t);          /* t = 0: the bottom edge, 1: the top */
double t_contour_frame_x(double t);  /* a contour plot's (its colour bar on the right) */

TCase *plot_tcase(void);
TCase *density_tcase(void);
TCase *trace_tcase(void);
TCase *eigvecs_tcase(void);
TCase *landscape_tcase(void);

#endif
