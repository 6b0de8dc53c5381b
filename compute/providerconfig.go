package compute

import (
	"fmt"
	"log/slog"

	"github.com/novabsd/novabsd/placement"
)

// loadProviderConfigs reads [compute] provider_config_location once, when the service is made, as Nova's
// ResourceTracker does in its constructor: a bad file stops the service before it joins the cloud, and SIGHUP does
// not re-read the files (Nova does not either). What Nova accepts with a warning is logged as a warning.
func loadProviderConfigs(dir string, log *slog.Logger) (*placement.ProviderConfigs, error) {
	if dir == "" {
		log.Info("[compute] provider_config_location is empty: no provider configs are read")
		return nil, nil
	}
	pcs, err := placement.ReadProviderConfigDir(dir)
	if err != nil {
		return nil, fmt.Errorf("[compute] provider_config_location: %w", err)
	}
	if len(pcs.Files) == 0 {
		log.Info("No provider configs found; if files are present, make sure novabsd can read them", "dir", dir)
	} else {
		log.Info("Loaded provider configs", "files", pcs.Files)
	}
	for _, f := range pcs.NewerMinor {
		log.Warn("Provider config file is at a schema minor version newer than 1.0; some fields may be ignored",
			"file", f)
	}
	for _, p := range pcs.Ignored {
		log.Warn("Provider config entry has no additional inventories or traits and will be ignored", "provider", p)
	}
	for _, u := range pcs.Unused {
		log.Warn("Provider config key ignored", "detail", u)
	}
	return pcs, nil
}

// checkProviderConfigs runs once the node's identity is known. An entry naming this node by uuid and another by
// name is an error that no audit could get past, so the service refuses to start; entries naming providers this
// node does not have are ignored with a warning, as Nova warns of providers absent from its tree.
func (s *Service) checkProviderConfigs(hostname string) error {
	if _, _, err := s.providerConfigs.For(s.nodeUUID, hostname, true); err != nil {
		return &StartupError{err.Error()}
	}
	for _, p := range s.providerConfigs.Unmatched(s.nodeUUID, hostname) {
		s.log.Warn("Provider named in a provider config does not exist on this node and will be ignored",
			"provider", p, "node_uuid", s.nodeUUID, "hypervisor_hostname", hostname)
	}
	return nil
}
