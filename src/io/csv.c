/* Numeric CSV reader: comma separated finite numbers, an optional header
 * (the first non-blank line, when one of its fields is a word), blank
 * lines skipped, CRLF accepted. No quoting: a quoted header name loses its
 * quotes, a quoted number is an error. Lines and the table are size-capped. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/io.h"

#define MAX_LINE ((size_t)16 << 20)        /* bytes in one line */
#define MAX_VALUES (((size_t)4 << 30) / 8) /* 4 GiB of doubles */
#define SHOW 32                            /* field characters quoted in a message */

typedef struct reader {
    const char *path;
    FILE *f;
    char *buf; /* the current line, NUL-terminated, no newline */
    size_t len, cap;
    long line;
    size_t cap_values; /* allocated doubles in the table */
    size_t cap_rows;   /* allocated entries of lines and last_cols */
} reader;

/* Reads the next line into r->buf; *eof is set when there is none. */
static gg_status next_line(reader *r, bool *eof, gg_error *err) {
    int c;
    r->len = 0;
    r->line++;
    *eof = true;
    while ((c = getc(r->f)) != EOF) {
        *eof = false;
        if (c == '\n') break;
        if (c == '\0')
            return gg_fail(err, GG_ERR_DATA, "%s:%ld:%zu: expected text, found a NUL byte",
                           r->path, r->line, r->len + 1);
        if (r->len + 1 >= r->cap) {
            if (r->cap >= MAX_LINE)
                return gg_fail(err, GG_ERR_DATA, "%s:%ld: line longer than %zu bytes",
                               r->path, r->line, MAX_LINE);
            size_t ncap = r->cap ? 2 * r->cap : 4096;
            char *p = realloc(r->buf, ncap);
            if (!p) return gg_fail(err, GG_ERR_NOMEM, "out of memory for a %zu-byte line", ncap);
            r->buf = p;
            r->cap = ncap;
        }
        r->buf[r->len++] = (char)c;
    }
    if (ferror(r->f))
        return gg_fail(err, gg_open_error(errno), "%s:%ld: cannot read: %s", r->path, r->line,
                       strerror(errno));
    if (r->len && r->buf[r->len - 1] == '\r') r->len--;
    r->buf[r->len] = '\0';
    return GG_OK;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static size_t count_fields(const char *s) {
    size_t n = 1;
    while ((s = strchr(s, ','))) n++, s++;
    return n;
}

/* Splits the line in place at commas into start[0..], trimming the blanks
 * around each field; start has room for every field (count_fields). */
static void split(char *s, char **start) {
    for (size_t n = 0;; n++) {
        while (is_blank(*s)) s++;
        char *end = strchr(s, ',');
        char *next = end ? end + 1 : NULL;
        if (!end) end = s + strlen(s);
        while (end > s && is_blank(end[-1])) end--;
        *end = '\0';
        start[n] = s;
        if (!next) return;
        s = next;
    }
}

/* 1: a finite number, 0: not a number, -1: a number that is not finite. */
static int parse_number(const char *s, double *v) {
    char *end;
    if (!*s) return 0;
    errno = 0;
    *v = strtod(s, &end);
    if (*end) return 0;
    return isfinite(*v) ? 1 : -1;
}

/* 'field' for a message, cut to SHOW characters. */
static const char *shown(const char *field, char out[SHOW + 4]) {
    snprintf(out, SHOW + 4, "%.*s%s", SHOW, field, strlen(field) > SHOW ? "..." : "");
    return out;
}

/* The 1-based column where field number `cols` (0-based: the first one too
 * many) starts; s has more than cols fields. */
static size_t extra_field_col(const char *s, int cols) {
    const char *p = s;
    for (int i = 0; i < cols; i++) p = strchr(p, ',') + 1;
    while (is_blank(*p)) p++;
    return (size_t)(p - s) + 1;
}

static bool line_is_blank(const char *s) {
    while (is_blank(*s)) s++;
    return *s == '\0';
}

/* A header has a field that is neither a number nor empty: "1,,2" is a
 * row with a missing value, not a header. */
static bool is_header(char **fields, size_t n) {
    double v;
    for (size_t i = 0; i < n; i++)
        if (*fields[i] && parse_number(fields[i], &v) == 0) return true;
    return false;
}

/* Takes the fields of the first line as column names. */
static gg_status take_header(gg_csv_table *t, char **fields, gg_error *err) {
    t->names = gg_alloc((size_t)t->cols * sizeof *t->names, err);
    if (!t->names) return GG_ERR_NOMEM;
    for (int i = 0; i < t->cols; i++) {
        char *s = fields[i];
        size_t n = strlen(s);
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
            s[n - 1] = '\0';
            s++;
        }
        if (!(t->names[i] = gg_strdup(s, err))) return GG_ERR_NOMEM;
    }
    t->has_header = true;
    return GG_OK;
}

