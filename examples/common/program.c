/* Exit statuses, --version and the common help sections (see program.h). */
#include "program.h"

#include "sigeo/sigeo.h"

const char *program_version(void)
{
    return SIGEO_VERSION_STRING;
}

int program_print_version(const char *prog)
{
    printf("%s %s\nlibsigeo %s\n", prog, program_version(), sigeo_version());
    if (sigeo_version_number() != SIGEO_VERSION_NUMBER)
        printf("(built with the libsigeo %s headers)\n", SIGEO_VERSION_STRING);
    return PROGRAM_EXIT_OK;
}

void program_help_options(FILE *f, unsigned flags)
{
    if (flags & PROGRAM_HELP_QUIET)
        fputs("  --quiet              no progress on stderr (errors only). Progress is a line every few seconds\n"
              "                       when stderr is not a terminal (a log), one line updated in place on a terminal\n",
              f);
    fputs("  --version            the program's and libsigeo's versions\n"
          "  --help               this text\n",
          f);
}

void program_help_exit_status(FILE *f, unsigned flags)
{
    fputs("Exit status:\n"
          "  0    done\n"
          "  1    a failure while running (library error, output file)\n"
          "  2    bad usage: an unknown option, a bad value, an unusable path or data; nothing was done\n",
          f);
    if (flags & PROGRAM_HELP_INTERRUPT)
        fputs("  130  interrupted (Ctrl-C / SIGTERM): stopped at a safe point, what was complete is written\n"
              "       (JSON marked \"interrupted\": true); a second Ctrl-C quits at once, outputs untouched\n",
              f);
}
