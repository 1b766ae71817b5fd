/* The curvature suite: plots, spectral densities (stochastic Lanczos
 * quadrature), Hutch++ beside Hutchinson, eigenvectors, loss landscapes. This
 * file holds its main and the PNG helpers its files share. */
#include "test_curvature.h"

#include "harness.h"

t_image t_png_read(const char *path)
{
    t_image image = { cairo_image_surface_create_from_png(path), 0, 0 };
    ck_assert_msg(cairo_surface_status(image.surface) == CAIRO_STATUS_SUCCESS, "%s: %s", path,
                  cairo_status_to_string(cairo_surface_status(image.surface)));
    image.width = cairo_image_surface_get_width(image.surface);
    image.height = cairo_image_surface_get_height(image.surface);
    return image;
}

void t_png_free(t_image *image)
{
    cairo_surface_destroy(image->surface);
    image->surface = NULL;
}

unsigned t_pixel(const t_image *image, int x, int y)
{
    if (x < 0 || y < 0 || x >= image->width || y >= image->height)
        return 0xffffff;
    cairo_surface_flush(image->surface);
    const unsigned char *row = cairo_image_surface_get_data(image->surface)
                               + (size_t)y * (size_t)cairo_image_surface_get_stride(image->surface);
    return ((const uint32_t *)row)[x] & 0xffffff;   /* opaque: no premultiplication to undo */
}

int t_colour_close(unsigned a, unsigned b, int tol)
{
    for (int shift = 0; shift <= 16; shift += 8) {
        int d = (int)(a >> shift & 255) - (int)(b >> shift & 255);
        if (d > tol || d < -tol)
            return 0;
    }
    return 1;
}

int t_colour_near(const t_image *image, double x, double y, int radius, unsigned rgb, int tol)
{
    int count = 0, cx = (int)x, cy = (int)y;
    for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++)
            count += t_colour_close(t_pixel(image, cx + dx, cy + dy), rgb, tol);
    return count;
}

double t_frame_x(double t)
{
    return FP_PLOT_LEFT + t * (FP_PLOT_WIDTH - FP_PLOT_RIGHT - FP_PLOT_LEFT);
}

double t_frame_y(double t)
{
    return FP_PLOT_HEIGHT - FP_PLOT_BOTTOM - t * (FP_PLOT_HEIGHT - FP_PLOT_BOTTOM - FP_PLOT_TOP);
}

double t_contour_frame_x(double t)
{
    return FP_PLOT_LEFT + t * (FP_PLOT_WIDTH - FP_PLOT_RIGHT_BAR - FP_PLOT_LEFT);
}

int main(void)
{
    Suite *s = suite_create("curvature");
    suite_add_tcase(s, plot_tcase());
    suite_add_tcase(s, density_tcase());
    suite_add_tcase(s, trace_tcase());
    suite_add_tcase(s, eigvecs_tcase());
    suite_add_tcase(s, landscape_tcase());
    return run_suite(s);
}
