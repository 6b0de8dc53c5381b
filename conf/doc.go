// Package conf reads the oslo.config files operators already have for nova-compute (nova.conf) with oslo.config's
// semantics: the same file precedence, INI dialect, option types, `$option` interpolation and deprecated names, and
// the defaults of Nova 2026.1 (oslo.messaging 18.3, oslo.config 10.7, keystoneauth1) for every option it declares.
//
// Every option is declared once in a data-driven registry (opts_*.go: name, group, type, default, help, bounds,
// choices, secret flag, deprecated names). Load resolves the registry against the files into a Config whose group
// structs carry typed fields; the same registry drives WriteSample and WriteShow.
//
// Semantics are read from oslo_config/cfg.py, iniparser.py, types.py and generator.py. Deliberate differences:
// a UTF-8 byte-order mark is skipped, a file that is not valid UTF-8 is refused with a located error (oslo crashes),
// an empty value for a number option that has a default keeps the default (oslo yields None, which Nova does not
// expect), and `${DEFAULT.name}` is accepted in references.
package conf
