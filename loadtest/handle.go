package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
)

// shardHandle is the coordinator's end of a shard, in this process or in
// a worker process.
type shardHandle interface {
	// send delivers a command; it fails only when the shard is gone.
	send(ctrl) error
	// msgs yields the shard's messages and is closed when it has ended.
	msgs() <-chan shardMsg
	// wait releases the shard's resources once msgs is closed.
	wait() error
}

// localShard runs a shard in a goroutine of this process.
type localShard struct {
	ctl  chan ctrl
	out  chan shardMsg
	done chan struct{}
}

func startLocal(ctx context.Context, p *plan) *localShard {
	h := &localShard{ctl: make(chan ctrl, 4), out: make(chan shardMsg, 64), done: make(chan struct{})}
	emit := func(m shardMsg) {
		if m.Type == msgProgress {
			select { // progress is a snapshot: drop one rather than block
			case h.out <- m:
			default:
			}
			return
		}
		h.out <- m
	}
	go func() {
		defer close(h.out)
		defer close(h.done)
		newShard(p, emit).run(ctx, h.ctl)
	}()
	return h
}

func (h *localShard) send(c ctrl) error {
	select {
	case h.ctl <- c:
		return nil
	case <-h.done:
		return errors.New("shard has ended")
	}
}
func (h *localShard) msgs() <-chan shardMsg { return h.out }
func (h *localShard) wait() error           { <-h.done; return nil }

// procShard runs a shard in a worker process: the command is this binary
// in worker mode (RunWorker), talking JSON lines.
type procShard struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan shardMsg
	mu    sync.Mutex
}

func startProc(cmd *exec.Cmd, p *plan) (*procShard, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bench worker %s: %w", cmd.Path, err)
	}
	h := &procShard{cmd: cmd, stdin: stdin, out: make(chan shardMsg, 64)}
	go func() {
		defer close(h.out)
		r := bufio.NewReaderSize(stdout, 1<<16)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				var m shardMsg
				if jerr := json.Unmarshal(line, &m); jerr != nil {
					h.out <- shardMsg{Type: msgError, Error: fmt.Sprintf("worker wrote something that is not a message: %.80q", line)}
				} else {
					h.out <- m
				}
			}
			if err != nil {
				return
			}
		}
	}()
	if err := h.send(ctrl{Cmd: cmdPlan, Plan: p}); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *procShard) send(c ctrl) error {
	b, err := encodeLine(c)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err = h.stdin.Write(b)
	return err
}
func (h *procShard) msgs() <-chan shardMsg { return h.out }
func (h *procShard) wait() error {
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	return nil
}

// RunWorker is a worker process's whole job (`rtsync bench --worker`): it
// reads its plan and commands as JSON lines from in and writes its
// messages as JSON lines to out, until it has sent its result. When in
// ends (the coordinator died), it stops and reports what it has.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bench worker: no plan on stdin: %w", err)
	}
	var first ctrl
	if err := json.Unmarshal(line, &first); err != nil || first.Cmd != cmdPlan || first.Plan == nil {
		return fmt.Errorf("bench worker: the first line must be a plan; this mode is for rtsync bench itself, not for people")
	}
	var mu sync.Mutex
	var werr error
	emit := func(m shardMsg) {
		b, err := encodeLine(m)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && werr == nil {
			_, werr = out.Write(b)
		}
	}
	ctl := make(chan ctrl, 4)
	go func() {
		defer close(ctl)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				var c ctrl
				if json.Unmarshal(line, &c) == nil {
					ctl <- c
				}
			}
			if err != nil {
				return
			}
		}
	}()
	newShard(first.Plan, emit).run(ctx, ctl)
	mu.Lock()
	defer mu.Unlock()
	return werr
}
