package profile

import "errors"

var (
	// errActivatorClosed answers acquisitions after the Host closed.
	errActivatorClosed = errors.New("profile: the node is shutting down")
	// errShortAcquire: the store answered fewer results than requests (a
	// store bug); the activation retries.
	errShortAcquire = errors.New("profile: the store answered an acquire batch short")
)
