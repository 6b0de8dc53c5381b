package compute

// serialConsoleMethods: get_serial_console.
func (s *Service) serialConsoleMethods() map[string]method {
	return map[string]method{}
}
