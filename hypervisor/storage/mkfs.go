package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Filesystem formats of ephemeral disks, in Nova's spelling (nova.privsep.fs FS_FORMAT_*), plus ufs, which only a
// FreeBSD host makes.
const (
	FormatExt2 = "ext2"
	FormatExt3 = "ext3"
	FormatExt4 = "ext4"
	FormatXFS  = "xfs"
	FormatNTFS = "ntfs"
	FormatVFAT = "vfat"
	FormatUFS  = "ufs"
)

// Formats lists every format an ephemeral disk may be given on some host; HostFormats narrows it to one host.
var Formats = []string{FormatExt2, FormatExt3, FormatExt4, FormatXFS, FormatNTFS, FormatVFAT, FormatUFS}

// Errors callers test with errors.Is.
var (
	// ErrUnsupportedFormat: a filesystem this host cannot make, or a block device mapping's guest_format Nova's
	// libvirt driver would refuse.
	ErrUnsupportedFormat = errors.New("unsupported filesystem format")
	// ErrBadMkfsCommand: a virt_mkfs entry that cannot be turned into a command line.
	ErrBadMkfsCommand = errors.New("invalid mkfs command")
)

// HostFormats are the formats a host running goos can make. Linux makes what Nova's libvirt driver makes (mkfs -t of
// util-linux and e2fsprogs/xfsprogs/dosfstools/ntfs-3g). FreeBSD has no mkfs -t: ext2/3/4 come from the e2fsprogs port
// (mke2fs), vfat from newfs_msdos and ufs from newfs in base; no FreeBSD tool makes xfs or ntfs.
func HostFormats(goos string) []string {
	if goos == "freebsd" {
		return []string{FormatExt2, FormatExt3, FormatExt4, FormatVFAT, FormatUFS}
	}
	return []string{FormatExt2, FormatExt3, FormatExt4, FormatXFS, FormatNTFS, FormatVFAT}
}

// guestFormats are the block device mapping guest_format values accepted, as the libvirt driver's
// is_supported_fs_format (ext2/3/4 and xfs); FreeBSD trades xfs, which it cannot make, for ufs.
func guestFormats(goos string) []string {
	if goos == "freebsd" {
		return []string{FormatExt2, FormatExt3, FormatExt4, FormatUFS}
	}
	return []string{FormatExt2, FormatExt3, FormatExt4, FormatXFS}
}

// defaultFSByOSType is nova.privsep.fs._DEFAULT_FS_BY_OSTYPE; any other os_type gets vfat.
var defaultFSByOSType = map[string]string{"linux": FormatExt4, "windows": FormatNTFS}

// EphemeralLabel is the filesystem label of the index-th ephemeral disk, as the libvirt driver's
// _get_fs_label_ephemeral: short enough for every filesystem's label limit (vfat: 11).
func EphemeralLabel(index int) string { return fmt.Sprintf("ephemeral%d", index) }

// MkfsCommand is one operator command of [DEFAULT] virt_mkfs, split into words. Nova substitutes
// %(fs_label)s and %(target)s into the whole string and splits the result on white space; splitting first keeps a
// substituted value inside the word it was written in, and no shell ever sees the words.
type MkfsCommand struct {
	words []string
}

// placeholders a virt_mkfs command may use.
var mkfsKeys = []string{"fs_label", "target"}

// ParseMkfsCommand parses the command part of a virt_mkfs entry. Python %-formatting with a mapping is followed:
// %(fs_label)s and %(target)s are substituted and %% is a percent sign; any other conversion is refused (Python
// would raise). The program (first word) must be fixed text, a bare name looked up on PATH or an absolute path, and
// the command must name its %(target)s, or it would format something other than the disk being made.
func ParseMkfsCommand(s string) (MkfsCommand, error) {
	if strings.ContainsRune(s, 0) {
		return MkfsCommand{}, fmt.Errorf("%w: NUL byte in %q", ErrBadMkfsCommand, s)
	}
	words := strings.Fields(s)
	if len(words) == 0 {
		return MkfsCommand{}, fmt.Errorf("%w: empty command", ErrBadMkfsCommand)
	}
	target := false
	for i, w := range words {
		keys, err := mkfsPlaceholders(w)
		if err != nil {
			return MkfsCommand{}, fmt.Errorf("%w: %q: %w", ErrBadMkfsCommand, s, err)
		}
		if i == 0 && (len(keys) > 0 || strings.Contains(w, "%")) {
			return MkfsCommand{}, fmt.Errorf("%w: %q: the program name must be fixed text", ErrBadMkfsCommand, s)
		}
		target = target || slices.Contains(keys, "target")
	}
	if p := words[0]; strings.Contains(p, "/") && !filepath.IsAbs(p) {
		return MkfsCommand{}, fmt.Errorf("%w: %q: program %q must be a bare name or an absolute path", ErrBadMkfsCommand, s, p)
	}
	if !target {
		return MkfsCommand{}, fmt.Errorf("%w: %q does not name the disk: %%(target)s is missing", ErrBadMkfsCommand, s)
	}
	return MkfsCommand{words: words}, nil
}

