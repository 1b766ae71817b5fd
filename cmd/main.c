/* flatparams: the command table (git.c's shape) and nothing else. */
#include "cmd.h"
#include "compute/fp_compute.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static const cmd *const commands[] = {
    &cmd_flatten,
    &cmd_rebuild,
    &cmd_modules,
    &cmd_params,
    &cmd_summary,
    &cmd_convert,
    &cmd_predict,
    &cmd_gradient,
    &cmd_hessian,
    &cmd_landscape,
    NULL,
};

static void print_help(FILE *out)
{
    fputs("usage: flatparams COMMAND [OPTIONS]\n\n"
          "Nested model files <-> one flat parameter vector (Flux's destructure),\n"
          "and gradients and Hessians with respect to that vector.\n\n"
          "commands:\n", out);
    for (const cmd *const *c = commands; *c; c++) {   /* each synopsis: up to its blank line */
        const char *end = strstr((*c)->usage, "\n\n");
        fprintf(out, "  %.*s\n", (int)(end ? end - (*c)->usage : (long)strlen((*c)->usage)),
                (*c)->usage);
    }
    fputs("\n'flatparams COMMAND -h' describes a command; 'flatparams --version' prints the version.\n",
          out);
}

/* Before any library's constructor starts OpenBLAS's threads: under an
 * address-space limit, only as many as it holds (fp_blas_fit_threads). */
static void before_constructors(int argc, char **argv, char **envp)
{
    (void)argc;
    fp_blas_fit_threads(argv, envp);
}
__attribute__((section(".preinit_array"), used))
static void (*const preinit)(int, char **, char **) = before_constructors;

/* SIGINT, SIGTERM, SIGHUP: the temporaries go, then the signal's own ending. */
static void on_stop_signal(int sig)
{
    fp_outfile_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* After -h or --version: 0, or 1 when standard output could not take it. */
static int printed(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EXIT_OK;
    return cmd_errorf("<stdout>: cannot write: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    /* A closed pipe (flatten | head) is the reader's choice, not our failure:
     * end quietly by SIGPIPE as cat does, even when the parent ignored it. Files
     * are written to temporaries, so no output file is left torn by it. */
    signal(SIGPIPE, SIG_DFL);
    const int stops[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++) {
        struct sigaction was, sa = { .sa_handler = on_stop_signal };
        sigemptyset(&sa.sa_mask);
        if (sigaction(stops[i], NULL, &was) == 0 && was.sa_handler != SIG_IGN)   /* nohup */
            sigaction(stops[i], &sa, NULL);
    }
    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("flatparams %s\n", FP_VERSION);
        return printed();
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return printed();
    }
    for (const cmd *const *c = commands; *c; c++) {
        if (strcmp(argv[1], (*c)->name))
            continue;
        cmd_opts opts;
        int rc = cmd_parse(*c, argc - 2, argv + 2, &opts);
        if (rc < 0)   /* -h or --version */
            return printed();
        if (rc)
            return rc;
        return (*c)->run(&opts);
    }
    fprintf(stderr, "flatparams: error: %s: unknown command (see 'flatparams -h')\n", argv[1]);
    return EXIT_USAGE;
}
