package conf

import (
	"fmt"
	"reflect"
	"sync"
)

// fieldPaths maps every option to the index path of its field in Config, from the `group` and `opt` struct tags.
var fieldPaths = sync.OnceValues(func() (map[Name][]int, error) {
	paths := map[Name][]int{}
	ct := reflect.TypeFor[Config]()
	for i := 0; i < ct.NumField(); i++ {
		f := ct.Field(i)
		g, ok := f.Tag.Lookup("group")
		if !ok {
			continue
		}
		if err := collectFields(g, f.Type, []int{i}, paths); err != nil {
			return nil, err
		}
	}
	ix := optionIndex()
	for _, o := range registry() {
		p, ok := paths[Name{o.Group, o.Name}]
		if !ok {
			return nil, fmt.Errorf("conf: option [%s] %s has no field in Config", o.Group, o.Name)
		}
		ft := ct.FieldByIndex(p).Type
		if want := goType(o); ft != want {
			return nil, fmt.Errorf("conf: field for [%s] %s is %v, want %v", o.Group, o.Name, ft, want)
		}
	}
	for n := range paths {
		if _, ok := ix.byName[n]; !ok {
			return nil, fmt.Errorf("conf: Config field for [%s] %s has no option", n.Group, n.Name)
		}
	}
	return paths, nil
})

func collectFields(group string, t reflect.Type, prefix []int, paths map[Name][]int) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		p := append(append([]int(nil), prefix...), i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := collectFields(group, f.Type, p, paths); err != nil {
				return err
			}
			continue
		}
		name, ok := f.Tag.Lookup("opt")
		if !ok {
			continue
		}
		n := Name{group, name}
		if _, dup := paths[n]; dup {
			return fmt.Errorf("conf: two Config fields for [%s] %s", group, name)
		}
		paths[n] = p
	}
	return nil
}

// goType is the Go type of an option's field.
func goType(o *Option) reflect.Type {
	switch o.Kind {
	case KindInt, KindPort:
		if o.nullable() {
			return reflect.TypeFor[*int]()
		}
		return reflect.TypeFor[int]()
	case KindFloat:
		if o.nullable() {
			return reflect.TypeFor[*float64]()
		}
		return reflect.TypeFor[float64]()
	case KindBool:
		return reflect.TypeFor[bool]()
	case KindList, KindMulti:
		return reflect.TypeFor[[]string]()
	case KindIntList:
		return reflect.TypeFor[[]int]()
	case KindDict:
		return reflect.TypeFor[map[string]string]()
	}
	return reflect.TypeFor[string]()
}

// bind copies the resolved values into the typed group structs.
func bind(cfg *Config) error {
	paths, err := fieldPaths()
	if err != nil {
		return err
	}
	root := reflect.ValueOf(cfg).Elem()
	for _, o := range registry() {
		res := cfg.values[Name{o.Group, o.Name}]
		if res == nil || res.value == nil {
			continue
		}
		f := root.FieldByIndex(paths[Name{o.Group, o.Name}])
		v := reflect.ValueOf(res.value)
		target := f.Type()
		if target.Kind() == reflect.Pointer {
			target = target.Elem()
		}
		if !v.Type().AssignableTo(target) {
			return fmt.Errorf("conf: value of [%s] %s is %v, field is %v", o.Group, o.Name, v.Type(), f.Type())
		}
		if f.Kind() == reflect.Pointer {
			p := reflect.New(target)
			p.Elem().Set(v)
			v = p
		}
		f.Set(v)
	}
	return nil
}
