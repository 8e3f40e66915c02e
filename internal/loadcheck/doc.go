// Command loadcheck is a stand-in load generator used to measure the core
// server (idle RSS per connection, one-room broadcast throughput and
// latency) until `rtsync bench` exists. See main.go for usage.
package main
