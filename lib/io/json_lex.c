/* Strict JSON lexing and string escaping (see json_lex.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/json_lex.h"

void sigeo__json_lexer_init(sigeo__json_lexer_t *lx, const uint8_t *text, size_t len)
{
    memset(lx, 0, sizeof *lx);
    lx->text = text;
    lx->len = len;
}

const char *sigeo__json_kind_name(sigeo__json_kind_t kind)
{
    switch (kind) {
    case SIGEO__JSON_END: return "end of text";
    case SIGEO__JSON_OBJECT_BEGIN: return "'{'";
    case SIGEO__JSON_OBJECT_END: return "'}'";
    case SIGEO__JSON_ARRAY_BEGIN: return "'['";
    case SIGEO__JSON_ARRAY_END: return "']'";
    case SIGEO__JSON_COLON: return "':'";
    case SIGEO__JSON_COMMA: return "','";
    case SIGEO__JSON_STRING: return "string";
    case SIGEO__JSON_NUMBER: return "number";
    case SIGEO__JSON_TRUE: return "true";
    case SIGEO__JSON_FALSE: return "false";
    case SIGEO__JSON_NULL: return "null";
    case SIGEO__JSON_ERROR: return "invalid token";
    }
    return "unknown token";
}

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the well-formed UTF-8 sequence starting at s (Unicode 15,
 * table 3-7), or 0 if there is none. */
static size_t utf8_sequence(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

size_t sigeo__json_utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

static size_t utf8_encode(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        if (dst)
            dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        if (dst) {
            dst[0] = (char)(0xC0 | (cp >> 6));
            dst[1] = (char)(0x80 | (cp & 0x3F));
        }
        return 2;
    }
    if (cp < 0x10000) {
        if (dst) {
            dst[0] = (char)(0xE0 | (cp >> 12));
            dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[2] = (char)(0x80 | (cp & 0x3F));
        }
        return 3;
    }
    if (dst) {
        dst[0] = (char)(0xF0 | (cp >> 18));
        dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[3] = (char)(0x80 | (cp & 0x3F));
    }
    return 4;
}

/* ---------------------------------------------------------------- lexing */

#if defined(__GNUC__)
static sigeo__json_kind_t lex_error(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok, size_t pos, const char *fmt,
                                    ...) __attribute__((format(printf, 4, 5)));
#endif

static sigeo__json_kind_t lex_error(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok, size_t pos, const char *fmt,
                                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err_msg, sizeof lx->err_msg, fmt, ap);
    va_end(ap);
    lx->err_pos = pos;
    tok->kind = SIGEO__JSON_ERROR;
    tok->pos = pos;
    tok->len = 0;
    return SIGEO__JSON_ERROR;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of the \uXXXX escape whose 'u' is at text[at - 1], or -1. */
