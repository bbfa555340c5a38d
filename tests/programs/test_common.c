/* The example programs' shared helpers (examples/common): atomic output
 * files, early path checks, progress lines, the signal handler, plots with
 * whole-number ticks, the JSON provenance block. Expected values are
 * derived here (file contents written by the test, ETAs from a clock the
 * test sets), never read back from the code under test. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "interrupt.h"
#include "json_out.h"
#include "output.h"
#include "program.h"
#include "progress.h"
#include "provenance.h"
#include "svg.h"
#include "svg_lines.h"
#include "test_util.h"
#include "tmpdir.h"

/* The whole content of a file (malloc'ed, NUL-terminated), NULL if absent. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Entries of `dir` other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------- output */

START_TEST(commit_replaces_the_target_and_leaves_no_temporary)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "out_commit");
    const char *target = tu_path_in(dir, "r.json");
    spit(target, "old content\n");
    mode_t old_mask = umask(022);
    output_file_t o;
    FILE *f = output_open(&o, target);
    ck_assert_ptr_nonnull(f);
    fputs("{\"new\": 1}\n", f);
    /* Before the commit the target still holds the old content, and the
     * new one sits in a second file of the same directory. */
    char *before = slurp(target);
    ck_assert_str_eq(before, "old content\n");
    free(before);
    ck_assert_int_eq(count_entries(dir), 2);
    ck_assert_int_eq(output_commit(&o), 0);
    umask(old_mask);
    char *after = slurp(target);
    ck_assert_str_eq(after, "{\"new\": 1}\n");
    free(after);
    ck_assert_int_eq(count_entries(dir), 1);
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644); /* 0666 & ~022, as fopen would make it */
    tu_remove_dir(dir);
}
END_TEST

START_TEST(abort_keeps_the_old_target)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "out_abort");
    const char *target = tu_path_in(dir, "r.csv");
    spit(target, "a,b\n1,2\n");
    output_file_t o;
    FILE *f = output_open(&o, target);
    ck_assert_ptr_nonnull(f);
    fputs("half a fi", f);
    output_abort(&o);
    char *now = slurp(target);
    ck_assert_str_eq(now, "a,b\n1,2\n");
    free(now);
    ck_assert_int_eq(count_entries(dir), 1);
    output_abort(&o); /* twice is harmless */
    tu_remove_dir(dir);
}
END_TEST

START_TEST(open_in_a_missing_directory_fails_cleanly)
{
    output_file_t o;
    errno = 0;
    ck_assert_ptr_null(output_open(&o, "/nonexistent-sigeo-dir/x.svg"));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_null(output_open(&o, ""));
    ck_assert_ptr_null(output_open(&o, "/tmp/"));
    output_abort(&o); /* nothing to release */
}
END_TEST

START_TEST(path_checks_say_what_is_wrong)
{
    char dir[256], why[512];
    tu_make_dir(dir, sizeof dir, "out_check");
    ck_assert_int_eq(output_check_file(tu_path_in(dir, "fine.json"), why, sizeof why), 0);
    ck_assert_int_eq(output_check_file("/nonexistent-sigeo-dir/x.json", why, sizeof why), -1);
    ck_assert_str_contains(why, "'/nonexistent-sigeo-dir' does not exist");
    ck_assert_int_eq(output_check_file(dir, why, sizeof why), -1);
    ck_assert_str_contains(why, "is a directory");
    ck_assert_int_eq(output_check_file("", why, sizeof why), -1);
    char plain[300];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    spit(plain, "x");
    char below[400];
    snprintf(below, sizeof below, "%s/x.svg", plain);
    ck_assert_int_eq(output_check_file(below, why, sizeof why), -1);
    ck_assert_str_contains(why, "is not a directory");
    /* a bare name lives in the working directory */
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(output_check_file("bare.json", why, sizeof why), 0);
    /* directories: existing, creatable, not creatable */
    ck_assert_int_eq(output_check_dir(dir, 0, why, sizeof why), 0);
    ck_assert_int_eq(output_check_dir(tu_path_in(dir, "new"), 0, why, sizeof why), -1);
    ck_assert_int_eq(output_check_dir(tu_path_in(dir, "new/"), 1, why, sizeof why), 0);
    ck_assert_int_eq(output_check_dir("/nonexistent-sigeo-dir/plots", 1, why, sizeof why), -1);
    ck_assert_str_contains(why, "'/nonexistent-sigeo-dir' does not exist");
    ck_assert_int_eq(output_check_dir(plain, 1, why, sizeof why), -1);
    ck_assert_int_eq(count_entries(dir), 1); /* the checks created nothing */
    if (geteuid() != 0) { /* root may write anywhere */
        ck_assert_int_eq(chmod(dir, 0555), 0);
        ck_assert_int_eq(output_check_file(tu_path_in(dir, "ro.json"), why, sizeof why), -1);
        ck_assert_str_contains(why, "not writable");
        ck_assert_int_eq(chmod(dir, 0755), 0);
    }
    ck_assert_int_eq(chdir("/"), 0);
    tu_remove_dir(dir);
}
END_TEST

