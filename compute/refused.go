package compute

// refusedMethods: every method this node does not support, refused as nova's drivers refuse them.
func (s *Service) refusedMethods() map[string]method {
	return map[string]method{}
}
