package conf

import (
	"slices"
	"strings"
)

// maxExpanded bounds a value after interpolation: references that double at each step ($a = $b$b, $b = $c$c, ...)
// would otherwise grow it exponentially.
const maxExpanded = 1 << 20

// substitute expands `$name`, `${name}`, `$group.name` and `${group.name}` in s as oslo.config's string.Template
// does: `$$` (or `\$`) is a literal "$", a "$" not followed by a name is kept, a bare name is looked up in the
// option's own group and then in [DEFAULT], and a name that is no option is an error. loc is where s was written (nil
// for a default).
func (r *resolver) substitute(s string, o *Option, loc *Location) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	s = strings.ReplaceAll(s, `\$`, "$$")
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i += 2
			continue
		case strings.HasPrefix(rest, "{"):
			n := idLen(rest[1:])
			if n > 0 && n+1 < len(rest) && rest[n+1] == '}' {
				v, err := r.reference(rest[1:n+1], "${"+rest[1:n+1]+"}", o, loc)
				if err != nil {
					return "", err
				}
				if b.Len()+len(v) > maxExpanded {
					return "", r.refError(o, loc, "value is longer than 1 MiB after interpolation")
				}
				b.WriteString(v)
				i += n + 3
				continue
			}
		default:
			if n := idLen(rest); n > 0 {
				v, err := r.reference(rest[:n], "$"+rest[:n], o, loc)
				if err != nil {
					return "", err
				}
				if b.Len()+len(v) > maxExpanded {
					return "", r.refError(o, loc, "value is longer than 1 MiB after interpolation")
				}
				b.WriteString(v)
				i += n + 1
				continue
			}
		}
		b.WriteByte('$')
		i++
	}
	return b.String(), nil
}

// idLen is the length of the identifier at the start of s: [_a-z][._a-z0-9]* in any case (oslo's idpattern, matched
// case-insensitively as string.Template does).
func idLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n] | 0x20 // ASCII lower case; digits, '.' and '_' are not letters so only the test below matters
		ok := (c >= 'a' && c <= 'z') || s[n] == '_'
		if n > 0 {
			ok = ok || (s[n] >= '0' && s[n] <= '9') || s[n] == '.'
		}
		if !ok {
			break
		}
		n++
	}
	return n
}

// reference resolves one referenced option to the text oslo would insert (Python's str() of its value).
func (r *resolver) reference(key, written string, o *Option, loc *Location) (string, error) {
	target, reason := r.lookupRef(key, o.Group)
	if o.Secret {
		written = "in a secret value" // the reference text is part of the secret; keep it out of logs
	}
	if target == nil {
		return "", r.refError(o, loc, "reference "+written+": "+reason)
	}
	if r.active[target] {
		if loc == nil {
			// Point at a file value inside the loop when there is one: that is the line to fix.
			for _, s := range r.cycleMembers(target) {
				if l, ok := r.where[s]; ok {
					return "", locError(l, r.cycleText(target, s))
				}
			}
		}
		return "", r.refError(o, loc, r.cycleText(target, o))
	}
	res, err := r.resolve(target)
	if err != nil {
		return "", err
	}
	return pyStr(res.value), nil
}

// lookupRef finds the option a reference names. A dotted name is group.option (the group spelt exactly as declared;
// DEFAULT allowed); a bare name is looked up in the referring option's group, then in [DEFAULT]; deprecated names
// count, as in oslo's _get_opt_info.
func (r *resolver) lookupRef(key, group string) (*Option, string) {
	find := func(n Name) *Option {
		if o := r.ix.byName[n]; o != nil {
			return o
		}
		return r.ix.byDeprecated[n]
	}
	if g, name, dotted := strings.Cut(key, "."); dotted {
		if !r.ix.groups[g] {
			return nil, "no such group [" + g + "] (write $$ for a literal $)"
		}
		if t := find(Name{g, name}); t != nil {
			return t, ""
		}
		return nil, "no option " + name + " in [" + g + "] (write $$ for a literal $)"
	}
	if t := find(Name{group, key}); t != nil {
		return t, ""
	}
	if t := find(Name{"DEFAULT", key}); t != nil {
		return t, ""
	}
	return nil, "no such option (write $$ for a literal $)"
}

func (r *resolver) refError(o *Option, loc *Location, reason string) error {
	if loc == nil {
		return &Error{Group: o.Group, Option: o.Name, Reason: "default value: " + reason}
	}
	return locError(*loc, reason)
}

// cycle reports a reference back to an option still being resolved.
func (r *resolver) cycle(o *Option) error {
	return &Error{Group: o.Group, Option: o.Name, Reason: r.cycleText(o, o)}
}

// cycleMembers are the options of the loop that closes at target, in resolution order starting with target.
func (r *resolver) cycleMembers(target *Option) []*Option {
	for i, s := range r.stack {
		if s == target {
			return r.stack[i:]
		}
	}
	return nil
}

// cycleText spells the loop that closes at target, starting (and ending) at start, which is one of its members.
func (r *resolver) cycleText(target, start *Option) string {
	members := r.cycleMembers(target)
	i := max(0, slices.Index(members, start))
	members = append(append(slices.Clone(members[i:]), members[:i]...), start)
	parts := make([]string, len(members))
	for j, s := range members {
		parts[j] = "[" + s.Group + "] " + s.Name
	}
	return "cyclic reference: " + strings.Join(parts, " -> ")
}