/* Appends one row of numbers, growing the table geometrically. */
static gg_status add_row(reader *r, gg_csv_table *t, char **fields, gg_error *err) {
    size_t used = t->rows * (size_t)t->cols, need = used + (size_t)t->cols;
    if (need > MAX_VALUES)
        return gg_fail(err, GG_ERR_DATA, "%s:%ld: more than %zu values, too large a table",
                       r->path, r->line, MAX_VALUES);
    if (need > r->cap_values) {
        size_t ncap = r->cap_values ? 2 * r->cap_values : 1024;
        while (ncap < need) ncap *= 2;
        if (ncap > MAX_VALUES) ncap = MAX_VALUES;
        double *p = realloc(t->values, ncap * sizeof *p);
        if (!p) return gg_fail(err, GG_ERR_NOMEM, "out of memory for %zu CSV values", ncap);
        t->values = p;
        r->cap_values = ncap;
    }
    if (t->rows == r->cap_rows) { /* rows <= MAX_VALUES: the sizes cannot overflow */
        size_t ncap = r->cap_rows ? 2 * r->cap_rows : 256;
        size_t *l = realloc(t->lines, ncap * sizeof *l);
        if (l) t->lines = l;
        size_t *c = l ? realloc(t->last_cols, ncap * sizeof *c) : NULL;
        if (c) t->last_cols = c;
        if (!l || !c) return gg_fail(err, GG_ERR_NOMEM, "out of memory for %zu CSV rows", ncap);
        r->cap_rows = ncap;
    }
    for (int i = 0; i < t->cols; i++) {
        char cut[SHOW + 4];
        long col = (long)(fields[i] - r->buf) + 1;
        int ok = parse_number(fields[i], &t->values[used + (size_t)i]);
        if (ok == 0)
            return gg_fail(err, GG_ERR_DATA, "%s:%ld:%ld: expected a number, found '%s'",
                           r->path, r->line, col, shown(fields[i], cut));
        if (ok < 0)
            return gg_fail(err, GG_ERR_DATA,
                           "%s:%ld:%ld: expected a finite number, found '%s'", r->path,
                           r->line, col, shown(fields[i], cut));
    }
    t->lines[t->rows] = (size_t)r->line;
    t->last_cols[t->rows] = (size_t)(fields[t->cols - 1] - r->buf) + 1;
    t->rows++;
    return GG_OK;
}

gg_status gg_csv_read(const char *path, gg_csv_table *out, gg_error *err) {
    gg_status rc = GG_OK;
    gg_csv_table t = {0};
    reader r = {.path = path};
    char **fields = NULL;
    bool eof = false;
    memset(out, 0, sizeof *out);
    r.f = fopen(path, "rb");
    if (!r.f) return gg_fail(err, gg_open_error(errno), "%s: cannot open: %s", path, strerror(errno));
    r.cap = 4096;
    if (!(r.buf = gg_alloc(r.cap, err))) {
        rc = GG_ERR_NOMEM;
        goto done;
    }
    for (;;) {
        rc = next_line(&r, &eof, err);
        if (rc != GG_OK || eof) goto done;
        char *s = r.buf;
        if (r.line == 1 && r.len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            memset(s, ' ', 3); /* a UTF-8 byte order mark, as spreadsheets write */
        if (line_is_blank(s)) continue;
        size_t n = count_fields(s);
        if (!fields) { /* the first line fixes the number of columns */
            t.cols = (int)n; /* n <= MAX_LINE: each field but the last takes a comma */
            fields = gg_alloc(n * sizeof *fields, err);
            if (!fields) {
                rc = GG_ERR_NOMEM;
                goto done;
            }
            split(s, fields);
            if (is_header(fields, n)) {
                rc = take_header(&t, fields, err);
                if (rc != GG_OK) goto done;
                continue;
            }
        } else if (n != (size_t)t.cols) { /* at the first extra field, or the line's end */
            size_t col = n > (size_t)t.cols ? extra_field_col(s, t.cols) : r.len + 1;
            rc = gg_fail(err, GG_ERR_DATA, "%s:%ld:%zu: expected %d fields, found %zu", path,
                         r.line, col, t.cols, n);
            goto done;
        } else {
            split(s, fields);
        }
        rc = add_row(&r, &t, fields, err);
        if (rc != GG_OK) goto done;
    }
done:
    if (rc == GG_OK && t.rows == 0)
        rc = gg_fail(err, GG_ERR_DATA, "%s: no data rows, expected at least one line of numbers",
                     path);
    if (rc == GG_OK)
        *out = t;
    else
        gg_csv_free(&t);
    free(fields);
    free(r.buf);
    fclose(r.f);
    return rc;
}

void gg_csv_free(gg_csv_table *t) {
    if (!t) return;
    if (t->names)
        for (int i = 0; i < t->cols; i++) free(t->names[i]);
    free(t->names);
    free(t->values);
    free(t->lines);
    free(t->last_cols);
    memset(t, 0, sizeof *t);
}
