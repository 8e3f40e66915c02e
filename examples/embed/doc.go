// Command embed is a chat server whose business logic is Go code in the
// same program: it embeds rtsync's server package and handles its events
// in-process (server.Config.Events), as an application behind --hook-url
// would over HTTP. docs/hooks.md describes the events.
//
//	go run ./examples/embed -addr 127.0.0.1:7001
//	npx wscat -c 'ws://127.0.0.1:7001/ws?user=ann'
//	> {"op":"pub","room":"lobby","data":{"text":"darn, hello"},"id":1}
//	> {"op":"rpc","method":"time","id":2}
//
// What the events do here:
//
//   - connect: a connection needs ?user=NAME; its uid and name come from
//     it, its session records when it came, and it is put in the lobby and
//     in a personal room user:NAME (publish there to reach all of a user's
//     connections).
//   - message: messages are {"text": "..."} objects; others are refused,
//     and the words in Censored are starred out.
//   - rpc: "time" returns the server's clock, "whoami" the caller's uid and
//     session; other methods get an unknown_method error.
//   - close: logged.
package main
