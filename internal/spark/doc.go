// Package spark draws one-line sparklines in Unicode block characters, for
// the bench's live view and its report: a series scaled from zero to its
// largest value, one cell per value.
package spark
