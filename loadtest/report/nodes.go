package report

import (
	"strconv"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

// The per-node figures of a cluster run (Result.Nodes), shared by the
// table and the HTML page: one grid of connections, one of deliveries.

// nodeLabel names node i (from 0) as the reports do: its place in the
// --url order and, when its welcome gave one, its name.
func nodeLabel(i int, n loadtest.NodeStats) string {
	s := "#" + strconv.Itoa(i+1)
	if n.Node != "" {
		s += " " + safe(n.Node, nameRunes/2)
	}
	return s
}

// clusterLine says how a cluster run was laid out.
func clusterLine(c loadtest.Config) string {
	s := human.Int(int64(len(c.URLs))) + " nodes, each room's subscribers spread over them"
	if c.Scenario == loadtest.ScenarioDirect {
		s = human.Int(int64(len(c.URLs))) + " nodes, each pair's peers on two of them"
	}
	if c.Scenario == loadtest.ScenarioConnect || c.Scenario == loadtest.ScenarioIdle {
		s = human.Int(int64(len(c.URLs))) + " nodes, connections spread over them"
	}
	return s
}

// publishersLine is the publishers parameter in words.
func publishersLine(c loadtest.Config, perURL string) string {
	s := human.Int(int64(c.Publishers))
	if !c.Cluster {
		return s + perURL
	}
	if c.PublishOn == loadtest.PublishFirst {
		return s + " per room, on the first node"
	}
	return s + " per room on each node"
}

// nodeConnGrid is the nodes' connections, the header first.
func nodeConnGrid(ns []loadtest.NodeStats, urlRunes int) [][]string {
	rows := [][]string{{"node", "url", "subscribers", "publishers", "connected", "failed", "dropped"}}
	for i, n := range ns {
		rows = append(rows, []string{nodeLabel(i, n), safe(n.URL, urlRunes),
			human.Int(int64(n.Subscribers)), human.Int(int64(n.Publishers)),
			human.Int(n.Connected), human.Int(n.Failed), human.Int(n.Dropped)})
	}
	return rows
}

// nodeMsgGrid is what the nodes' receivers got, the header first.
func nodeMsgGrid(ns []loadtest.NodeStats) [][]string {
	rows := [][]string{{"node", "expected", "delivered", "deliveries/s", "lost", "loss", "dup", "ooo", "cross-node", "p50 ms", "p99 ms"}}
	for i, n := range ns {
		p50, p99 := dash, dash
		if n.Latency != nil && n.Latency.Count > 0 {
			p50, p99 = num3(n.Latency.P50), num3(n.Latency.P99)
		}
		cross := human.Int(n.CrossDelivered) + "/" + human.Int(n.CrossExpected)
		rows = append(rows, []string{nodeLabel(i, n), human.Int(n.Expected), human.Int(n.Delivered), rate(n.DeliveriesPerSec),
			human.Int(n.Lost), pct(lossOf(n.Lost, n.Expected, n.LossPercent)), human.Int(n.Duplicated), human.Int(n.OutOfOrder),
			cross, p50, p99})
	}
	return rows
}

// nodesNote explains the deliveries grid's columns.
const nodesNote = "Per node, the deliveries owed to and made to the receivers connected to it; cross-node: those of them whose sender was on another node (delivered/expected)."

func tableNodes(t *text, r *loadtest.Result) {
	if len(r.Nodes) == 0 {
		return
	}
	t.heading("Nodes")
	t.grid(2, nodeConnGrid(r.Nodes, nameRunes))
	if r.Messages != nil {
		t.blank()
		t.grid(1, nodeMsgGrid(r.Nodes))
		t.line("  cross-node: deliveries from a sender on another node, delivered/expected")
	}
}
