package conf

import (
	"bufio"
	"io"
	"strings"
)

// sampleWidth is oslo-config-generator's default --wrap-width.
const sampleWidth = 70

// WriteSample writes a commented nova.conf covering every declared option, in oslo-config-generator's format: per
// group a [group] header, then per option its help wrapped at 70 columns ending in the type name, bounds, choices,
// deprecated names, and the default as a commented assignment.
func WriteSample(w io.Writer) error {
	bw := bufio.NewWriter(w)
	group := ""
	for _, o := range registry() {
		if o.Group != group {
			if group != "" {
				bw.WriteString("\n\n")
			}
			group = o.Group
			bw.WriteString("[" + group + "]\n")
		}
		bw.WriteString("\n")
		writeSampleOption(bw, o)
	}
	return bw.Flush()
}

func writeSampleOption(w *bufio.Writer, o *Option) {
	help := o.Help
	if o.DeprecatedForRemoval && !strings.HasPrefix(help, "DEPRECATED") {
		help = "DEPRECATED: " + help
	}
	writeWrapped(w, help+" ("+o.Kind.typeName()+")")
	lo, hi := o.bounds()
	if lo != nil {
		w.WriteString("# Minimum value: " + o.formatBound(*lo) + "\n")
	}
	if hi != nil {
		w.WriteString("# Maximum value: " + o.formatBound(*hi) + "\n")
	}
	if len(o.Choices) > 0 {
		w.WriteString("# Possible values:\n")
		for _, c := range o.Choices {
			h := c.Help
			if h == "" {
				h = "<No description provided>"
			}
			writeWrapped(w, c.Value+" - "+h)
		}
	}
	for _, n := range o.names()[1:] {
		w.WriteString("# Deprecated group/name - [" + n.Group + "]/" + n.Name + "\n")
	}
	if o.DeprecatedForRemoval {
		if o.DeprecatedSince != "" {
			w.WriteString("# This option is deprecated for removal since " + o.DeprecatedSince + ".\n")
		} else {
			w.WriteString("# This option is deprecated for removal.\n")
		}
		w.WriteString("# Its value may be silently ignored in the future.\n")
		if o.DeprecatedReason != "" {
			writeWrapped(w, "Reason: "+o.DeprecatedReason)
		}
	}
	if o.SampleDefault != "" {
		w.WriteString("#\n# The real default depends on the machine; the value below is an\n# example.\n")
	}
	for _, d := range sampleDefaults(o) {
		if d != "" {
			d = " " + strings.ReplaceAll(d, "\n", "\n#    ")
		}
		w.WriteString("#" + o.Name + " =" + d + "\n")
	}
}

// sampleDefaults are the default's lines: one per value for a multi-valued option, else one.
func sampleDefaults(o *Option) []string {
	if o.SampleDefault != "" {
		return []string{o.SampleDefault}
	}
	if o.Kind == KindMulti {
		vals, _ := o.Default.([]string)
		if len(vals) == 0 {
			return []string{""}
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = formatValue(v)
		}
		return out
	}
	return []string{formatValue(o.Default)}
}

// writeWrapped writes text as "# " comment lines of at most sampleWidth columns, one paragraph per input line, words
// longer than a line kept whole (textwrap.wrap with break_long_words=False).
func writeWrapped(w *bufio.Writer, text string) {
	for _, para := range strings.Split(text, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			w.WriteString("#\n")
			continue
		}
		line := "#"
		for _, word := range words {
			if line != "#" && len(line)+1+len(word) > sampleWidth {
				w.WriteString(line + "\n")
				line = "#"
			}
			line += " " + word
		}
		w.WriteString(line + "\n")
	}
}
