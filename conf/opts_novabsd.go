package conf

// novabsd's own groups: the engines' binaries, firmware and storage. They are not Nova options, so their defaults
// are ours: the FreeBSD base and ports locations for bhyve, Debian's for QEMU and OVMF.

func bhyveOpts() []*Option {
	return inGroup("bhyve", []*Option{
		{Name: "bhyve_path", Kind: KindString, Default: "/usr/sbin/bhyve", Help: "The bhyve(8) executable."},
		{Name: "bhyvectl_path", Kind: KindString, Default: "/usr/sbin/bhyvectl", Help: "The bhyvectl(8) executable."},
		{Name: "bhyveload_path", Kind: KindString, Default: "/usr/sbin/bhyveload",
			Help: "The bhyveload(8) executable, for guests that boot a FreeBSD kernel without UEFI."},
		{Name: "vmm_dir", Kind: KindString, Default: "/dev/vmm",
			Help: "Absolute path of the directory in which the kernel lists its VMs, one node per VM (vmm(4): " +
				"/dev/vmm). A VM listed here whose bhyve has ended is destroyed with bhyvectl --destroy. Only the " +
				"test stand-ins of bhyve(8) and bhyvectl(8), on hosts without vmm(4), need another directory."},
		{Name: "uefi_firmware", Kind: KindString, Default: "/usr/local/share/uefi-firmware/BHYVE_UEFI.fd",
			Help: "UEFI firmware image (sysutils/bhyve-firmware)."},
		{Name: "uefi_vars_template", Kind: KindString, Default: "/usr/local/share/uefi-firmware/BHYVE_UEFI_VARS.fd",
			Help: "UEFI variable store copied for each new UEFI guest."},
		{Name: "storage_backend", Kind: KindString, Default: "zfs",
			Choices: []Choice{{"zfs", "one ZFS volume per disk under zfs_pool/zfs_dataset_prefix"},
				{"file", "one raw file per disk under instances_path"}},
			Help: "Where instance disks live."},
		{Name: "zfs_pool", Kind: KindString, Default: "zroot", Help: "ZFS pool for instance disks."},
		{Name: "zfs_dataset_prefix", Kind: KindString, Default: "nova",
			Help: "Dataset under zfs_pool that holds one child dataset per instance."},
		{Name: "nmdm_enabled", Kind: KindBool, Default: true,
			Help: "Attach each guest's first serial port to an nmdm(4) null-modem pair for the serial console."},
		{Name: "tap_name_prefix", Kind: KindString, Default: "tap",
			Help: "Prefix of the tap(4) interfaces made for guest ports, followed by the start of the port ID."},
		{Name: "vnc_listen", Kind: KindHostAddress, Default: "${vnc.server_listen}",
			Help: "Address the bhyve framebuffer's VNC server listens on."},
		{Name: "vnc_port_min", Kind: KindPort, Default: 5900, Help: "Lowest TCP port given to a guest's VNC server."},
		{Name: "vnc_port_max", Kind: KindPort, Default: 5999, Help: "Highest TCP port given to a guest's VNC server."},
		{Name: "vnc_wait", Kind: KindBool, Default: false,
			Help: "Hold the guest's boot until a VNC client connects (bhyve fbuf wait)."},
	})
}

// novabsdOpts are the engine-independent host options: which host devices guests may be given.
func novabsdOpts() []*Option {
	return inGroup("novabsd", []*Option{
		{Name: "usb_device_spec", Kind: KindMulti, Default: []string{},
			Help: "A host USB device offered to guests, as VVVV:PPPP (vendor and product id, four hexadecimal digits " +
				"each: every device with these ids) or VVVV:PPPP@BUS-PORTPATH (only the device at that port, as Linux " +
				"names it in /sys/bus/usb/devices, e.g. 0781:5581@1-1.2). Repeat the line for several devices. Each " +
				"device found becomes a child resource provider of the compute node with one unit of resource class " +
				"CUSTOM_USB_<VID>_<PID>; an entry matching no device is logged. FreeBSD's usbconfig gives no port " +
				"paths, so there only the VVVV:PPPP form matches. A malformed entry stops the service."},
		{Name: "sysfs_root", Kind: KindString, Default: "/sys",
			Help: "Absolute path of the sysfs tree Linux hosts list their USB devices under (bus/usb/devices). Only " +
				"changed for tests presenting fixture devices; not read on FreeBSD."},
	})
}

func qemuOpts() []*Option {
	return inGroup("qemu", []*Option{
		{Name: "qemu_path", Kind: KindString, Default: "qemu-system-x86_64",
			Help: "The QEMU system emulator; a bare name is looked up in PATH."},
		{Name: "qemu_img_path", Kind: KindString, Default: "qemu-img",
			Help: "The qemu-img executable; a bare name is looked up in PATH."},
		{Name: "accel", Kind: KindString, Default: "auto",
			Choices: []Choice{{"auto", "KVM when a probe guest with the guests' machine type and CPU runs under " +
				"it, else TCG; a guest KVM kills at start moves the host to TCG"}, {"kvm", "hardware virtualization"},
				{"tcg", "software emulation"}},
			Help: "QEMU accelerator. When no file sets it, an explicit [libvirt] virt_type decides (qemu: tcg, kvm: kvm)."},
		{Name: "machine_type", Kind: KindString, Default: "q35",
			Help: "QEMU machine type (-machine) for images without hw_machine_type; it and every hw_machine_type must be one the binary lists in -machine help (aliases such as pc and q35 included)."},
		{Name: "user", Kind: KindString, Default: "novabsd-qemu",
			Help: "Account QEMU drops to (-runas, or -run-with user= on QEMU 9.1+) once it has opened the guest's disks, firmware, sockets and logs as root. The account must exist (useradd --system --no-create-home --shell /usr/sbin/nologin novabsd-qemu); guests are refused while it is missing. root keeps QEMU running as root (not recommended)."},
		{Name: "sandbox", Kind: KindBool, Default: true,
			Help: "Run QEMU under its seccomp filter (-sandbox on,obsolete=deny,spawn=deny,resourcecontrol=deny and, for a QEMU running as root, elevateprivileges=deny). A QEMU built without seccomp is refused unless this is false."},
		{Name: "uefi_firmware", Kind: KindString, Default: "/usr/share/OVMF/OVMF_CODE.fd",
			Help: "UEFI firmware code image (Debian package ovmf)."},
		{Name: "uefi_vars_template", Kind: KindString, Default: "/usr/share/OVMF/OVMF_VARS.fd",
			Help: "UEFI variable store copied for each new UEFI guest."},
		{Name: "storage_backend", Kind: KindString, Default: "file",
			Choices: []Choice{{"file", "one qcow2 or raw file per disk under instances_path"},
				{"zfs", "one ZFS volume per disk under zfs_pool/zfs_dataset_prefix"}},
			Help: "Where instance disks live."},
		{Name: "zfs_pool", Kind: KindString, Default: "zroot", Help: "ZFS pool for instance disks (storage_backend zfs)."},
		{Name: "zfs_dataset_prefix", Kind: KindString, Default: "nova",
			Help: "Dataset under zfs_pool that holds one child dataset per instance."},
	})
}
