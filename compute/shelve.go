package compute

// shelveMethods: shelve_instance, shelve_offload_instance and unshelve_instance.
func (s *Service) shelveMethods() map[string]method {
	return map[string]method{}
}