static long hex4(const uint8_t *text, size_t len, size_t at)
{
    if (len - at < 4)
        return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hex_value(text[at + i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Walks the string whose opening quote is at `start`. With dst == NULL it
 * validates and measures (filling tok or reporting an error); with dst it
 * decodes a string already validated. Sharing one walk keeps the two from
 * ever disagreeing about what a string means. */
static sigeo__json_kind_t walk_string(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok, const uint8_t *text,
                                      size_t len, size_t start, char *dst)
{
    size_t i = start + 1, out = 0;
    bool has_nul = false;
    for (;;) {
        if (i >= len)
            return lex_error(lx, tok, start, "unterminated string");
        uint8_t c = text[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return lex_error(lx, tok, i, "control character 0x%02x inside a string must be escaped", c);
        if (c >= 0x80) {
            size_t n = utf8_sequence(text + i, len - i);
            if (n == 0)
                return lex_error(lx, tok, i, "invalid UTF-8 byte 0x%02x inside a string", c);
            if (dst)
                memcpy(dst + out, text + i, n);
            out += n;
            i += n;
            continue;
        }
        if (c != '\\') {
            if (dst)
                dst[out] = (char)c;
            out++;
            i++;
            continue;
        }
        if (i + 1 >= len)
            return lex_error(lx, tok, start, "unterminated string");
        uint8_t e = text[i + 1];
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default:
            if (e >= 0x20 && e < 0x7F)
                return lex_error(lx, tok, i, "invalid escape '\\%c' in string", (char)e);
            return lex_error(lx, tok, i, "invalid escape (backslash then byte 0x%02x) in string", e);
        }
        if (simple) {
            if (dst)
                dst[out] = simple;
            out++;
            i += 2;
            continue;
        }
        long unit = hex4(text, len, i + 2);
        if (unit < 0)
            return lex_error(lx, tok, i, "'\\u' escape needs four hex digits");
        uint32_t cp = (uint32_t)unit;
        size_t used = 6;
        if (unit >= 0xDC00 && unit <= 0xDFFF)
            return lex_error(lx, tok, i, "unpaired low surrogate \\u%04lX in string", unit);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            long low = -1;
            if (len - i >= 12 && text[i + 6] == '\\' && text[i + 7] == 'u')
                low = hex4(text, len, i + 8);
            if (low < 0xDC00 || low > 0xDFFF)
                return lex_error(lx, tok, i, "high surrogate \\u%04lX is not followed by a low surrogate escape", unit);
            cp = 0x10000u + (((uint32_t)unit - 0xD800u) << 10) + ((uint32_t)low - 0xDC00u);
            used = 12;
        }
        if (cp == 0)
            has_nul = true;
        out += utf8_encode(dst ? dst + out : NULL, cp);
        i += used;
    }
    if (dst) {
        dst[out] = '\0';
        return SIGEO__JSON_STRING;
    }
    tok->kind = SIGEO__JSON_STRING;
    tok->pos = start;
    tok->len = i + 1 - start;
    tok->str_len = out;
    tok->str_has_nul = has_nul;
    lx->pos = i + 1;
    return SIGEO__JSON_STRING;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static sigeo__json_kind_t lex_number(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok)
{
    const uint8_t *t = lx->text;
    size_t len = lx->len, start = lx->pos, i = start;
    bool integer = true, overflow = false;
    uint64_t value = 0;
    if (t[i] == '-') {
        integer = false;
        i++;
    }
    if (i >= len || !is_digit(t[i]))
        return lex_error(lx, tok, i, "'-' must be followed by a digit");
    if (t[i] == '0') {
        i++;
        if (i < len && is_digit(t[i]))
            return lex_error(lx, tok, start, "number with a leading zero");
    } else {
        for (; i < len && is_digit(t[i]); i++) {
            uint64_t d = (uint64_t)(t[i] - '0');
            if (value > (UINT64_MAX - d) / 10)
                overflow = true;
            else
                value = value * 10 + d;
        }
    }
    if (i < len && t[i] == '.') {
        integer = false;
        i++;
        if (i >= len || !is_digit(t[i]))
            return lex_error(lx, tok, i, "digit expected after '.' in number");
        while (i < len && is_digit(t[i]))
            i++;
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        integer = false;
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            i++;
        if (i >= len || !is_digit(t[i]))
            return lex_error(lx, tok, i, "digit expected in number exponent");
        while (i < len && is_digit(t[i]))
            i++;
    }
    tok->kind = SIGEO__JSON_NUMBER;
    tok->pos = start;
    tok->len = i - start;
    tok->is_uint = integer && !overflow;
    tok->uint_overflow = integer && overflow;
    tok->uint_value = tok->is_uint ? value : 0;
    lx->pos = i;
    return SIGEO__JSON_NUMBER;
}

static sigeo__json_kind_t lex_word(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok, const char *word,
                                   sigeo__json_kind_t kind)
{
    size_t n = strlen(word);
    if (lx->len - lx->pos < n || memcmp(lx->text + lx->pos, word, n) != 0)
        return lex_error(lx, tok, lx->pos, "unexpected character '%c'", (char)lx->text[lx->pos]);
    tok->kind = kind;
    tok->pos = lx->pos;
    tok->len = n;
    lx->pos += n;
    return kind;
}

sigeo__json_kind_t sigeo__json_next(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok)
{
    memset(tok, 0, sizeof *tok);
    while (lx->pos < lx->len) {
        uint8_t c = lx->text[lx->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        lx->pos++;
    }
    tok->pos = lx->pos;
    if (lx->pos >= lx->len) {
        tok->kind = SIGEO__JSON_END;
        return SIGEO__JSON_END;
    }
    uint8_t c = lx->text[lx->pos];
    sigeo__json_kind_t single = SIGEO__JSON_END;
    switch (c) {
    case '{': single = SIGEO__JSON_OBJECT_BEGIN; break;
    case '}': single = SIGEO__JSON_OBJECT_END; break;
    case '[': single = SIGEO__JSON_ARRAY_BEGIN; break;
    case ']': single = SIGEO__JSON_ARRAY_END; break;
    case ':': single = SIGEO__JSON_COLON; break;
    case ',': single = SIGEO__JSON_COMMA; break;
    case '"': return walk_string(lx, tok, lx->text, lx->len, lx->pos, NULL);
    case 't': return lex_word(lx, tok, "true", SIGEO__JSON_TRUE);
    case 'f': return lex_word(lx, tok, "false", SIGEO__JSON_FALSE);
    case 'n': return lex_word(lx, tok, "null", SIGEO__JSON_NULL);
    default:
        if (c == '-' || is_digit(c))
            return lex_number(lx, tok);
        if (c >= 0x21 && c < 0x7F)
            return lex_error(lx, tok, lx->pos, "unexpected character '%c'", (char)c);
        return lex_error(lx, tok, lx->pos, "unexpected byte 0x%02x", c);
    }
    tok->kind = single;
    tok->len = 1;
    lx->pos++;
    return single;
}

void sigeo__json_decode_string(char *dst, const uint8_t *text, const sigeo__json_token_t *tok)
{
    sigeo__json_lexer_t scratch;
    sigeo__json_token_t unused;
    sigeo__json_lexer_init(&scratch, text, tok->pos + tok->len);
    (void)walk_string(&scratch, &unused, text, tok->pos + tok->len, tok->pos, dst);
}

/* -------------------------------------------------------------- escaping */

size_t sigeo__json_escape(char *dst, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char two = 0;
        switch (c) {
        case '"': two = '"'; break;
        case '\\': two = '\\'; break;
        case '\b': two = 'b'; break;
        case '\f': two = 'f'; break;
        case '\n': two = 'n'; break;
        case '\r': two = 'r'; break;
        case '\t': two = 't'; break;
        default: break;
        }
        if (two) {
            if (dst) {
                dst[out] = '\\';
                dst[out + 1] = two;
            }
            out += 2;
        } else if (c < 0x20) {
            if (dst) {
                memcpy(dst + out, "\\u00", 4);
                dst[out + 4] = hex[c >> 4];
                dst[out + 5] = hex[c & 15];
            }
            out += 6;
        } else {
            if (dst)
                dst[out] = (char)c;
            out++;
        }
    }
    return out;
}
