// Command rtsync is a real-time messaging server and the tools to use and
// measure it, in one binary. See the cmd package for the commands.
package main