// mkfsPlaceholders returns the keys of the %(key)s conversions in w, or why w is not a valid template word.
func mkfsPlaceholders(w string) ([]string, error) {
	var keys []string
	for i := 0; i < len(w); i++ {
		if w[i] != '%' {
			continue
		}
		rest := w[i+1:]
		switch {
		case strings.HasPrefix(rest, "%"):
			i++
		case strings.HasPrefix(rest, "("):
			end := strings.Index(rest, ")")
			if end < 0 || end+1 >= len(rest) || rest[end+1] != 's' {
				return nil, fmt.Errorf("conversion at %q is not %%(name)s", w[i:])
			}
			key := rest[1:end]
			if !slices.Contains(mkfsKeys, key) {
				return nil, fmt.Errorf("unknown placeholder %%(%s)s (allowed: %%(fs_label)s, %%(target)s)", key)
			}
			keys = append(keys, key)
			i += end + 2
		default:
			return nil, fmt.Errorf("conversion at %q is not %%(name)s or %%%%", w[i:])
		}
	}
	return keys, nil
}

// Argv is the command line for formatting target with label.
func (c MkfsCommand) Argv(label, target string) []string {
	r := strings.NewReplacer("%%", "%", "%(fs_label)s", label, "%(target)s", target)
	out := make([]string, len(c.words))
	for i, w := range c.words {
		out[i] = r.Replace(w)
	}
	return out
}

// IsZero reports an empty command: the entry "os_type=" that makes the os_type use the built-in formats.
func (c MkfsCommand) IsZero() bool { return len(c.words) == 0 }

// String is the command as configured (words joined by one space).
func (c MkfsCommand) String() string { return strings.Join(c.words, " ") }

// ParseVirtMkfs parses [DEFAULT] virt_mkfs entries, "<os_type>=<mkfs command>" (split at the first "=", since
// commands may hold "="). The os_type "default" applies to every os_type without its own entry; an empty command
// gives its os_type the built-in formats. A later entry for the same os_type replaces the earlier, as in Nova.
func ParseVirtMkfs(entries []string) (map[string]MkfsCommand, error) {
	out := make(map[string]MkfsCommand, len(entries))
	for _, e := range entries {
		osType, cmd, ok := strings.Cut(e, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not <os_type>=<mkfs command>", ErrBadMkfsCommand, e)
		}
		osType = strings.TrimSpace(osType)
		if osType == "" {
			return nil, fmt.Errorf("%w: %q has no os_type before \"=\"", ErrBadMkfsCommand, e)
		}
		if strings.TrimSpace(cmd) == "" {
			out[osType] = MkfsCommand{}
			continue
		}
		c, err := ParseMkfsCommand(cmd)
		if err != nil {
			return nil, err
		}
		out[osType] = c
	}
	return out, nil
}

// Mkfs formats blank ephemeral and swap disks as Nova's libvirt driver does (nova.privsep.fs configurable_mkfs and
// unprivileged_mkfs), on the raw file or zvol device the backend made. The zero value is not usable: use NewMkfs.
type Mkfs struct {
	// GOOS decides the tools ("freebsd" or any other for the Linux ones).
	GOOS string
	// DefaultFormat is [DEFAULT] default_ephemeral_format; "" chooses by os_type.
	DefaultFormat string
	// Commands are [DEFAULT] virt_mkfs by os_type.
	Commands map[string]MkfsCommand
	// Mkswap is the mkswap program; "" leaves swap disks unformatted (a FreeBSD host without one: FreeBSD guests
	// swap on a raw device, Linux guests need mkswap run once inside).
	Mkswap string
	// Run runs a command line; nil runs it with os/exec.
	Run func(ctx context.Context, argv []string) error
}

// NewMkfs checks the two options against what host goos can make: an unknown or unmakeable default format or an
// unusable virt_mkfs entry is an error, so the service refuses to start rather than fail every build.
func NewMkfs(goos, defaultFormat string, virtMkfs []string) (*Mkfs, error) {
	if defaultFormat != "" && !slices.Contains(HostFormats(goos), defaultFormat) {
		return nil, fmt.Errorf("%w: default_ephemeral_format %q (this host makes %s)", ErrUnsupportedFormat,
			defaultFormat, strings.Join(HostFormats(goos), ", "))
	}
	cmds, err := ParseVirtMkfs(virtMkfs)
	if err != nil {
		return nil, err
	}
	m := &Mkfs{GOOS: goos, DefaultFormat: defaultFormat, Commands: cmds, Mkswap: "mkswap"}
	if goos == "freebsd" {
		// Not in base; a port may provide it.
		if p, err := exec.LookPath("mkswap"); err == nil {
			m.Mkswap = p
		} else {
			m.Mkswap = ""
		}
	}
	return m, nil
}

