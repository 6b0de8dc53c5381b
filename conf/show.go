package conf

import (
	"bufio"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/novabsd/novabsd/conf/credmask"
)

// WriteShow writes every option's effective value and its source ("file:line" or "default"), grouped like the
// sample. Secret values print as ****, transport URLs with their passwords masked.
func (c *Config) WriteShow(w io.Writer) error {
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	group := ""
	for _, o := range registry() {
		if o.Group != group {
			if group != "" {
				tw.Flush()
				bw.WriteString("\n")
			}
			group = o.Group
			tw.Write([]byte("[" + group + "]\n"))
		}
		src := c.Source(o.Group, o.Name)
		for _, v := range c.shownValues(o) {
			v = strings.ReplaceAll(v, "\n", `\n`)
			tw.Write([]byte(o.Name + " = " + v + "\t# " + src + "\n"))
		}
	}
	tw.Flush()
	return bw.Flush()
}

// shownValues renders the option's effective value for display, one line per value of a multi-valued option.
func (c *Config) shownValues(o *Option) []string {
	res := c.values[Name{o.Group, o.Name}]
	var v any
	if res != nil {
		v = res.value
	}
	if o.Secret {
		s, _ := v.(string)
		switch {
		case v == nil:
			return []string{"<None>"}
		case o.Name == "transport_url":
			return []string{credmask.URL(s)}
		case s == "":
			return []string{""}
		}
		return []string{"****"}
	}
	if vals, ok := v.([]string); ok && o.Kind == KindMulti {
		out := make([]string, len(vals))
		for i, s := range vals {
			out[i] = formatValue(s)
		}
		return out
	}
	return []string{formatValue(v)}
}