/* ----------------------------------------------------------- progress */

/* A reporter writing into a temporary FILE, in `mode`, `interval` s. */
static progress_t make_progress(FILE *f, progress_mode_t mode, double interval)
{
    progress_t p;
    progress_init(&p, "prog", mode);
    p.f = f;
    p.interval = interval;
    return p;
}

static char *file_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

START_TEST(progress_lines_in_a_log)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    progress_t p = make_progress(f, PROGRESS_LINES, 0.0);
    progress_phase(&p, "train", 6);
    /* The phase began 10 s ago (the test sets the clock): 2 of 6 steps in
     * 10 s leave 4 steps at 5 s each, an ETA of 20 s. */
    p.phase_start.tv_sec -= 10;
    ck_assert_int_eq(progress_update(&p, 2, "network %d", 2), 1);
    progress_end(&p, "%d networks", 6);
    char *s = file_text(f);
    ck_assert_ptr_null(strchr(s, '\r'));
    ck_assert_str_contains(s, "prog: train 0/6, elapsed ");
    ck_assert_str_contains(s, "prog: train 2/6 (33.3 %), elapsed ");
    ck_assert_str_contains(s, ", ETA 20 s: network 2\n");
    ck_assert_str_contains(s, "prog: train done in 10 s: 6 networks\n");
    int lines = 0;
    for (const char *c = s; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 3);
    free(s);
    fclose(f);
}
END_TEST

START_TEST(progress_is_rate_limited)
{
    FILE *f = tmpfile();
    progress_t p = make_progress(f, PROGRESS_LINES, 1000.0);
    progress_phase(&p, "search", 100);
    for (int i = 1; i <= 100; i++)
        ck_assert_int_eq(progress_update(&p, i, NULL), 0); /* within the interval of the start line */
    progress_end(&p, NULL);
    char *s = file_text(f);
    ck_assert_ptr_null(strstr(s, "search 1/"));
    ck_assert_str_contains(s, "prog: search done in");
    free(s);
    fclose(f);
}
END_TEST

START_TEST(progress_on_a_terminal_rewrites_one_line)
{
    FILE *f = tmpfile();
    progress_t p = make_progress(f, PROGRESS_TTY, 0.0);
    progress_phase(&p, "warm-up", 0);
    progress_update(&p, 5, "a long description of the step");
    progress_update(&p, 6, NULL); /* shorter: the rest of the old line is blanked */
    progress_note(&p, "a note");
    char *s = file_text(f);
    ck_assert_str_contains(s, "\rprog: warm-up 5, elapsed ");
    ck_assert_str_contains(s, "\rprog: warm-up 6, elapsed ");
    /* the note starts on a line of its own */
    ck_assert_str_contains(s, "\n\rprog: a note\n");
    const char *six = strstr(s, "\rprog: warm-up 6");
    const char *five = strstr(s, "\rprog: warm-up 5");
    ck_assert_uint_ge(strcspn(six + 1, "\r\n"), strcspn(five + 1, "\r\n"));
    free(s);
    fclose(f);
}
END_TEST

