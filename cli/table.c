/*
 * table.c - output shaped like AIStore's CLI: its tables come from Go's
 * text/tabwriter (minwidth 0, tabwidth 8, padding 1, padded with tabs) over
 * templates whose cells after the first start with a space; sizes are IEC.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_table_init(cli_table *t, int ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

void cli_table_row(cli_table *t, ...)
{
    const char *cells[16] = {0};
    va_list ap;
    va_start(ap, t);
    for (int c = 0; c < t->ncols && c < 16; c++)
        cells[c] = va_arg(ap, const char *);
    va_end(ap);
    cli_table_rowv(t, cells);
}

void cli_table_rowv(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = cmn_xrealloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof(char *));
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = cmn_xstrdup(cells[c] ? cells[c] : "");
    t->nrows++;
}

/* display width: count UTF-8 lead bytes, as tabwriter counts runes */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

bool cli_table_print(cli_table *t)
{
    /* every cell but the last of a row is tab-terminated in the template;
     * the row's last cell (" ") is written as is */
    size_t *colw = cmn_xcalloc((size_t)t->ncols, sizeof *colw);
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c + 1 < t->ncols; c++) {
            size_t w = width(t->cells[r * t->ncols + c]) + 1;
            if (w > colw[c])
                colw[c] = w;
        }
    for (int c = 0; c + 1 < t->ncols; c++)
        colw[c] = (colw[c] + 7) / 8 * 8;
    cmn_buf line;
    cmn_buf_init(&line);
    bool ok = true;
    for (int r = 0; r < t->nrows && ok; r++) {
        cmn_buf_reset(&line);
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            cmn_buf_puts(&line, cell);
            if (c + 1 < t->ncols) {
                size_t pad = colw[c] - width(cell);
                for (size_t k = 0; k < (pad + 7) / 8; k++)
                    cmn_buf_puts(&line, "\t");
            }
        }
        cmn_buf_puts(&line, "\n");
        if (fwrite(line.data, 1, line.len, stdout) != line.len)
            ok = false;
    }
    cmn_buf_free(&line);
    free(colw);
    if (fflush(stdout) != 0)
        ok = false;
    return ok;
}

void cli_table_free(cli_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void cli_fmt_size(int64_t b, char *out, size_t outlen)
{
    static const struct {
        int64_t unit;
        const char *name;
    } units[] = {{1LL << 40, "TiB"}, {1LL << 30, "GiB"}, {1LL << 20, "MiB"}, {1LL << 10, "KiB"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (b >= units[i].unit) {
            snprintf(out, outlen, "%.2f%s", (double)(float)((float)b / (float)units[i].unit), units[i].name);
            return;
        }
    }
    snprintf(out, outlen, "%lldB", (long long)b);
}

int cli_parse_size(const char *s, int64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -EINVAL;
    char suf[8] = {0};
    size_t n = 0;
    for (; *end && n < sizeof suf - 1; end++)
        suf[n++] = (char)toupper((unsigned char)*end);
    if (*end)
        return -EINVAL;
    static const struct {
        const char *s;
        double m;
    } tab[] = {{"", 1},           {"B", 1},           {"K", 1024},       {"KB", 1e3},
               {"KIB", 1024},     {"M", 1048576},     {"MB", 1e6},       {"MIB", 1048576},
               {"G", 1073741824}, {"GB", 1e9},        {"GIB", 1073741824}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(suf, tab[i].s) == 0) {
            *out = (int64_t)(v * tab[i].m);
            return 0;
        }
    }
    return -EINVAL;
}

bool cli_stdout_tty(void) { return isatty(STDOUT_FILENO) == 1; }
