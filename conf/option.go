package conf

// Option declares one configuration option. The registry (opts_*.go) holds each option exactly once; Load, WriteSample
// and WriteShow are driven by it.
type Option struct {
	Group string // "DEFAULT" or the lower-case group name
	Name  string
	Kind  Kind
	// Default is the typed default (string, int, float64, bool, []string, []int, map[string]string), nil for None.
	// String defaults are interpolated like file values ("$state_path/instances").
	Default any
	// SampleDefault replaces the default in the sample when the real one depends on the machine.
	SampleDefault string
	Min, Max      *float64 // bounds for KindInt, KindFloat, KindPort
	Choices       []Choice // allowed values of a KindString option
	Help          string
	Secret        bool // value never printed (WriteShow prints ****)
	// Deprecated lists old (group, name) pairs still read, newest name first; an empty Group means the option's own.
	Deprecated           []Name
	DeprecatedForRemoval bool
	DeprecatedSince      string
	DeprecatedReason     string
	// computed supplies a default that depends on the machine (host name, primary address); it wins over Default.
	computed func() any
}

// Choice is one allowed value of an option, with what it means.
type Choice struct {
	Value string
	Help  string
}

// Name is a (group, option) pair, used for deprecated names.
type Name struct {
	Group string
	Name  string
}

// names returns where the option may be written, current name first, with deprecated groups normalized.
func (o *Option) names() []Name {
	out := []Name{{o.Group, o.Name}}
	for _, d := range o.Deprecated {
		n := Name{Group: d.Group, Name: d.Name}
		if n.Group == "" {
			n.Group = o.Group
		}
		if n.Name == "" {
			n.Name = o.Name
		}
		n.Group = normalizeGroup(n.Group)
		out = append(out, n)
	}
	return out
}

// nullable reports whether the option has no default, so its Go field is a pointer (numbers) or may be nil.
func (o *Option) nullable() bool { return o.Default == nil && o.computed == nil }

func ptr(f float64) *float64 { return &f }

// Options returns a copy of every declared option, grouped as in the sample.
func Options() []Option {
	reg := registry()
	out := make([]Option, len(reg))
	for i, o := range reg {
		out[i] = *o
		out[i].Deprecated = append([]Name(nil), o.Deprecated...)
		out[i].Choices = append([]Choice(nil), o.Choices...)
	}
	return out
}
