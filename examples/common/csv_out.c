/* CSV writer (see csv_out.h). */
#include "csv_out.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void csv_out_init(csv_out_t *c, FILE *f)
{
    c->f = f;
    c->fields_in_row = 0;
}

static void separator(csv_out_t *c)
{
    if (c->fields_in_row++)
        fputc(',', c->f);
}

void csv_out_text(csv_out_t *c, const char *s)
{
    separator(c);
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, c->f);
        return;
    }
    fputc('"', c->f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', c->f);
        fputc(*s, c->f);
    }
    fputc('"', c->f);
}

void csv_out_number(csv_out_t *c, double v)
{
    separator(c);
    if (isfinite(v))
        fprintf(c->f, "%.10g", v == 0.0 ? 0.0 : v);
}

void csv_out_int(csv_out_t *c, int64_t v)
{
    separator(c);
    fprintf(c->f, "%" PRId64, v);
}

void csv_out_end_row(csv_out_t *c)
{
    fputc('\n', c->f);
    c->fields_in_row = 0;
}

int csv_out_status(const csv_out_t *c)
{
    return ferror(c->f) ? -1 : 0;
}
