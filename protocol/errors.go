package protocol

import "fmt"

// Error is a wire error: a stable machine-readable Code and a Message for
// people. It is the error field of a failed reply and the body of an error
// event.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes. docs/protocol.md explains what a client should do with each.
const (
	// CodeBadJSON: the object is not valid JSON.
	CodeBadJSON = "bad_json"
	// CodeBadRequest: a field is missing, has the wrong type, or an invalid value.
	CodeBadRequest = "bad_request"
	// CodeUnknownOp: the op is not one this server knows.
	CodeUnknownOp = "unknown_op"
	// CodeBadRoom: the room name breaks the naming rules.
	CodeBadRoom = "bad_room"
	// CodeBadFrame: a binary frame, or a text frame that is not UTF-8.
	CodeBadFrame = "bad_frame"
	// CodeTooLarge: the frame is longer than the server's message size limit.
	CodeTooLarge = "too_large"
	// CodeTooManyRooms: joining would pass the per-connection room limit.
	CodeTooManyRooms = "too_many_rooms"
	// CodeServerLimit: a server-wide limit refuses the command, such as
	// the most rooms the server holds; it may succeed later.
	CodeServerLimit = "server_limit"
	// CodeNotJoined: pub, leave, presence or history on a room the
	// connection has not joined.
	CodeNotJoined = "not_joined"
	// CodeRateLimited: the command was dropped because the connection
	// publishes faster than the server allows.
	CodeRateLimited = "rate_limited"
	// CodeNotFound: send to a client id that is not connected.
	CodeNotFound = "not_found"
	// CodeOffline: send to a uid with no live connection, on a server
	// that keeps no inboxes (or the inbox would not take it: see the
	// message).
	CodeOffline = "offline"
	// CodeUnauthorized: the token was refused.
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: the connection may not do this.
	CodeForbidden = "forbidden"
	// CodeUnavailable: the application behind the server (event hooks) did
	// not answer; the command may be retried.
	CodeUnavailable = "unavailable"
	// CodeNotStored: a pub was delivered to the room's members but the
	// server's store failed to keep it (disk full): history and recovery
	// will miss it. The reply carries its seq. Do not publish it again.
	CodeNotStored = "not_stored"
	// CodeStoreUnavailable: the server's store refused the command (it is
	// closing, or full); nothing was sent. The command may be retried.
	CodeStoreUnavailable = "store_unavailable"
	// CodeInternal: the server failed; the command may be retried.
	CodeInternal = "internal"
	// CodeRPCError: the application refused an rpc without a code of its
	// own; an rpc reply may carry any code the application chooses.
	CodeRPCError = "rpc_error"
)

// Close codes carried by WebSocket close frames (and by the last line a TCP
// client receives). 4000-4999 is the range RFC 6455 leaves to applications.
const (
	// CloseUnauthorized: the token is missing, invalid or expired. Get a new
	// token before reconnecting.
	CloseUnauthorized = 4001
	// CloseForbidden: the application refused the connection (its connect
	// hook said no). Do not reconnect automatically.
	CloseForbidden = 4003
	// CloseSlowConsumer: the client did not read fast enough and its send
	// queue filled. Reconnect and recover with since.
	CloseSlowConsumer = 4008
	// CloseRateLimited: the client kept flooding after rate_limited errors.
	// Reconnect after a backoff.
	CloseRateLimited = 4009
	// CloseKicked: the server or an operator closed the connection. Do not
	// reconnect automatically.
	CloseKicked = 4010
	// CloseServerFull: the server is at its connection limit. Reconnect
	// later, or to another node.
	CloseServerFull = 4011
	// CloseGoingAway: the server is shutting down. Reconnect (to another
	// node) and recover with since.
	CloseGoingAway = 4012
	// CloseNoHeartbeat: the client was silent past the heartbeat timeout.
	CloseNoHeartbeat = 4013
	// CloseTryAgainLater (the standard WebSocket 1013): the application
	// behind the server did not answer the connect hook, and the server
	// fails closed. Reconnect with backoff.
	CloseTryAgainLater = 1013
)

// CloseReason is the short text sent with each close code.
func CloseReason(code int) string {
	switch code {
	case CloseUnauthorized:
		return "unauthorized"
	case CloseForbidden:
		return "forbidden"
	case CloseSlowConsumer:
		return "slow consumer"
	case CloseRateLimited:
		return "rate limited"
	case CloseKicked:
		return "kicked"
	case CloseServerFull:
		return "server full"
	case CloseGoingAway:
		return "server going away, reconnect"
	case CloseNoHeartbeat:
		return "no heartbeat"
	case CloseTryAgainLater:
		return "try again later"
	}
	return ""
}

// ShouldReconnect reports whether a client closed with code should reconnect
// on its own.
func ShouldReconnect(code int) bool {
	switch code {
	case CloseUnauthorized, CloseForbidden, CloseKicked:
		return false
	}
	return true
}
