package placement

// Microversions Nova's SchedulerReportClient sends per call (identical from
// 2025.1 to 2026.2; Placement servers of those releases support up to 1.39).
const (
	mvProviderGet        = "1.14" // GET /resource_providers[/{uuid}], in_tree, name
	mvProviderCreate     = "1.20" // POST /resource_providers returns the provider
	mvAggregates         = "1.19"
	mvTraits             = "1.6"
	mvResourceClass      = "1.7"  // PUT /resource_classes/CUSTOM_X
	mvInventorySet       = "1.26" // allows reserved == total
	mvConsumerAllocation = "1.28" // consumer generations
)
