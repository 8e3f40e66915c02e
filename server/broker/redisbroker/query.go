package redisbroker

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rtsync/rtsync/server/broker"
)

// waiting is a Query waiting for answers.
type waiting struct {
	mu       sync.Mutex
	expect   map[string]bool // node -> answered
	left     int             // expected nodes that have not answered
	answers  []broker.Answer
	bytes    int
	overflow []string // nodes whose answers went past MaxAnswers
	failed   []string // nodes that answered with an error
	done     chan struct{}
}

// Query sends (kind, args) to every other live node (as the heartbeats
// say at the time of the call) and gathers their answers until all
// answered, ctx is done or the query timeout passed. Nodes that did not
// answer in time, whose answer was too big (MaxAnswer, MaxAnswers) or
// that failed to answer are named by a *broker.PartialError returned with
// the answers that came. Answers are sorted by node.
func (b *Broker) Query(ctx context.Context, kind string, args []byte) ([]broker.Answer, error) {
	if !b.started.Load() {
		return nil, errNotStarted
	}
	if err := b.down(fmt.Sprintf("query %q", kind)); err != nil {
		return nil, err
	}
	nodes, err := b.Nodes()
	if err != nil {
		return nil, err
	}
	w := &waiting{expect: map[string]bool{}, done: make(chan struct{})}
	for _, n := range nodes {
		if n.ID != b.node {
			w.expect[n.ID] = false
		}
	}
	w.left = len(w.expect)
	if w.left == 0 {
		return nil, nil
	}
	b.qMu.Lock()
	b.qNext++
	qid := b.qNext
	b.qWait[qid] = w
	b.qMu.Unlock()
	defer func() {
		b.qMu.Lock()
		delete(b.qWait, qid)
		b.qMu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, b.opts.QueryTimeout)
	defer cancel()
	if _, err := b.publish(fmt.Sprintf("query %q", kind), b.chAll, encodeQuery(b.node, qid, kind, args)); err != nil {
		return nil, err
	}
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	answers := slices.Clone(w.answers)
	slices.SortFunc(answers, func(a, b broker.Answer) int { return cmpString(a.Node, b.Node) })
	var missing []string
	for n, ok := range w.expect {
		if !ok {
			missing = append(missing, n)
		}
	}
	missing = append(missing, w.overflow...)
	missing = append(missing, w.failed...)
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return answers, &broker.PartialError{Missing: missing}
	}
	return answers, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// answered records an answer that reached this node.
func (b *Broker) answered(e *envelope) {
	b.qMu.Lock()
	w := b.qWait[e.qid]
	b.qMu.Unlock()
	if w == nil {
		return // too late, or not ours
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	answeredBefore, expected := w.expect[e.node]
	if answeredBefore {
		return
	}
	switch {
	case e.status != "":
		w.failed = append(w.failed, e.node)
		b.log.Warn("redis broker: a node could not answer a query", "from", e.node, "err", e.status)
	case w.bytes+len(e.body) > MaxAnswers:
		w.overflow = append(w.overflow, e.node)
	default:
		w.bytes += len(e.body)
		w.answers = append(w.answers, broker.Answer{Node: e.node, Body: e.body})
	}
	if expected {
		w.expect[e.node] = true
		if w.left--; w.left == 0 {
			close(w.done)
		}
	}
}

// answerQueries answers other nodes' queries, off the delivery path:
// HandleQuery may block.
func (b *Broker) answerQueries() {
	for {
		var e *envelope
		select {
		case <-b.ctx.Done():
			return
		case e = <-b.queries:
		}
		body := b.h.HandleQuery(e.qkind, e.body)
		status := ""
		if len(body) > MaxAnswer {
			status = fmt.Sprintf("the answer to query %q takes %d bytes, more than the %d a node may send", e.qkind, len(body), MaxAnswer)
			body = nil
		}
		// A failure is counted by publish; the asker reports this node
		// missing.
		_, _ = b.publish(fmt.Sprintf("answer query %q", e.qkind), b.chNode+e.node, encodeAnswer(b.node, e.qid, status, body))
	}
}
