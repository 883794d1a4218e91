/*
 * load/redact.h — the one redaction of keygate's text: what a server sent
 * back, a result file's texts, a command-line argument echoed in an error,
 * and every error line of the `keygate` program (cli_error) pass through
 * one of these before they are shown. SPEC §1.4: no message ever holds a
 * presented key; at most its prefix and last four characters
 * (`sk_live_****Ab3x`).
 *
 * Every function copies (in, n) into out (capacity cap, NUL-terminated)
 * and never writes more than cap-1 bytes; masking is decided on the whole
 * input before the output is cut. Reentrant; kgl_redact_arg,
 * kgl_redact_message and kgl_holds_key allocate a scratch copy of the
 * input, the others nothing.
 */
#ifndef KEYGATE_LOAD_REDACT_H
#define KEYGATE_LOAD_REDACT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * kgl_redact — copy (in, n) into out (capacity cap, NUL-terminated, at most
 * cap-1 bytes, cut with "..." when longer) for a report: bytes outside
 * printable ASCII become '?', and every run that starts with `prefix` (e.g.
 * "sk_live_", matched ASCII case-insensitively, anywhere) and continues with
 * 4 or more printable bytes that cannot delimit a key in a header, URL or
 * JSON (anything but space, controls, quotes, brackets, ',', ';', '&', '<',
 * '>', '\\', '`': a key with a stray '!' is masked whole) becomes
 * prefix + "****" + its last four characters when at least 8 more precede
 * them, else prefix + "****". Returns the length written (without the NUL).
 *
 * Masking is decided on the whole input first and the output is cut
 * after, by whole pieces: a masked run is written entirely or not at all,
 * so a cut never shows key characters the full output would not show.
 * Input cut by the caller is the caller's to handle: a run that ends at
 * the end of (in, n) shows the last four of the characters it was given.
 * cap 0 writes nothing; cap 1..3 leaves only as many dots as fit when the
 * text does not. A NULL or empty prefix masks nothing.
 *
 * Percent-encoded keys (SPEC §1.1: a key in a URL counts raw or decoded)
 * are masked as well: where a run of key bytes holds a '%', it is decoded
 * level by level (up to 8 levels, deeper than the SPEC's two; at most its
 * first 1024 bytes), and when some level starts with the prefix and 4 or
 * more key bytes ("sk%5Flive%5F...", "%73k_live_...", "sk%255Flive...",
 * any case), the whole run, as it is in the input, becomes the decoded
 * prefix + "****" + the decoded run's last four when at least 8 more
 * precede them: "sk_live_****Ab3x".
 *
 * So are keys written into a JSON string with escapes (RFC 8259 §7): a run
 * goes on over an escape of a byte it may hold ("\u005f", "\/"; hex of
 * either case, "\U" too) or of a backslash that starts one a level down
 * ("\\u005f": JSON in a JSON string), each level decodes percent and JSON
 * escapes alike ("sk\u005flive\u005f...", "\u0073k_live_...", "sk\u00255F..."),
 * and a key whose body holds an escape shows its decoded last four, or
 * none when only the raw run matches. An escaped delimiter ("\u0022",
 * "\"") ends a run as the delimiter does.
 */
size_t kgl_redact(const char *in, size_t n, const char *prefix, char *out,
                  size_t cap);

/*
 * kgl_redact_keys — kgl_redact for every report of keygate load (what a
 * server sent back, a result file's texts): the named prefixes "sk_live_"
 * and "sk_test_" as kgl_redact masks them, and in one pass any prefix of
 * the shape LETTERS "_" [LETTERS "_"] (two or more ASCII letters, then
 * optionally 1..6 more; "ghp_", "github_pat_", "pk_live_"): a run of key
 * bytes after the first "_" that is 8 or more long is masked (the second
 * segment shown when 4 or more bytes follow it), so no 8 bytes that follow
 * such a prefix are ever shown, except where what follows the first "_"
 * reads as lower-case words (two or more joined by "_", or one of 4 or more
 * letters ended by '/', '?' or '#'): "api_key_in_query" and
 * "/payment_methods_list" are identifiers, not keys, and stay whole (no
 * base62 key holds those bytes; see snake_words in redact.c). A request id
 * ("req_" + 24 base62, kgl_request_id_ok) is not a key and is kept.
 * Percent-encoded keys of either kind are masked as kgl_redact masks them
 * ("ghp%5F..."). A key body without its prefix is masked where it is the
 * value of a parameter SPEC §1.1 names (api_key, apikey, key, access_token,
 * token; the name in any case, percent-decoded, after '?', '&', ';', '/',
 * '#', a space, any other byte no name holds or the start, raw or
 * percent-encoded up to 256 bytes back:
 * "redirect_uri=https%3A%2F%2Fa%2Fcb%23token%3D..."): a value (to '&', '#',
 * whitespace or a quote, raw: a JSON-escaped one does not end it, whatever
 * it holds) of 8 or
 * more bytes becomes "****" and, when 12 or more long without a '%' or a
 * '\\', its last four if those are printable ASCII ("?api_key=****Ab3x");
 * a name after a JSON-escaped separator counts ("?a=1\u0026api_key="), the
 * '=' may be "\u003d" and the dressing JSON-escaped too. The value, of
 * any length, is masked with what starts in it and runs on past its end
 * (a prefixed key across a '#', a key parameter whose dressing crosses a
 * space), and by this rule rather than a guessed prefix; so is one a
 * masked key's or guessed prefix's run took the name and '=' of. A run
 * with an escape is guessed at by what it decodes to
 * ("\/v1\/payment_methods" stays). A
 * value dressed with '=', quotes, spaces or '+' (raw, percent-encoded or
 * JSON-escaped, up to 64 bytes of them) is the value after them:
 * "?api_key==****Ab3x", "?token=\"****Ab3x\"". Output, cut and return
 * value as kgl_redact's.
 */
