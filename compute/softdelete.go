package compute

// softDeleteMethods: soft_delete_instance and restore_instance.
func (s *Service) softDeleteMethods() map[string]method {
	return map[string]method{}
}
