/* libFuzzer target for the Criteo TSV reader. Built by
 * tests/fuzz/meson.build with -Dfuzz=enabled (clang, see
 * tests/fuzz/README.md); replayed over tests/fuzz/corpus/criteo by the
 * plain test `replay-criteo`.
 * Byte 0 picks the options (bit 0: skip bad lines, bits 1..7: chunk rows
 * and a small max_line_bytes); the rest is the file. Checked: the line
 * parser on the raw input, and the reader streaming the same bytes: chunks
 * add up to the counted rows, every id is inside its table, dense values
 * are finite and >= 0, labels are 0/1, and nothing stays allocated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/criteo.h"
#include "sigeo/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void check_chunk(sigeo_dataset_t *ds, const int64_t tables[SIGEO_CRITEO_N_SPARSE], int64_t *rows)
{
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    if (sigeo_dataset_get_info(&info, ds) != SIGEO_OK || info.n_rows < 1)
        abort();
    sigeo_batch_t b = SIGEO_BATCH_INIT;
    if (sigeo_dataset_view(&b, ds, 0, info.n_rows) != SIGEO_OK)
        abort();
    for (int64_t i = 0; i < info.n_rows; i++) {
        if (b.labels[i] != 0 && b.labels[i] != 1)
            abort();
        for (int j = 0; j < SIGEO_CRITEO_N_DENSE; j++)
            if (!(b.dense[i * SIGEO_CRITEO_N_DENSE + j] >= 0.0f) || isinf(b.dense[i * SIGEO_CRITEO_N_DENSE + j]))
                abort();
        for (int f = 0; f < SIGEO_CRITEO_N_SPARSE; f++) {
            int64_t id = b.sparse_ids[i * SIGEO_CRITEO_N_SPARSE + f];
            if (id < 0 || id >= tables[f])
                abort();
        }
    }
    *rows += info.n_rows;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int flags = data[0];
    data++;
    size--;

    sigeo__criteo_row_t row;
    int32_t field;
    const char *text;
    size_t text_len;
    int32_t problem = sigeo__criteo_parse_line(&row, (const char *)data, size, &field, &text, &text_len);
    if (problem < SIGEO_CRITEO_PROBLEM_NONE || problem > SIGEO_CRITEO_PROBLEM_TOO_LONG || field < 0 || field > 40)
        abort();

    if (!path[0])
        snprintf(path, sizeof path, "/tmp/sigeo_fuzz_criteo_%d", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp)
        abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);

    sigeo_criteo_options_t o = SIGEO_CRITEO_OPTIONS_INIT;
    o.on_bad_line = flags & 1;
    o.max_line_bytes = 64 + (flags >> 1) * 8;
    o.tables = SIGEO_CRITEO_TABLES_UNIFORM;
    o.table_size = 2 + (flags >> 1);
    int64_t tables[SIGEO_CRITEO_N_SPARSE];
    if (sigeo_criteo_table_sizes(tables, &o) != SIGEO_OK)
        abort();
    sigeo_criteo_reader_t *r = NULL;
    if (sigeo_criteo_reader_create(&r, path, &o) != SIGEO_OK)
        abort();
    int64_t rows = 0;
    for (;;) {
        sigeo_dataset_t *chunk = NULL;
        sigeo_status_t st = sigeo_criteo_reader_next(&chunk, r, 1 + (flags >> 4));
        if (st != SIGEO_OK) {
            if (chunk || st != SIGEO_ERR_FORMAT || (flags & 1))
                abort(); /* only strict mode fails, and only on format */
            break; /* the good rows read into the failed chunk are lost (io.h) */
        }
        if (!chunk)
            break;
        check_chunk(chunk, tables, &rows);
        sigeo_dataset_destroy(chunk);
    }
    /* io.h: stats.rows is the rows delivered (good lines); after a
     * strict-mode failure the good rows of the failed chunk were never
     * delivered and do not count (corpus/criteo/crash-stats-rows-counts-
     * lost-chunk). */
    sigeo_criteo_stats_t stats = SIGEO_CRITEO_STATS_INIT;
    if (sigeo_criteo_reader_get_stats(&stats, r) != SIGEO_OK || stats.rows != rows ||
        stats.rows + stats.bad_lines > stats.lines ||
        stats.bad_lines != stats.bad_field_count + stats.bad_label + stats.bad_integer + stats.bad_hex +
                               stats.too_long)
        abort();
    sigeo_criteo_reader_destroy(r);
    uint64_t blocks = 0;
    sigeo_memory_in_use(NULL, &blocks);
    if (blocks != 0)
        abort();
    return 0;
}
