package compute

// rescueMethods: rescue_instance and unrescue_instance.
func (s *Service) rescueMethods() map[string]method {
	return map[string]method{}
}
