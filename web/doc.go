// Package web is the browser chat page that `rtsync serve` shows at /: a
// small chat client written in plain JavaScript, HTML and CSS, embedded in
// the binary, with no build step and nothing loaded from elsewhere.
//
// The page is also the example client for JavaScript: static/rtsync.js
// speaks wire protocol v1 (docs/protocol.md) on its own: it splits batched
// frames, matches replies by id, reconnects with backoff and jitter, and
// re-joins each room with since and epoch. Its recovery point is the last
// message it handed to the page, not a join reply's seq, so a connection
// lost between a reply and its replay skips nothing; it drops duplicates,
// pages gaps in from history and reports what history no longer holds.
// static/app.js is the page built on it.
//
// Handler serves the files with their content types, an ETag (so a browser
// revalidates and a new binary's page is seen at once) and a strict
// Content-Security-Policy: the page may load only its own files and open
// WebSockets, so a message can never run script in it.
//
// # Concurrency contract
//
// The files are fixed at build time; Handler's answers read only immutable
// data built once, so one Handler serves any number of requests at once.
package web
