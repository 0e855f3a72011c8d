/* Text into the page: every string that comes from a file (config values,
 * event messages, parameter names) goes through rp_html or rp_json_str, so
 * no markup can be injected. Invalid UTF-8 is replaced rather than copied:
 * the page stays valid UTF-8 whatever the files hold. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "report/report_int.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

void rp_html_n(FILE *f, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            switch (c) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            case '\n':
            case '\t': fputc(c, f); break;
            default:
                if (c >= 0x20 && c != 0x7F) fputc(c, f);
            }
            i++;
            continue;
        }
        size_t len = utf8_len(s + i, n - i);
        if (len == 0) {
            fputs("\xEF\xBF\xBD", f);
            i++;
        } else {
            fwrite(s + i, 1, len, f);
            i += len;
        }
    }
}

void rp_html(FILE *f, const char *s) {
    if (s) rp_html_n(f, s, strlen(s));
}

void rp_json_str(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t n = strlen((const char *)s), i = 0;
    fputc('"', f);
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
            else if (c == '\n') fputs("\\n", f);
            else if (c == '<' || c == '>' || c == '&' || c < 0x20 || c == 0x7F)
                fprintf(f, "\\u%04x", c);
            else fputc(c, f);
            i++;
            continue;
        }
        size_t len = utf8_len(s + i, n - i);
        if (len == 0) {
            fputs("\\ufffd", f);
            i++;
        } else if (len == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
            fprintf(f, "\\u%04x", s[i + 2] == 0xA8 ? 0x2028 : 0x2029);
            i += 3;
        } else {
            fwrite(s + i, 1, len, f);
            i += len;
        }
    }
    fputc('"', f);
}

void rp_json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

void rp_fmt_num(char *buf, size_t n, double v) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "n/a" : v > 0 ? "+inf" : "-inf");
        return;
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) snprintf(buf, n, "%.3e", v);
    else snprintf(buf, n, "%.4g", v);
}

void rp_fmt_count(char *buf, size_t n, double v) {
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, n, "n/a");
    else if (a >= 1e9) snprintf(buf, n, "%.3gG", v / 1e9);
    else if (a >= 1e6) snprintf(buf, n, "%.3gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, n, "%.3gk", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

void rp_fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "n/a");
    else if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%dm %02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%dh %02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}