START_TEST(progress_off_prints_nothing)
{
    FILE *f = tmpfile();
    progress_t p = make_progress(f, PROGRESS_OFF, 0.0);
    progress_phase(&p, "x", 3);
    progress_update(&p, 1, "y");
    progress_note(&p, "z");
    progress_end(&p, NULL);
    ck_assert_int_eq(ftell(f), 0);
    fclose(f);
}
END_TEST

START_TEST(seconds_read_like_a_clock)
{
    char b[32];
    progress_format_seconds(b, sizeof b, 4.26);
    ck_assert_str_eq(b, "4.3 s");
    progress_format_seconds(b, sizeof b, 59.9);
    ck_assert_str_eq(b, "59 s");
    progress_format_seconds(b, sizeof b, 75.0);
    ck_assert_str_eq(b, "1 min 15 s");
    progress_format_seconds(b, sizeof b, 2 * 3600.0 + 5 * 60.0 + 7.0);
    ck_assert_str_eq(b, "2 h 5 min");
    progress_format_seconds(b, sizeof b, -1.0);
    ck_assert_str_eq(b, "?");
}
END_TEST

/* ---------------------------------------------------------- interrupt */

START_TEST(first_signal_sets_the_flag_second_quits_and_cleans_up)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "sig");
    const char *target = tu_path_in(dir, "out.json");
    spit(target, "previous results\n");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child: an atomic write in progress when two signals arrive. */
        if (interrupt_install("child") != 0)
            _exit(10);
        output_file_t o;
        FILE *f = output_open(&o, target);
        if (!f)
            _exit(11);
        fputs("partial", f);
        fflush(f);
        if (interrupt_requested())
            _exit(12);
        raise(SIGTERM);
        if (!interrupt_requested() || interrupt_signal() != SIGTERM || strcmp(interrupt_signal_name(), "SIGTERM"))
            _exit(13);
        if (!interrupt_cancel(NULL))
            _exit(14);
        raise(SIGINT); /* the second: _exit(130) from the handler */
        _exit(15);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), PROGRAM_EXIT_INTERRUPTED);
    char *now = slurp(target);
    ck_assert_str_eq(now, "previous results\n");
    free(now);
    ck_assert_int_eq(count_entries(dir), 1); /* the temporary file is gone */
    tu_remove_dir(dir);
}
END_TEST

START_TEST(without_a_signal_nothing_is_requested)
{
    ck_assert_int_eq(interrupt_install("t"), 0);
    interrupt_reset();
    ck_assert_int_eq(interrupt_requested(), 0);
    ck_assert_int_eq(interrupt_signal(), 0);
    ck_assert_ptr_null(interrupt_signal_name());
    raise(SIGINT);
    ck_assert_int_eq(interrupt_requested(), 1);
    ck_assert_int_eq(interrupt_signal(), SIGINT);
    interrupt_reset();
    ck_assert_int_eq(interrupt_requested(), 0);
}
END_TEST

/* SIGUSR1 (what mpirun forwards) made a first interrupt; quiet: no notice. */
START_TEST(an_extra_signal_interrupts_and_quiet_says_nothing)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        if (interrupt_install("child") != 0 || interrupt_also(SIGUSR1) != 0)
            _exit(10);
        raise(SIGUSR1); /* noticed, with one line */
        if (!interrupt_requested() || strcmp(interrupt_signal_name(), "SIGUSR1"))
            _exit(11);
        interrupt_reset();
        interrupt_set_quiet(1);
        raise(SIGUSR1); /* noticed silently */
        _exit(interrupt_requested() ? 0 : 12);
    }
    close(fds[1]);
    char text[1024] = "";
    size_t n = 0;
    ssize_t k;
    while (n < sizeof text - 1 && (k = read(fds[0], text + n, sizeof text - 1 - n)) > 0)
        n += (size_t)k;
    text[n] = 0;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_str_contains(text, "child: SIGUSR1; stopping");
    ck_assert_ptr_null(strstr(strstr(text, "stopping") + 1, "stopping")); /* once: the quiet one said nothing */
}
END_TEST

