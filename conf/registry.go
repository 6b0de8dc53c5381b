package conf

import "sync"

// registry returns every declared option in sample order. Built once; never modified afterwards.
var registry = sync.OnceValue(func() []*Option {
	return concat(defaultOpts(), placementOpts(), glanceOpts(), serviceUserOpts(), keystoneAuthtokenOpts(),
		rabbitOpts(), notificationOpts(), concurrencyOpts(), computeOpts(), vncOpts(), serialConsoleOpts(), imageCacheOpts(),
		filterSchedulerOpts(), pciOpts(), upgradeLevelsOpts(), libvirtOpts(), bhyveOpts(), qemuOpts(), novabsdOpts(), neutronOpts(),
		osVIFOVSOpts())
})

// index maps every name an option can be written under (current and deprecated) to the option.
type index struct {
	byName       map[Name]*Option // current names only
	byDeprecated map[Name]*Option
	groups       map[string]bool
}

var optionIndex = sync.OnceValue(func() *index {
	ix := &index{byName: map[Name]*Option{}, byDeprecated: map[Name]*Option{}, groups: map[string]bool{}}
	for _, o := range registry() {
		ix.byName[Name{o.Group, o.Name}] = o
		ix.groups[o.Group] = true
		for _, n := range o.names()[1:] {
			ix.byDeprecated[n] = o
		}
	}
	return ix
})

// known reports whether (group, key) as written in a file is read by some option.
func (ix *index) known(n Name) bool {
	if _, ok := ix.byName[n]; ok {
		return true
	}
	_, ok := ix.byDeprecated[n]
	return ok
}
