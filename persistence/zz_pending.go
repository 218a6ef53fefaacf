package persistence

import "time"

// TEMPORARY: the persistence branch defines this; this file goes at its merge.

type Retention struct {
	Keep     int
	Interval time.Duration
}