/* The signal thread: signals blocked in the caller, taken by sigwait. */
START_TEST(a_signal_thread_takes_the_signals)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (interrupt_use_thread() != 0 || interrupt_install("child") != 0 || interrupt_also(SIGUSR1) != 0)
            _exit(10);
        interrupt_set_quiet(1);
        kill(getpid(), SIGUSR1); /* process-directed: the waiting thread takes it */
        /* waits end at the event; 120 s only bounds a broken thread (2 s
         * was too tight for a signal thread on a loaded machine) */
        for (int i = 0; i < 12000 && !interrupt_requested(); i++)
            nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
        if (!interrupt_requested() || interrupt_signal() != SIGUSR1)
            _exit(11);
        kill(getpid(), SIGTERM); /* the second: _exit(130) from that thread */
        for (int i = 0; i < 12000; i++)
            nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
        _exit(12);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), PROGRAM_EXIT_INTERRUPTED);
}
END_TEST

/* ----------------------------------------------------------------- cli */

START_TEST(an_option_and_its_value_in_one_call)
{
    static char words[] = "prog\0--json\0a.json\0--jobs=3\0--lr\0" "0.5\0--mode\0tiny\0--jobs\0" "99\0--mode\0huge\0--lr";
    char *argv[14];
    char *w = words;
    for (int i = 0; i < 13; i++, w += strlen(w) + 1)
        argv[i] = w;
    argv[13] = NULL;
    const int argc = 13;
    cli_t c;
    cli_init(&c, "prog", argc, argv);
    const char *json = NULL;
    int64_t jobs = 0;
    double lr = 0;
    int mode = -1;
    static const char *const modes[3] = { "scaled", "tiny", "full" };
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_int64_option(&c, "--jobs", &jobs, 1, 64), 0); /* another option: nothing taken */
    ck_assert_int_eq(cli_string(&c, "--json", &json), 1);
    ck_assert_str_eq(json, "a.json");
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_int64_option(&c, "--jobs", &jobs, 1, 64), 1);
    ck_assert_int_eq(jobs, 3);
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_double_option(&c, "--lr", &lr, 0, 1), 1);
    ck_assert(lr == 0.5);
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_choice(&c, "--mode", modes, 3, &mode), 1);
    ck_assert_int_eq(mode, 1);
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_int64_option(&c, "--jobs", &jobs, 1, 64), -1); /* 99 out of range */
    ck_assert_int_eq(jobs, 3);
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_choice(&c, "--mode", modes, 3, &mode), -1); /* not a choice */
    ck_assert_int_eq(mode, 1);
    ck_assert_ptr_nonnull(cli_next(&c));
    ck_assert_int_eq(cli_double_option(&c, "--lr", &lr, 0, 1), -1); /* no value */
}
END_TEST

/* --------------------------------------------------------------- plots */

/* 1 if s[0..n) contains `needle`. */
static int contains(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(s + i, needle, m))
            return 1;
    return 0;
}

/* Copies the text of every <text ...>...</text> element whose opening tag
 * contains `attr` into out (one per line). */
