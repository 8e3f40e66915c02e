// Package cliconf gives every flag of a command two more places to get its
// value from, and the flag value types rtsync's commands share.
//
// Apply implements the precedence rtsync documents for its commands:
//
//	flag on the command line > environment variable > config file > default
//
// It works over any pflag.FlagSet, so a flag added to a command gets its
// environment variable (PREFIX + the name upper-cased, '-' as '_') and its
// config-file key (the flag name itself) with no extra code. Values from
// either place go through the flag's own Set, so they are checked exactly
// like values typed on the command line, and a bad one is reported with the
// place it came from.
//
// Concurrency: Apply mutates the FlagSet and the variables its flags are
// bound to; call it once, from the goroutine that parsed the command line,
// before anything reads those variables.
package cliconf
