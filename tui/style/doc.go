// Package style holds the look shared by rtsync's terminal UIs (tui/bench,
// and later tui/chat and tui/top): one Styles value with every lipgloss
// style a view uses, so the three commands look alike and a test or a
// user preference can swap the whole set at once.
//
// Styles carry colours unconditionally; the bubbletea program downsamples
// them to what the terminal supports (and to none under NO_COLOR, or when
// a test forces the ASCII profile), so views never check the environment.
//
// # Concurrency contract
//
// Styles is a plain value: copy it freely. Nothing here has state or
// goroutines.
package style