static void texts_with(const char *svg, const char *attr, char *out, size_t size)
{
    out[0] = '\0';
    size_t used = 0;
    for (const char *p = strstr(svg, "<text"); p; p = strstr(p + 1, "<text")) {
        const char *close = strchr(p, '>');
        const char *end = strstr(p, "</text>");
        if (!close || !end)
            break;
        if (!contains(p, (size_t)(close - p), attr))
            continue;
        int n = snprintf(out + used, size - used, "%.*s\n", (int)(end - close - 1), close + 1);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

START_TEST(line_chart_of_cycles_has_whole_number_ticks)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "svg_lines");
    const char *path = tu_path_in(dir, "search.svg");
    /* 4 cycles: a 1-2-5 step for 3 units over 8 ticks would be 0.5 */
    const double x[4] = { 0, 1, 2, 3 }, best[4] = { 1.0, 1.5, 1.7, 2.25 }, med[4] = { 0.2, 0.9, 1.1, 1.6 };
    svg_series_t s[2] = { { "best", x, best, 4, "#d62728" }, { "median", x, med, 4, "#1f77b4" } };
    ck_assert_int_eq(svg_write_lines(path, "search progress", "cycle", "proxy score", s, 2), 0);
    char *svg = slurp(path);
    ck_assert_str_contains(svg, "viewBox=\"0 0 ");
    ck_assert_str_contains(svg, "<title>search progress</title>");
    ck_assert_str_contains(svg, "class=\"x-label\"");
    ck_assert_str_contains(svg, ">cycle</text>");
    ck_assert_str_contains(svg, ">proxy score</text>");
    ck_assert_str_contains(svg, "class=\"legend\"");
    ck_assert_str_contains(svg, ">best</text>");
    ck_assert_str_contains(svg, ">median</text>");
    char ticks[2048];
    texts_with(svg, "text-anchor=\"middle\"", ticks, sizeof ticks);
    /* x tick labels: exactly 0, 1, 2, 3 */
    ck_assert_str_contains(ticks, "0\n1\n2\n3\n");
    ck_assert_ptr_null(strstr(ticks, "0.5"));
    ck_assert_ptr_null(strstr(ticks, "1.5"));
    free(svg);
    /* fractional data keep fractional ticks: the rule is about whole numbers only */
    const double xf[3] = { 0.0, 0.25, 0.5 };
    svg_series_t sf = { "f", xf, best, 3, "#000000" };
    ck_assert_int_eq(svg_write_lines(path, "t", "x", "y", &sf, 1), 0);
    svg = slurp(path);
    texts_with(svg, "text-anchor=\"middle\"", ticks, sizeof ticks);
    ck_assert_ptr_nonnull(strstr(ticks, "0.1"));
    free(svg);
    ck_assert_int_eq(count_entries(dir), 1);
    /* an unwritable place: an error, nothing left behind */
    errno = 0;
    ck_assert_int_eq(svg_write_lines("/nonexistent-sigeo-dir/s.svg", "t", "x", "y", s, 2), -1);
    ck_assert_int_eq(errno, ENOENT);
    tu_remove_dir(dir);
}
END_TEST

