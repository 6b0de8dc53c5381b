package compute

// rebuildMethods: rebuild_instance (same host; evacuation is refused until moves land).
func (s *Service) rebuildMethods() map[string]method {
	return map[string]method{}
}
