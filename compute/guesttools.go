package compute

// guestToolMethods: trigger_crash_dump, get_diagnostics, get_instance_diagnostics and cache_images.
func (s *Service) guestToolMethods() map[string]method {
	return map[string]method{}
}
