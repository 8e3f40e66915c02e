// Package termtext makes text that came from someone else safe to print on
// a terminal: message texts, names, uids and room names from other
// members, a server's close reasons, error messages and version strings,
// a stats API's fields. Every rtsync command that prints such text (the
// chat TUI and line mode, the server's TCP text mode, top, bench) cleans
// it here, so the rules are the same everywhere.
//
// A terminal obeys what it is sent: an escape sequence can set the
// window title (OSC 0/2), write the clipboard (OSC 52), move the cursor
// and overwrite lines already printed (CSI, a bare carriage return), or
// hide what follows; a bidirectional override (U+202E) reverses the order
// in which the rest of a line is drawn, and invisible format characters
// make two different names look the same. Cleaning keeps everything that
// is visible text (any script, emoji with their zero-width joiners,
// combining marks, variation selectors) and replaces the rest:
//
//   - Line breaks (LF, CR, CRLF, NEL U+0085, U+2028, U+2029) become the
//     separator the caller chooses: a space for a one-line field, "\n"
//     where the caller draws lines itself, a visible `\n` in line mode.
//   - A tab becomes a space.
//   - Every other control character (C0, DEL, C1 including the 8-bit CSI
//     U+009B) becomes U+FFFD �, so an escape sequence is shown, inert, as
//     "�]0;title�".
//   - Invisible format characters become U+FFFD: bidirectional controls
//     (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), zero-width
//     spaces and joiners other than ZWJ and ZWNJ (U+200B, U+2060, U+FEFF),
//     the soft hyphen, the rest of Unicode's category Cf, the Hangul
//     fillers that draw as nothing, and the tag characters of plane 14
//     except in a flag sequence (U+1F3F4 followed by tags, as in 🏴󠁧󠁢󠁳󠁣󠁴󠁿).
//   - Bytes that are not UTF-8 become U+FFFD, one per byte.
//
// Cleaning is idempotent, and text that needs none is returned as is,
// without allocating.
//
// It does not (and cannot) stop look-alike letters from other scripts
// (a Cyrillic а for a Latin a); a name is a claim, not an identity.
//
// # Concurrency contract
//
// Pure functions; safe from any goroutine.
package termtext