START_TEST(scatter_of_integers_has_whole_number_ticks)
{
    char dir[256];
    tu_make_dir(dir, sizeof dir, "svg_grid");
    const char *path = tu_path_in(dir, "grid.svg");
    const double x[3] = { 2, 3, 4 }, y[3] = { 0.5, 0.75, 0.6 }, h[3] = { 2, 3, 4 };
    svg_panel_t p = { 0 };
    p.title = "panel";
    p.x_label = "width h";
    p.y_label = "loss";
    p.x = x;
    p.y = y;
    p.color = h;
    p.n = 3;
    svg_figure_t fig = { 0 };
    fig.title = "the figure";
    fig.color_label = "hidden width h";
    fig.color_min = 2;
    fig.color_max = 4;
    fig.color_integer = 1;
    ck_assert_int_eq(svg_write_scatter_grid(path, &fig, &p, 1), 0);
    char *svg = slurp(path);
    ck_assert_str_contains(svg, "viewBox=\"0 0 ");
    ck_assert_str_contains(svg, "<title>the figure</title>");
    ck_assert_str_contains(svg, "class=\"x-label\"");
    ck_assert_str_contains(svg, "class=\"y-label\"");
    ck_assert_str_contains(svg, "class=\"legend\"");
    char ticks[4096];
    texts_with(svg, "font-size=\"10.5\"", ticks, sizeof ticks);
    /* x: 2, 3, 4; colour bar: 2, 3, 4; y (fractional data): decimals */
    ck_assert_ptr_null(strstr(ticks, "2.5"));
    ck_assert_ptr_null(strstr(ticks, "3.5"));
    ck_assert_ptr_nonnull(strstr(ticks, "0.6"));
    free(svg);
    tu_remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------- provenance */

START_TEST(provenance_block_names_schema_program_and_library)
{
    FILE *f = tmpfile();
    json_out_t j;
    json_out_init(&j, f, 0);
    char *argv[] = { (char *)"prog", (char *)"--x", NULL };
    const int64_t seeds[2] = { 3, 4 };
    provenance_t pv = { "prog.result", 2, "prog", 2, argv, 1, seeds, 2, 1 };
    interrupt_reset();
    json_out_begin_object(&j);
    provenance_json(&j, &pv);
    sigeo_proxy_result_t r = SIGEO_PROXY_RESULT_INIT;
    r.kind = SIGEO_PROXY_SIGEO;
    r.fr_estimator = SIGEO_FR_REFERENCE_CV;
    r.lambda1 = 1;
    r.lambda2 = 50;
    r.lambda3 = 1;
    r.flags = SIGEO_STATS_HAS_FR | SIGEO_STATS_FR_ZERO;
    json_out_key(&j, "result");
    json_out_begin_object(&j);
    provenance_json_proxy_result(&j, &r);
    json_out_end_object(&j);
    json_out_end_object(&j);
    const char *why;
    ck_assert_int_eq(json_out_finish(&j, &why), 0);
    char *s = file_text(f);
    char want[256];
    snprintf(want, sizeof want,
             "{\"schema\":{\"name\":\"prog.result\",\"version\":2},\"program\":\"prog\",\"program_version\":\"%s\","
             "\"libsigeo_version\":\"%s\",\"command\":[\"prog\",\"--x\"],\"threads\":1,\"seeds\":[3,4],"
             "\"interrupted\":true,",
             SIGEO_VERSION_STRING, sigeo_version());
    ck_assert_str_contains(s, want);
    ck_assert_str_contains(s, "\"proxy\":\"sigeo\"");
    ck_assert_str_contains(s, "\"lambdas\":[1,50,1]");
    ck_assert_str_contains(s, "\"fr_estimator\":\"reference-cv\"");
    ck_assert_str_contains(s, "\"zico_variant\":\"module-wise\"");
    ck_assert_str_contains(s, "\"flag_names\":[\"has_fr\",\"fr_zero\"]");
    free(s);
    fclose(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("programs-common");
    TCase *tc = tcase_create("output");
    tcase_add_test(tc, commit_replaces_the_target_and_leaves_no_temporary);
    tcase_add_test(tc, abort_keeps_the_old_target);
    tcase_add_test(tc, open_in_a_missing_directory_fails_cleanly);
    tcase_add_test(tc, path_checks_say_what_is_wrong);
    suite_add_tcase(s, tc);
    tc = tcase_create("progress");
    tcase_add_test(tc, progress_lines_in_a_log);
    tcase_add_test(tc, progress_is_rate_limited);
    tcase_add_test(tc, progress_on_a_terminal_rewrites_one_line);
    tcase_add_test(tc, progress_off_prints_nothing);
    tcase_add_test(tc, seconds_read_like_a_clock);
    suite_add_tcase(s, tc);
    tc = tcase_create("interrupt");
    tcase_add_test(tc, first_signal_sets_the_flag_second_quits_and_cleans_up);
    tcase_add_test(tc, without_a_signal_nothing_is_requested);
    tcase_add_test(tc, an_extra_signal_interrupts_and_quiet_says_nothing);
    tcase_add_test(tc, a_signal_thread_takes_the_signals);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_add_test(tc, an_option_and_its_value_in_one_call);
    suite_add_tcase(s, tc);
    tc = tcase_create("plots");
    tcase_add_test(tc, line_chart_of_cycles_has_whole_number_ticks);
    tcase_add_test(tc, scatter_of_integers_has_whole_number_ticks);
    suite_add_tcase(s, tc);
    tc = tcase_create("provenance");
    tcase_add_test(tc, provenance_block_names_schema_program_and_library);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