size_t kgl_redact_keys(const char *in, size_t n, char *out, size_t cap);

/*
 * kgl_key_hint — (in, n), a sample's key as a result file holds it, as the
 * hint a report may show: "" and "(none)" (no key) as they are; otherwise
 * a prefix (through the last '_' within the first 16 bytes when every
 * segment is 1..7 letters or digits: "sk_live_", "github_pat_"; else none),
 * "****", and 4 characters only where a hint already showed them
 * (prefix + "****" + 4) or, for anything else, the last four when at least
 * eight more follow the prefix: a hint stays itself, "kg.<body>" or a bare
 * body becomes "****" + its last four, "sk_live_<12 of the body>****"
 * becomes "sk_live_********". Never more than 24 bytes; out as kgl_redact's
 * (NUL-terminated, cut to cap-1). Returns the length written.
 */
size_t kgl_key_hint(const char *in, size_t n, char *out, size_t cap);

/*
 * kgl_redact_arg — a command-line argument fit to be echoed in an error:
 * kgl_redact_keys, and then every run of 8 or more base62 characters that
 * mixes upper-case letters, lower-case letters and digits (a key body typed
 * without its prefix: "--seed 8yDoYITc...") becomes "****". Numbers, words
 * and units ("1500ms", "valid", "p99") stay readable. Written by whole
 * pieces up to cap-1 bytes, NUL-terminated; returns the length written.
 */
size_t kgl_redact_arg(const char *in, size_t n, char *out, size_t cap);

/*
 * kgl_redact_message — (in, n) fit for an error line or any message the
 * `keygate` program prints (cli_error): what the user typed may be a key
 * pasted where an id, a file or a value belongs, of any issuer, with or
 * without its prefix. Two passes:
 *  1. "sk_live_" and "sk_test_" (any case, raw or percent-encoded) as
 *     kgl_redact masks them, and the values of the parameters SPEC §1.1
 *     names, as kgl_redact_keys masks them;
 *  2. then each run of token68 bytes, '%' escapes and '=' padding that
 *     reads as holding a key's random part becomes "****" and its last
 *     four: all of it, or, in a path that says it is one ("/", "./",
 *     "../", "~/"), from its first part that is not a lower-case word.
 *     A run reads so when one of its '/'-separated parts holds 16 or more
 *     letters and digits mixing upper case, lower case and digits
 *     ("8yDoYITcaJMsb9cv..."), or is 16 bytes or more, mixes upper and
 *     lower case, and changes class (digit, lower, upper) between
 *     neighbouring letters and digits at one pair in four or more, as
 *     random text does and words, dates and most file names do not (a
 *     key in groups: "acme-Ab3d-Qw8e-Zx9r-Lm2p", "xoxb-...-AbCd..."), or
 *     when the whole run does at two pairs in five; a run with an escape
 *     is judged as it is and percent-decoded.
 *     Key ids ("key_" + 11 base62), request ids ("req_" + 24), neither
 *     followed by '_', and
 *     mktemp's suffixes (".z6zL62") count in a part's length, not in its
 *     shape. A heuristic: docs/cli.md gives what it was measured to miss
 *     and to mask needlessly.
 * Prefixes nobody named are not guessed here, unlike kgl_redact_keys: an
 * error line names files ("my_results.json") that such a guess would mask.
 * The output is never longer than the input; cut as kgl_redact's.
 */
size_t kgl_redact_message(const char *in, size_t n, char *out, size_t cap);

/*
 * kgl_holds_key — 1 when s (NUL-terminated) holds a key that pass 1 of
 * kgl_redact_message masks with its last four: "sk_live_" or "sk_test_"
 * (raw or percent-encoded) and 12 or more key bytes, or the value of a
 * parameter SPEC §1.1 names; and, failing closed, a percent-encoded one
 * masked to its run's end when 12 or more decoded bytes follow its prefix
 * there ("sk%5Flive%5Fabcd%26sk_live_...": the run hides a key after the
 * decoded '&'). Not pass 2's guesses: a caller
 * refuses on it ("StagingKeysV2.tsv" is a file name, review 101), and the
 * keys keygate makes are sk_live_ keys. 0 for a prefix and a short word
 * ("sk_live_exports"). 1 when it cannot tell (out of memory).
 */
int kgl_holds_key(const char *s);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_REDACT_H */
