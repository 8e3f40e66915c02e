package broker

import "errors"

// InProcess is the broker of a single node: every publish goes straight
// to the node's own handler, on the caller's goroutine, with no copy and
// no allocation, so a server that is not in a cluster pays nothing for
// the seam.
type InProcess struct {
	h Handler
}

// NewInProcess returns a broker for one node.
func NewInProcess() *InProcess { return &InProcess{} }

var errNotStarted = errors.New("broker: publish before Start")

// Start records the node's handler.
func (b *InProcess) Start(h Handler) error {
	b.h = h
	return nil
}

// PublishRoom hands m to the handler.
func (b *InProcess) PublishRoom(m *RoomMessage) error {
	if b.h == nil {
		return errNotStarted
	}
	b.h.HandleRoom(m)
	return nil
}

// PublishUser hands the event to the handler.
func (b *InProcess) PublishUser(uid string, event []byte) (int, error) {
	if b.h == nil {
		return 0, errNotStarted
	}
	return b.h.HandleUser(uid, event), nil
}

// PublishClient hands the event to the handler.
func (b *InProcess) PublishClient(client string, event []byte) (bool, error) {
	if b.h == nil {
		return false, errNotStarted
	}
	return b.h.HandleClient(client, event), nil
}

// PublishControl hands c to the handler.
func (b *InProcess) PublishControl(c Control) (bool, error) {
	if b.h == nil {
		return false, errNotStarted
	}
	return b.h.HandleControl(c), nil
}

// Subscribe does nothing: the one node gets everything.
func (b *InProcess) Subscribe(Topic) error { return nil }

// Unsubscribe does nothing.
func (b *InProcess) Unsubscribe(Topic) error { return nil }

// Close does nothing.
func (b *InProcess) Close() error { return nil }
