// Package qcow2 reads QEMU copy-on-write images (qcow2 versions 2 and 3) natively,
// so hosts without qemu-img (FreeBSD) can turn Glance images into raw disks.
//
// Reading covers standard, zero, unallocated and deflate-compressed clusters,
// extended L2 entries with subclusters, and backing files when the caller
// provides a resolver. Encryption, external data files and zstd compression are
// refused with an *Error whose Kind is ErrUnsupported. Every structure read
// from the file is bounds-checked against the file size before any allocation,
// so a hostile image yields an *Error of Kind ErrCorrupt, never a panic or an
// allocation larger than the file itself.
package qcow2
