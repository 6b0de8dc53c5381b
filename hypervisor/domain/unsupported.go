package domain

import (
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
)

// unsupported refuses the image properties and flavor extra specs that ask for a device or feature no domain this
// package builds has: UEFI Secure Boot, a TPM, a sound card, memory encryption, a virtual IOMMU, more than the one
// serial port, a watchdog. A guest built without what its image or flavor asked for would differ silently from
// what the owner was promised, so the build fails instead, naming the property Nova takes the value from (flavor or
// image, by Nova's precedence for that property). Values that ask for nothing (os_secure_boot=optional,
// hw_watchdog_action=disabled, hw_serial_port_count=1) pass.
func (b *builder) unsupported() error {
	for _, check := range []func() error{b.secureBoot, b.tpm, b.sound, b.memEncryption, b.viommu, b.serialPorts,
		b.watchdog} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// flavorOrImage is a property Nova reads from the flavor's extra spec, else the image's property, and refuses
// when both are set and differ (hardware._get_unique_flavor_image_meta): the extra spec's name and value when the
// flavor sets it, else the image's; "" when neither does.
func (b *builder) flavorOrImage(spec, prop string) (name, value string) {
	if v := b.p.Extra[spec]; v != "" {
		return spec, v
	}
	if v := b.p.Image[prop]; v != "" {
		return prop, v
	}
	return "", ""
}

func (b *builder) refuse(prop, value, reason string, allowed ...string) error {
	return &hypervisor.PropertyError{Property: prop, Value: value, Driver: b.o.Driver, Reason: reason, Allowed: allowed}
}

// secureBoot: a policy of "required" cannot be met (no engine has a Secure Boot firmware here); "optional" means
// "if the host can", and "disabled" asks for nothing. Each of the flavor's and the image's is checked, since either
// asking for it is enough for Nova.
func (b *builder) secureBoot() error {
	for _, p := range []struct {
		name  string
		value string
	}{{"os:secure_boot", b.p.Extra["os:secure_boot"]}, {"os_secure_boot", b.p.Image["os_secure_boot"]}} {
		switch p.value {
		case "", "disabled", "optional":
		case "required":
			return b.refuse(p.name, p.value, "UEFI Secure Boot is not available", "disabled", "optional")
		default:
			return b.refuse(p.name, p.value, "", "disabled", "optional")
		}
	}
	return nil
}

// tpm: a TPM version asks for an emulated TPM, which no engine gives. A model alone asks for nothing: Nova adds a
// TPM only when a version is set, so an image that names just the model boots without one on stock Nova too.
func (b *builder) tpm() error {
	if name, v := b.flavorOrImage("hw:tpm_version", "hw_tpm_version"); name != "" {
		return b.refuse(name, v, "no emulated TPM is available")
	}
	return nil
}

// sound: any sound model asks for a sound card, which no engine gives.
func (b *builder) sound() error {
	if name, v := b.flavorOrImage("hw:sound_model", "hw_sound_model"); name != "" {
		return b.refuse(name, v, "no sound device is available")
	}
	return nil
}

// memEncryption: a true hw:mem_encryption or hw_mem_encryption asks for AMD SEV, which no engine gives; false asks
// for nothing.
func (b *builder) memEncryption() error {
	for _, p := range []struct {
		name  string
		value string
	}{{"hw:mem_encryption", b.p.Extra["hw:mem_encryption"]}, {"hw_mem_encryption", b.p.Image["hw_mem_encryption"]}} {
		if truthy(p.value) {
			return b.refuse(p.name, p.value, "memory encryption is not available")
		}
	}
	return nil
}

// viommu: any model, auto included, asks for a virtual IOMMU, which no engine gives.
func (b *builder) viommu() error {
	if name, v := b.flavorOrImage("hw:viommu_model", "hw_viommu_model"); name != "" {
		return b.refuse(name, v, "no virtual IOMMU is available")
	}
	return nil
}

// serialPorts: every guest has one serial port (its console). Nova's count is the image's when both set one (it
// may only lower the flavor's), else the flavor's, else the image's; 0 means the default, 1.
func (b *builder) serialPorts() error {
	count := func(prop, v string) (int, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return 0, b.refuse(prop, v, "must be a number of serial ports (this host gives one)")
		}
		return n, nil
	}
	const spec, prop = "hw:serial_port_count", "hw_serial_port_count"
	fn, err := count(spec, b.p.Extra[spec])
	if err != nil {
		return err
	}
	in, err := count(prop, b.p.Image[prop])
	if err != nil {
		return err
	}
	name, n, v := prop, in, b.p.Image[prop]
	if in == 0 {
		name, n, v = spec, fn, b.p.Extra[spec]
	}
	if n > 1 {
		return b.refuse(name, v, "a guest has one serial port here")
	}
	return nil
}

// watchdog: the image's hw_watchdog_action wins over the flavor's hw:watchdog_action (the libvirt driver's order);
// any action but "disabled" asks for a watchdog device, which no engine gives.
func (b *builder) watchdog() error {
	name, v := "hw_watchdog_action", b.p.Image["hw_watchdog_action"]
	if v == "" {
		name, v = "hw:watchdog_action", b.p.Extra["hw:watchdog_action"]
	}
	if v != "" && v != "disabled" {
		return b.refuse(name, v, "no watchdog device is available", "disabled")
	}
	return nil
}