// CheckGuestFormat refuses a block device mapping's guest_format that the libvirt driver refuses (InvalidBDMFormat)
// or this host cannot make. "" (no format asked) and "swap" are not for it.
func (m *Mkfs) CheckGuestFormat(f string) error {
	if f == "" || slices.Contains(guestFormats(m.GOOS), f) {
		return nil
	}
	return fmt.Errorf("%w: %s format is not supported (allowed: %s)", ErrUnsupportedFormat, f,
		strings.Join(guestFormats(m.GOOS), ", "))
}

// command is the virt_mkfs command for osType: its own entry, else the "default" entry.
func (m *Mkfs) command(osType string) MkfsCommand {
	if c, ok := m.Commands[osType]; ok && osType != "" {
		return c
	}
	return m.Commands["default"]
}

// EphemeralArgv is the command line that formats target for an instance of osType. An operator command for the
// os_type wins over everything (as in Nova, even over a block device mapping's guest_format); otherwise the format is
// guestFormat, else default_ephemeral_format, else Linux's ext4 or Windows' ntfs by os_type, else vfat.
func (m *Mkfs) EphemeralArgv(osType, guestFormat, label, target string) ([]string, error) {
	if !filepath.IsAbs(target) {
		return nil, fmt.Errorf("storage: mkfs target %q is not an absolute path", target)
	}
	if c := m.command(osType); !c.IsZero() {
		return c.Argv(label, target), nil
	}
	if err := m.CheckGuestFormat(guestFormat); err != nil {
		return nil, err
	}
	fs := guestFormat
	if fs == "" {
		fs = m.DefaultFormat
	}
	if fs == "" {
		fs = defaultFSByOSType[osType]
	}
	if fs == "" {
		fs = FormatVFAT
	}
	if !slices.Contains(HostFormats(m.GOOS), fs) {
		return nil, fmt.Errorf("%w: this host cannot make %s filesystems (it makes %s)", ErrUnsupportedFormat, fs,
			strings.Join(HostFormats(m.GOOS), ", "))
	}
	if m.GOOS == "freebsd" {
		return freebsdMkfs(fs, label, target), nil
	}
	// unprivileged_mkfs: -F keeps mke2fs and mkntfs from asking about a target that is not a block device.
	argv := []string{"mkfs", "-t", fs}
	if fs == FormatExt3 || fs == FormatExt4 || fs == FormatNTFS {
		argv = append(argv, "-F")
	}
	if fs == FormatVFAT {
		argv = append(argv, "-n", label)
	} else {
		argv = append(argv, "-L", label)
	}
	return append(argv, target), nil
}

// freebsdMkfs is the FreeBSD tool for fs, with the label options Nova gives its Linux counterparts.
func freebsdMkfs(fs, label, target string) []string {
	switch fs {
	case FormatVFAT:
		// newfs_msdos makes up a geometry for a regular file, so files and zvols both work.
		return []string{"newfs_msdos", "-L", label, target}
	case FormatUFS:
		return []string{"newfs", "-L", label, target}
	}
	argv := []string{"mke2fs", "-t", fs}
	if fs != FormatExt2 {
		argv = append(argv, "-F")
	}
	return append(argv, "-L", label, target)
}

// SwapArgv is the command line that formats target as swap; nil when swap disks stay unformatted.
func (m *Mkfs) SwapArgv(target string) ([]string, error) {
	if !filepath.IsAbs(target) {
		return nil, fmt.Errorf("storage: mkswap target %q is not an absolute path", target)
	}
	if m.Mkswap == "" {
		return nil, nil
	}
	return []string{m.Mkswap, target}, nil
}

// FormatEphemeral formats the index-th ephemeral disk at target (label ephemeral<index>).
func (m *Mkfs) FormatEphemeral(ctx context.Context, osType, guestFormat string, index int, target string) error {
	argv, err := m.EphemeralArgv(osType, guestFormat, EphemeralLabel(index), target)
	if err != nil {
		return err
	}
	return m.run(ctx, argv)
}

// FormatSwap formats target as swap, or leaves it raw when this host has no mkswap.
func (m *Mkfs) FormatSwap(ctx context.Context, target string) error {
	argv, err := m.SwapArgv(target)
	if err != nil || argv == nil {
		return err
	}
	return m.run(ctx, argv)
}

func (m *Mkfs) run(ctx context.Context, argv []string) error {
	if m.Run != nil {
		return m.Run(ctx, argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 512 {
			msg = msg[len(msg)-512:]
		}
		return fmt.Errorf("storage: %s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return nil
}
