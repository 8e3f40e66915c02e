package loadtest

import (
	"encoding/binary"
	"encoding/json"
	"time"
)

// The messages a coordinator and its shards exchange, in process over
// channels and with a worker process as JSON lines on its stdin and
// stdout.

// plan tells a shard which part of the run is its own.
type plan struct {
	Config Config `json:"config"`
	// Token is Config.Token, which never goes into reports.
	Token  string `json:"token,omitempty"`
	Run    string `json:"run"`
	Shard  int    `json:"shard"`
	Shards int    `json:"shards"`
	// RampStart is when connection 0 is dialled; connection g follows
	// g/total of the ramp later.
	RampStart time.Time `json:"ramp_start"`
}

// ctrl is a coordinator → shard command.
type ctrl struct {
	Cmd  string `json:"cmd"` // plan, start, stop
	Plan *plan  `json:"plan,omitempty"`
	// T0 starts the warm-up; the measuring window and the end of
	// publishing follow from the Config.
	T0 time.Time `json:"t0"`
	// RoomSubs counts every shard's ready subscribers per room key: what
	// each published message owes.
	RoomSubs []int `json:"room_subs,omitempty"`
}

const (
	cmdPlan  = "plan"
	cmdStart = "start"
	cmdStop  = "stop"
)

// shardMsg is a shard → coordinator message.
type shardMsg struct {
	Type     string         `json:"type"` // ready, progress, result, error
	Ready    *readyInfo     `json:"ready,omitempty"`
	Progress *shardProgress `json:"progress,omitempty"`
	Result   *shardResult   `json:"result,omitempty"`
	Error    string         `json:"error,omitempty"`
}

const (
	msgReady    = "ready"
	msgProgress = "progress"
	msgResult   = "result"
	msgError    = "error"
)

// readyInfo is sent when a shard's connect phase is over.
type readyInfo struct {
	RoomSubs  []int  `json:"room_subs"`
	Connected int64  `json:"connected"`
	Failed    int64  `json:"failed"`
	Server    string `json:"server,omitempty"`
	Node      string `json:"node,omitempty"`
	// HeartbeatMS is the longest ping interval a server's welcome gave
	// (rtsync protocol), 0 when none did.
	HeartbeatMS int64 `json:"heartbeat_ms,omitempty"`
	// NodeRoomSubs (cluster) counts the ready subscribers per target and
	// room key, at target*keys + key; NodeNames is the node name each
	// target's first welcome gave ("" when none did).
	NodeRoomSubs []int    `json:"node_room_subs,omitempty"`
	NodeNames    []string `json:"node_names,omitempty"`
}

// shardProgress is a shard's running totals.
type shardProgress struct {
	Attempted int64 `json:"attempted"`
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
	// Delivered counts measured deliveries; Owed what this shard's sent
	// messages owe (all receivers, wherever they are).
	Delivered     int64   `json:"delivered"`
	Published     int64   `json:"published"`
	PublishErrors int64   `json:"publish_errors"`
	Owed          int64   `json:"owed"`
	PublishDone   bool    `json:"publish_done"`
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
	CPUSeconds    float64 `json:"cpu_seconds"`
}

// streamTally is what one publishing stream did in the measuring window.
type streamTally struct {
	Stream   int   `json:"stream"`
	Sent     int64 `json:"sent"`
	Rejected int64 `json:"rejected"`
	NotSent  int64 `json:"not_sent"`
	// Dropped is set when the server dropped the sender (rtsync
	// protocol); Replied and Written are then the numbers of the last
	// message it answered and the last one written to it.
	Dropped bool  `json:"dropped,omitempty"`
	Replied int64 `json:"replied,omitempty"`
	Written int64 `json:"written,omitempty"`
}

// fanBlob is one stream's per-message fan-out data: for message lo+i, how
// many receivers in the shard had it and the latest arrival (µs after the
// intended time). Packed as little-endian uint32 pairs so a worker's
// result stays small.
type fanBlob struct {
	Stream int    `json:"stream"`
	Packed []byte `json:"packed"`
}

func packFan(slots []fanSlot) []byte {
	b := make([]byte, 8*len(slots))
	for i := range slots {
		binary.LittleEndian.PutUint32(b[8*i:], slots[i].count.Load())
		binary.LittleEndian.PutUint32(b[8*i+4:], slots[i].maxUs.Load())
	}
	return b
}

// shardResult is everything a shard measured.
type shardResult struct {
	Attempted  int64            `json:"attempted"`
	Connected  int64            `json:"connected"`
	Failed     int64            `json:"failed"`
	Failures   map[string]int64 `json:"failures,omitempty"`
	Dropped    int64            `json:"dropped"`
	Drops      map[string]int64 `json:"drops,omitempty"`
	Reconnects int64            `json:"reconnects"`
	FirstDial  time.Time        `json:"first_dial"`
	LastReady  time.Time        `json:"last_ready"`
	Handshake  *Hist            `json:"handshake"`
	Latency    *Hist            `json:"latency"`
	// Per room key, this shard's receivers' counts.
	RoomDelivered []int64          `json:"room_delivered"`
	RoomDup       []int64          `json:"room_dup"`
	RoomOOO       []int64          `json:"room_ooo"`
	Streams       []streamTally    `json:"streams,omitempty"`
	ErrorCodes    map[string]int64 `json:"error_codes,omitempty"`
	Fan           []fanBlob        `json:"fan,omitempty"`
	Bytes         int64            `json:"bytes"`
	CPUSeconds    float64          `json:"cpu_seconds"`
	SchedP99      float64          `json:"sched_p99_ms"`
	PublishLagMax float64          `json:"publish_lag_max_ms"`
	Server        string           `json:"server,omitempty"`
	Node          string           `json:"node,omitempty"`
	// Nodes (cluster) are the shard's figures per target.
	Nodes []shardNode `json:"nodes,omitempty"`
}

// shardNode is what a shard measured on one target of a cluster: its
// connections, and the deliveries to its receivers there.
type shardNode struct {
	Attempted     int64   `json:"attempted"`
	Connected     int64   `json:"connected"`
	Failed        int64   `json:"failed"`
	Dropped       int64   `json:"dropped"`
	RoomDelivered []int64 `json:"room_delivered"`
	Dup           int64   `json:"dup"`
	OOO           int64   `json:"ooo"`
	// Cross counts deliveries from senders on another target.
	Cross   int64 `json:"cross"`
	Latency *Hist `json:"latency"`
}

// encodeLine marshals v as one JSON line.
func encodeLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
