/* SPDX-License-Identifier: MIT */
/* Unicode rules for text shown to people: decoding UTF-8 one character at a time, the characters
 * that must never reach a display (controls, invisible format and bidi characters), sanitising
 * echoed and agent-supplied text, and the case folding that makes two names "the same". */
#ifndef MON_COMMON_TEXT_H
#define MON_COMMON_TEXT_H

/* Threads: pure functions on caller storage (no allocation, no state): safe from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s (len bytes available). Returns its length in bytes (1-4) and
 * writes the code point, or 0 when len is 0 or the bytes are not well-formed UTF-8 (overlong,
 * surrogate, above U+10FFFF, truncated). */
size_t mon_utf8_next(const char *s, size_t len, uint32_t *ret_cp);

/* Encodes cp (a valid scalar value) into out (at least 4 bytes); returns the length. */
size_t mon_utf8_put(uint32_t cp, char *out);

/* True for characters that draw nothing or change how the text around them is drawn: C0/C1
 * controls and DEL, the format characters (soft hyphen, zero-width space and joiners, word
 * joiner, BOM, the bidi marks, embeddings, overrides and isolates, invisible operators, tags),
 * line and paragraph separators, variation selectors, invisible fillers and noncharacters. */
bool mon_text_is_hidden(uint32_t cp);

/* True for the space characters a name may contain: U+0020, no-break space, U+1680,
 * U+2000-U+200A, U+202F, U+205F and U+3000 (not tabs or line breaks: those are controls). */
bool mon_text_is_space(uint32_t cp);

/* The character two names are compared by: fullwidth ASCII forms become ASCII, and upper-case
 * Latin (ASCII, Latin-1, Extended-A, Extended Additional), Greek, Cyrillic and Armenian letters
 * become lower case. Other characters are returned unchanged. */
uint32_t mon_text_fold(uint32_t cp);

/* Copies len bytes of src into dst (size bytes, NUL-terminated, size > 0) so that the result
 * is valid UTF-8 without hidden characters: a malformed byte and each hidden character become
 * U+FFFD, and the copy ends on a character boundary when dst is too small. Returns the length
 * written. For text echoed back to a client (paths, parameter values). */
size_t mon_text_sanitize(const char *src, size_t len, char *dst, size_t size);

/* Removes hidden characters from the NUL-terminated UTF-8 string s in place and replaces each
 * malformed byte with '?'; returns the new length (never longer). For text other programs
 * supply (an agent's node_id, GPU names, unit names, errors) before it is stored or served. */
size_t mon_text_strip_hidden(char *s);

/* Number of characters (code points) in a well-formed UTF-8 string of len bytes. */
size_t mon_utf8_chars(const char *s, size_t len);

#endif
