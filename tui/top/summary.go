package top

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/termtext"
)

// summaryRooms is how many rooms Summary lists at most.
const summaryRooms = 20

// Summary writes one snapshot as plain aligned text, for scripts and
// logs (`rtsync top --once`): the header's figures, the busiest rooms and
// a row per node. One snapshot has no rates (they take two), so it gives
// the counters themselves. url names the server in the first line.
func Summary(w io.Writer, url string, s client.ServerStats) error {
	var b strings.Builder
	title := []string{"rtsync top", termtext.Line(url)}
	if s.Node != "" {
		title = append(title, "node "+termtext.Line(s.Node))
	}
	if len(s.Nodes) > 1 {
		title = append(title, fmt.Sprintf("%d nodes", len(s.Nodes)))
	}
	if s.Cluster != nil && !s.Cluster.Healthy {
		title = append(title, "Redis lost")
	}
	if s.Version != "" {
		title = append(title, termtext.Line(s.Version))
	}
	if s.UptimeSeconds > 0 {
		title = append(title, "up "+formatAge(seconds(s.UptimeSeconds)))
	}
	b.WriteString(strings.Join(title, " · ") + "\n\n")

	conns := human.Int(s.Connections)
	if ts := transports(s.ConnectionsByTransport); len(ts) > 0 {
		conns += " (" + strings.Join(ts, ", ") + ")"
	}
	var errs int64
	for _, n := range s.Errors {
		errs += n
	}
	figures := []figure{
		{"connections", conns},
		{"rooms", human.Int(s.Rooms)},
		{"uids", human.Int(s.UIDs)},
		{"accepted", human.Int(s.Accepted) + " (rejected " + human.Int(s.Rejected) + ")"},
		{"messages in", human.Int(s.MessagesIn)},
		{"published", human.Int(s.Published) + " (directs " + human.Int(s.Directs) + ")"},
		{"deliveries", human.Int(s.Deliveries)},
		{"messages out", human.Int(s.MessagesOut) + " in " + human.Int(s.FramesOut) + " frames, " + formatBytes(s.BytesOut)},
		{"dropped", human.Int(s.Dropped) + " (slow consumers " + human.Int(s.SlowConsumers) + ", heartbeat timeouts " + human.Int(s.HeartbeatTimeouts) + ")"},
		{"errors", human.Int(errs)},
		{"history", human.Int(s.HistoryMessages) + " messages, " + formatBytes(s.HistoryBytes)},
		{"rss", formatBytes(s.RSSBytes)},
		{"cpu time", fmt.Sprintf("%.1fs", s.CPUSeconds)},
		{"goroutines", human.Int(s.Goroutines)},
	}
	for _, f := range figures {
		fmt.Fprintf(&b, "%-13s %s\n", f.label, f.value)
	}

	rooms := s.TopRooms
	if len(rooms) > summaryRooms {
		rooms = rooms[:summaryRooms]
	}
	if len(rooms) > 0 {
		b.WriteString("\n")
		rows := make([]row, 0, len(rooms))
		for _, r := range rooms {
			rows = append(rows, row{key: r.Room, cells: []cell{
				textCell(r.Room), intCell(r.Members),
				numCell(finite(r.MsgRate), formatRate(r.MsgRate)),
				intCell(r.History), intCell(r.Seq),
			}})
		}
		writeTable(&b, roomColumns, rows)
	}

	nodes := s.Nodes
	if len(nodes) > 0 {
		b.WriteString("\n")
		cols := []column{
			{title: "NODE", min: 4, max: 40},
			{title: "VERSION", min: 7, max: 20},
			{title: "UP", min: 2, max: 8, right: true},
			{title: "CONNS", min: 5, max: 14, right: true},
			{title: "MESSAGES IN", min: 11, max: 20, right: true},
			{title: "DELIVERIES", min: 10, max: 20, right: true},
			{title: "DROPPED", min: 7, max: 14, right: true},
			{title: "RSS", min: 3, max: 10, right: true},
			{title: "CPU TIME", min: 8, max: 12, right: true},
		}
		var rows []row
		nodeRow := func(name string, n client.NodeStats, total bool) row {
			up := formatAge(seconds(n.UptimeSeconds))
			version := n.Version
			if total {
				up, version = "", ""
			}
			return row{key: name, total: total, cells: []cell{
				textCell(name), textCell(version), textCell(up), intCell(n.Connections),
				intCell(n.MessagesIn), intCell(n.Deliveries), intCell(n.Dropped),
				textCell(formatBytes(n.RSSBytes)), textCell(fmt.Sprintf("%.1fs", n.CPUSeconds)),
			}}
		}
		for _, n := range nodes {
			rows = append(rows, nodeRow(n.Node, n, false))
		}
		if len(nodes) > 1 {
			rows = append(rows, nodeRow("total", s.NodeStats, true))
		}
		writeTable(&b, cols, rows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTable writes a table without the live view's selection marker,
// as wide as its content needs.
func writeTable(b *strings.Builder, cols []column, rows []row) {
	const wide = 1 << 10
	ws := layoutColumns(cols, rows, -1, wide)
	b.WriteString(strings.TrimPrefix(headerLine(cols, ws, -1, false), strings.Repeat(" ", markerWidth)) + "\n")
	for _, r := range rows {
		b.WriteString(ansi.Strip(rowLine(cols, ws, r)) + "\n")
	}
}
