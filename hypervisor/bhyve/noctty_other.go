//go:build !unix

package bhyve

const noctty = 0
