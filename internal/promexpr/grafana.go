package promexpr

import (
	"regexp"
	"strings"
)

var (
	// grafanaVariable is a dashboard variable: $name or ${name}.
	grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)
	// labelValues is a Grafana variable query: label_values(selector, label).
	labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*\w+\s*\)\s*$`)
)

// FromGrafana returns the PromQL expression a Grafana query stands for:
// the selector of a label_values(selector, label) variable query, and
// Grafana's variables replaced with values PromQL accepts (a duration for
// $__rate_interval and the other interval variables, a regular expression
// that matches anything for the rest, which stand in label matchers).
func FromGrafana(query string) string {
	if m := labelValues.FindStringSubmatch(query); m != nil {
		query = m[1]
	}
	return grafanaVariable.ReplaceAllStringFunc(query, func(v string) string {
		if strings.HasPrefix(strings.Trim(v, "${}"), "__") {
			return "5m"
		}
		return ".*"
	})
}
