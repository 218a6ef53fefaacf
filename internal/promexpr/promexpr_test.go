package promexpr

import (
	"errors"
	"reflect"
	"testing"
)

func sel(metric string, labels ...string) Selector {
	if labels == nil {
		labels = []string{}
	}
	return Selector{Metric: metric, Labels: labels}
}

func TestSelectors(t *testing.T) {
	for expr, want := range map[string][]Selector{
		`up`:                                {sel("up")},
		`up{job="hearth"} == 0`:             {sel("up", "job")},
		`rate(a_total{result="error"}[5m])`: {sel("a_total", "result")},
		// Aggregations, grouping and vector matching: label lists are not metrics.
		`sum by (instance, job) (rate(a[1m])) / ignoring (x) group_left (y) b`: {sel("a"), sel("b")},
		`sum(rate(a[1m])) without (result)`:                                    {sel("a")},
		`count(a > 0) / on() group_right count(b)`:                             {sel("a"), sel("b")},
		`a and on (job) b or c unless d`:                                       {sel("a"), sel("b"), sel("c"), sel("d")},
		`count(a) > bool 1`:                                                    {sel("a")},
		// Functions with numbers, strings and nested selectors.
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket{operation=~"Get|Update"}[5m])))`: {sel("h_bucket", "operation")},
		`label_replace(a, "dst", "$1{x}", "src", "(.*)")`:                                     {sel("a")},
		`topk(3, a) + quantile_over_time(0.9, b[5m:1m]) - 1e3 * c offset 1h30m`:               {sel("a"), sel("b"), sel("c")},
		`a @ start() + b @ 100`: {sel("a"), sel("b")},
		`-a + .5`:               {sel("a")},
		`changes(process_start_time_seconds[30m])`: {sel("process_start_time_seconds")},
		// Matchers: sorted and deduplicated; __name__= names the metric.
		`a{z="1", b!="2", b!~"3",}`:            {sel("a", "b", "z")},
		`{__name__="n", job="j"}`:              {sel("n", "job")},
		`{"quoted.name", job="j"}`:             {sel("quoted.name", "job")},
		`{__name__=~"n.*"}`:                    {sel("", "__name__")},
		`a{x='single \' quote', y=` + "`raw`}": {sel("a", "x", "y")},
		// Comments and line breaks, as in a rule file.
		"sum(a) # a comment with b{x=\"y\"}\n  / sum(c)": {sel("a"), sel("c")},
		`1 + 2`: nil,
	} {
		got, err := Selectors(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", expr, got, want)
		}
	}
}

func TestSelectorsRefusesWhatItCannotRead(t *testing.T) {
	for _, expr := range []string{
		`a{x="1"`,
		`a{x="1}`,
		`a{x 1}`,
		`a{x="1", =}`,
		`rate(a[5m)`,
		`sum by (x (a)`,
		`a}`,
		`a{"m1", "m2"}`,
		"a{x=\"line\nbreak\"}",
	} {
		if got, err := Selectors(expr); !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: got %v, %v; want ErrSyntax", expr, got, err)
		}
	}
}

func TestFromGrafana(t *testing.T) {
	for query, want := range map[string]string{
		`rate(a{instance=~"$instance"}[$__rate_interval])`: `rate(a{instance=~".*"}[5m])`,
		`sum(a{job="${job}"}[${__interval}])`:              `sum(a{job=".*"}[5m])`,
		`label_values(hearth_profiles_loaded, instance)`:   `hearth_profiles_loaded`,
		` label_values(up{job="x"},instance) `:             `up{job="x"}`,
		`up`:                                               `up`,
	} {
		if got := FromGrafana(query); got != want {
			t.Errorf("%s: got %s, want %s", query, got, want)
		}
	}
}
