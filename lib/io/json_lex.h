/* A small strict JSON lexer, and the string escaper its inverse needs.
 *
 * Made for the safetensors header (lib/io/safetensors.c), whose schema is
 * fixed and shallow: the caller drives a schema-specific parser token by
 * token, so nothing here recurses, builds trees or allocates. The lexer is
 * strict RFC 8259: no comments, no single quotes, no leading zeros, no raw
 * control characters in strings, no unpaired UTF-16 surrogates in escapes,
 * and every string must be well-formed UTF-8.
 *
 * Errors are reported as a byte offset into the text plus a short English
 * message, so the caller can wrap them in its own context ("safetensors
 * 'x': header byte 57: ..."). Nothing here touches the thread-local error. */
#ifndef SIGEO_IO_JSON_LEX_H
#define SIGEO_IO_JSON_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sigeo__json_kind {
    SIGEO__JSON_END = 0, /* no more tokens (only whitespace was left) */
    SIGEO__JSON_OBJECT_BEGIN,
    SIGEO__JSON_OBJECT_END,
    SIGEO__JSON_ARRAY_BEGIN,
    SIGEO__JSON_ARRAY_END,
    SIGEO__JSON_COLON,
    SIGEO__JSON_COMMA,
    SIGEO__JSON_STRING,
    SIGEO__JSON_NUMBER,
    SIGEO__JSON_TRUE,
    SIGEO__JSON_FALSE,
    SIGEO__JSON_NULL,
    SIGEO__JSON_ERROR /* see the lexer's err_pos / err_msg */
} sigeo__json_kind_t;

typedef struct sigeo__json_token {
    sigeo__json_kind_t kind;
    size_t pos; /* offset of the token's first byte in the text */
    size_t len; /* raw length in the text; strings include both quotes */
    /* STRING */
    size_t str_len;   /* decoded UTF-8 bytes, without a terminating NUL */
    bool str_has_nul; /* some escape decodes to U+0000 */
    /* NUMBER */
    bool is_uint;       /* digits only (no '-', '.', exponent) and fits uint64_t */
    bool uint_overflow; /* digits only but larger than UINT64_MAX */
    uint64_t uint_value;
} sigeo__json_token_t;

typedef struct sigeo__json_lexer {
    const uint8_t *text;
    size_t len;
    size_t pos;        /* next byte to look at */
    size_t err_pos;    /* after SIGEO__JSON_ERROR: offset of the offending byte */
    char err_msg[128]; /* after SIGEO__JSON_ERROR: what is wrong there */
} sigeo__json_lexer_t;

/* Starts lexing `text[0 .. len)` (borrowed for the lexer's lifetime). */
void sigeo__json_lexer_init(sigeo__json_lexer_t *lx, const uint8_t *text, size_t len);

/* Skips JSON whitespace (space, tab, CR, LF) and lexes one token into *tok.
 * Returns tok->kind. After SIGEO__JSON_ERROR the lexer must not be used again. */
sigeo__json_kind_t sigeo__json_next(sigeo__json_lexer_t *lx, sigeo__json_token_t *tok);

/* Writes the decoded value of a STRING token that sigeo__json_next returned
 * for `text` into dst[0 .. tok->str_len) and a NUL at dst[tok->str_len]. */
void sigeo__json_decode_string(char *dst, const uint8_t *text, const sigeo__json_token_t *tok);

/* Short English name of a token kind for messages: "'{'", "string", "end of text". */
const char *sigeo__json_kind_name(sigeo__json_kind_t kind);

/* Offset of the first byte of s[0 .. len) that does not start a well-formed
 * UTF-8 sequence (overlong forms, surrogates and code points above U+10FFFF
 * are ill-formed), or `len` if all of it is valid. */
size_t sigeo__json_utf8_check(const uint8_t *s, size_t len);

/* Escapes s[0 .. len) as the inside of a JSON string (no quotes added):
 * '"' and '\\' get a backslash, \b \f \n \r \t their short forms, other bytes
 * below 0x20 \u00XX; everything else (including '/', DEL and UTF-8) is
 * copied. Writes to dst unless it is NULL and returns the escaped length.
 * One form per input, so the same strings always give the same bytes. */
size_t sigeo__json_escape(char *dst, const char *s, size_t len);

#endif
