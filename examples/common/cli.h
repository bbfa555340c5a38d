/*
 * Command-line helpers for the example programs: a small cursor over argv
 * that recognises "--name VALUE" and "--name=VALUE", range-checked number
 * and list parsing with one-line error messages ("prog: --lr: 'x' is not a
 * number"), and the data-directory rule every Fashion-MNIST example follows:
 *
 *   --data-dir DIR, else $SIGEO_DATA_DIR (or its fashion-mnist/
 *   subdirectory), else /usr/share/datasets/fashion-mnist
 *
 * (the order of sigeo_fashion_mnist_locate, which does the looking; the
 * first place holding all four files wins).
 *
 *   cli_t c;  cli_init(&c, "prog", argc, argv);
 *   while (cli_next(&c)) {
 *       if (cli_flag(&c, "--quick")) quick = 1;
 *       else if ((r = cli_option(&c, "--lr")) != 0) { if (r < 0 || cli_double(&c, &lr, 0, 10)) return 2; }
 *       else { cli_unknown(&c); return 2; }
 *   }
 */
#ifndef SIGEO_EXAMPLES_CLI_H
#define SIGEO_EXAMPLES_CLI_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli {
    const char *prog;   /* program name used in messages */
    int argc;
    char **argv;        /* borrowed */
    int index;          /* position of the current argument */
    const char *arg;    /* current argument (NULL at the end) */
    const char *name;   /* option matched by the last cli_option */
    const char *value;  /* its value */
} cli_t;

void cli_init(cli_t *c, const char *prog, int argc, char **argv);

/* Advances to the next argument; returns it, or NULL at the end. */
const char *cli_next(cli_t *c);

/* 1 if the current argument is exactly `name` (a flag without value). */
int cli_flag(const cli_t *c, const char *name);

/* 1 if the current argument is option `name` with a value ("--x V" consumes
 * the next argument, "--x=V" does not), with c->value set; 0 if it is not
 * this option; -1 (message printed) if the value is missing. */
int cli_option(cli_t *c, const char *name);

/* Parse c->value of the current option. 0 on success; -1 (message printed
 * naming the option, the text and the accepted range) otherwise. */
int cli_int64(const cli_t *c, int64_t *out, int64_t min, int64_t max);
int cli_double(const cli_t *c, double *out, double min, double max);
/* Comma-separated lists ("0,10,20"): 1..cap entries, each in range. */
int cli_int64_list(const cli_t *c, int64_t *out, size_t cap, size_t *n_out, int64_t min, int64_t max);
int cli_double_list(const cli_t *c, double *out, size_t cap, size_t *n_out, double min, double max);

/* An option and its value in one call, so that a program's parser is one
 * line per option: 0 if the current argument is not option `name`; 1 when
 * it is and its value was stored in *out; -1 (message printed) when the
 * value is missing or out of range. Chained with ||, the first match wins:
 *
 *   else if ((r = cli_string(&c, "--json", &json)) || (r = cli_int64_option(&c, "--jobs", &jobs, 1, 64)))
 *       { if (r < 0) return 2; }
 *
 * cli_choice stores the index of the value in names[0..n) ("--protocol:
 * 'x' is not per-arch, supernet or both" otherwise). */
int cli_string(cli_t *c, const char *name, const char **out);
int cli_int64_option(cli_t *c, const char *name, int64_t *out, int64_t min, int64_t max);
int cli_double_option(cli_t *c, const char *name, double *out, double min, double max);
int cli_choice(cli_t *c, const char *name, const char *const *names, int n, int *out);

/* "prog: unknown argument 'x' (see --help)" */
void cli_unknown(const cli_t *c);

/* "prog: " + formatted message + newline, on stderr. */
void cli_error(const cli_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Finds the Fashion-MNIST directory by the rule above. `flag_dir` is the
 * --data-dir value or NULL. On success writes the directory into buf
 * (capacity size), sets *fell_back (may be NULL) to 1 if flag_dir was given
 * but did not hold the files (another place was used), and returns 0. When
 * no place holds the files, writes ONE line into `why` (capacity why_size)
 * naming the three places and what each lacked, and returns -1. */
int cli_fashion_mnist_dir(char *buf, size_t size, int *fell_back, const char *flag_dir, char *why,
                          size_t why_size);

/* As cli_fashion_mnist_dir, for programs where an explicit path that does
 * not work is an error: a --data-dir (flag_dir) that lacks the files is
 * refused instead of falling back to $SIGEO_DATA_DIR or the system
 * directory. On failure prints ONE line "prog: ..." and returns -1 (exit
 * status 2: nothing was done). */
int cli_fashion_mnist_dir_strict(const char *prog, char *buf, size_t size, const char *flag_dir);

#endif
