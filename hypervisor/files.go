package hypervisor

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/novabsd/novabsd/hypervisor/beneath"
	"libvirt.org/go/libvirtxml"
)

// SaveDomain writes dom to dir/DomainFile atomically, confined to dir.
func SaveDomain(dir string, dom *libvirtxml.Domain) error {
	x, err := dom.Marshal()
	if err != nil {
		return fmt.Errorf("marshal domain %s: %w", dom.Name, err)
	}
	if err := beneath.WriteFile(dir, DomainFile, []byte(x+"\n"), 0o600); err != nil {
		return fmt.Errorf("save domain %s: %w", dom.Name, err)
	}
	return nil
}

// LoadDomain reads dir/DomainFile. A missing file wraps ErrNotFound.
func LoadDomain(dir string) (*libvirtxml.Domain, error) {
	b, err := beneath.ReadFile(dir, DomainFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load domain from %s: %w: %w", dir, ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load domain from %s: %w", dir, err)
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(string(b)); err != nil {
		return nil, fmt.Errorf("parse %s/%s: %w", dir, DomainFile, err)
	}
	return &dom, nil
}
