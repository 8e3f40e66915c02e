// Package localkey keeps the HTTP API key that `rtsync serve` makes for
// itself when it is given none, and that local tools (`rtsync top`,
// `rtsync bench --url`) read by themselves.
//
// A server without a key cannot tell a local tool from a web page in a
// browser on the same machine, or from the world behind a reverse proxy
// that adds no forwarding header, so serve never runs its API keyless: the
// first start writes a random key to a file only the user can read
// (0600, in a 0700 folder of the user's config directory), later starts
// and the tools read it. Other users of the machine cannot read it, and a
// page in a browser cannot read files.
//
// Functions are safe to call from several processes at once: the file is
// created exclusively, and a process that loses the race reads the
// winner's key.
package localkey
